"""The box's fixed vocabularies: kinds, categories, channels, states, findings."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

KINDS = {
    "complaint": _l("Complaint or report"),
    "suggestion": _l("Suggestion"),
    "praise": _l("Praise"),
}

# The ten areas of the bureau's rectification plan, the three disorders, and "other".
CATEGORIES = {
    "conduct": _l("School-running conduct"),
    "teaching": _l("Teaching management"),
    "moral": _l("Moral education"),
    "fees": _l("Fees"),
    "staffing": _l("Teacher management"),
    "ethics": _l("Teacher ethics"),
    "logistics": _l("Logistics"),
    "facilities": _l("Facilities"),
    "safety": _l("Safety"),
    "office": _l("Office management"),
    "arbitrary_fees": _l("Arbitrary fees"),
    "paid_tutoring": _l("Paid tutoring by serving teachers"),
    "materials": _l("Pushing supplementary materials"),
    "other": _l("Other"),
}
THREE_DISORDERS = ("arbitrary_fees", "paid_tutoring", "materials")

CHANNELS = {
    "online": _l("Online form"),
    "paper_box": _l("Paper opinion box"),
    "hotline": _l("Hotline"),
    "letter": _l("Letter"),
    "sms": _l("Text message"),
    "visit": _l("Visit in person"),
    "forum": _l("Forum or symposium"),
    "reception_day": _l("Reception day"),
    "home_visit": _l("Home visit"),
}
STAFF_CHANNELS = {key: label for key, label in CHANNELS.items() if key != "online"}

RECEIVED, ACCEPTED, VERIFYING, HANDLING = "received", "accepted", "verifying", "handling"
ANSWERED, CLOSED, NOT_ACCEPTED = "answered", "closed", "not_accepted"
STATUSES = {
    RECEIVED: _l("Received"),
    ACCEPTED: _l("Accepted"),
    VERIFYING: _l("Verifying"),
    HANDLING: _l("Handling"),
    ANSWERED: _l("Answered"),
    CLOSED: _l("Closed"),
    NOT_ACCEPTED: _l("Not accepted"),
}
OPEN_STATUSES = (RECEIVED, ACCEPTED, VERIFYING, HANDLING)

FINDINGS = {
    "substantiated": _l("Substantiated"),
    "partly": _l("Partly substantiated"),
    "unsubstantiated": _l("Not substantiated"),
}
SUBSTANTIATED = ("substantiated", "partly")

REJECTION_REASONS = {
    "duplicate": _l("Duplicate of another case"),
    "out_of_scope": _l("Outside the school's responsibility"),
    "abusive": _l("Abusive or without content"),
}

REWARD_STATUSES = {"eligible": _l("Reward due"), "paid": _l("Reward paid")}

ACTIONS = {
    "submitted": _l("Sent through the online box"),
    "entered": _l("Entered by staff"),
    "accepted": _l("Accepted; a person in charge was assigned"),
    "reassigned": _l("Person in charge changed"),
    "not_accepted": _l("Not accepted"),
    "verifying": _l("Verification started"),
    "handling": _l("Handling started"),
    "findings": _l("Findings recorded"),
    "answered": _l("Answered"),
    "closed": _l("Closed"),
    "information": _l("Further information from the complainant"),
    "satisfied": _l("The complainant is satisfied"),
    "dissatisfied": _l("The complainant is not satisfied; reopened"),
    "urged": _l("Urged by the bureau"),
    "instruction": _l("Instruction from a bureau leader"),
    "taken_over": _l("Taken over by the bureau"),
    "note": _l("Internal note"),
    "reward": _l("Reporting reward"),
}
