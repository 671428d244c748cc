"""The rules without a request: working days, the state machine, four not let go."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from blueprints.complaints import deadlines, queries, services
from blueprints.complaints.models import Complaint, ComplaintSettings, Holiday
from kaimen import local_date
from kaimen.extensions import db

from .helpers import file_case

# 2026-09-30 is a Wednesday; 1-7 October is the National Day holiday.
NATIONAL_DAY = {date(2026, 10, d) for d in range(1, 8)}


def test_working_days_skip_weekends():
    friday = date(2026, 9, 4)
    assert deadlines.add_working_days(friday, 1, set(), set()) == date(2026, 9, 7)
    assert deadlines.add_working_days(friday, 5, set(), set()) == date(2026, 9, 11)


def test_working_days_skip_holidays_and_count_worked_weekends():
    wednesday = date(2026, 9, 30)
    worked = {date(2026, 10, 10)}  # a Saturday worked in exchange
    assert deadlines.add_working_days(wednesday, 1, NATIONAL_DAY, set()) == date(2026, 10, 8)
    assert deadlines.add_working_days(wednesday, 3, NATIONAL_DAY, set()) == date(2026, 10, 12)
    assert deadlines.add_working_days(wednesday, 3, NATIONAL_DAY, worked) == date(2026, 10, 10)


def test_due_dates_use_the_bureaus_settings_and_holidays(ctx, county):
    # the national calendar: 1-7 October off, Saturday 10 October worked (调休)
    assert deadlines.due_dates(county.a, date(2026, 9, 30)) == (date(2026, 10, 9),
                                                                 date(2026, 10, 27))
    db.session.add(ComplaintSettings(bureau_id=county.a.id, acknowledge_days=1, answer_days=3))
    for day in NATIONAL_DAY:
        db.session.add(Holiday(bureau_id=county.a.id, day=day, name="国庆节"))
    db.session.flush()
    assert deadlines.due_dates(county.a, date(2026, 9, 30)) == (date(2026, 10, 8),
                                                                 date(2026, 10, 10))
    # another bureau keeps the defaults and its own calendar
    assert deadlines.due_dates(county.b, date(2026, 9, 30))[0] == date(2026, 10, 9)


def test_case_deadlines_follow_received_date(ctx, county):
    case, _code = file_case(county.a1, received_on=date(2026, 9, 4))
    assert case.ack_due == date(2026, 9, 8)
    assert case.answer_due == date(2026, 9, 24)  # 25 September is off, Sunday 20 worked
    assert services.is_overdue(case, date(2026, 9, 9))
    assert not services.is_overdue(case, date(2026, 9, 8))


def _walk_to(case, status, owner):
    steps = ["accepted", "verifying", "handling", "answered"]
    for step in steps[: steps.index(status) + 1]:
        if step == "accepted":
            services.accept(case, owner, owner)
        elif step == "answered":
            services.answer(case, "经核查，已退还全部费用。", owner)
        else:
            services.advance(case, step, owner)


def test_state_machine_refuses_skipping_steps(ctx, county):
    owner = county.users["a1.admin"]
    case, _code = file_case(county.a1)
    with pytest.raises(services.WorkflowError):
        services.advance(case, "handling", owner)
    with pytest.raises(services.WorkflowError):
        services.answer(case, "答复", owner)
    with pytest.raises(services.WorkflowError):
        services.close(case, owner)
    _walk_to(case, "answered", owner)
    assert case.status == "answered"
    assert case.owner is owner
    assert [e.action for e in case.events] == [
        "submitted", "accepted", "verifying", "handling", "answered"]
    with pytest.raises(services.WorkflowError):
        services.reject(case, "duplicate", "重复", owner)


def test_four_not_let_go_refuses_closing_until_all_four(ctx, county):
    owner = county.users["a1.admin"]
    case, _code = file_case(county.a1)
    _walk_to(case, "answered", owner)
    with pytest.raises(services.FourNotLetGo) as refusal:
        services.close(case, owner)
    assert len(refusal.value.missing) == 2  # facts and action; answer is there
    services.record_findings(case, "substantiated", "属实：收取资料费200元。", "全额退还。", "",
                             owner)
    with pytest.raises(services.FourNotLetGo) as refusal:
        services.close(case, owner)
    assert len(refusal.value.missing) == 1  # the correction of a substantiated case
    services.record_findings(case, "substantiated", "属实：收取资料费200元。", "全额退还。",
                             "对班主任批评教育，取消年度评优资格。", owner)
    services.close(case, owner)
    assert case.status == "closed"
    assert case.closed_at is not None


def test_unsubstantiated_case_closes_without_correction(ctx, county):
    owner = county.users["a1.admin"]
    case, _code = file_case(county.a1)
    _walk_to(case, "handling", owner)
    services.record_findings(case, "unsubstantiated", "经查无此事。", "向家长说明情况。", "", owner)
    services.answer(case, "经核查，反映情况不属实。", owner)
    services.close(case, owner)
    assert case.status == "closed"


def test_not_satisfied_reopens_and_flags(ctx, county):
    owner = county.users["a1.admin"]
    case, _code = file_case(county.a1)
    _walk_to(case, "answered", owner)
    services.feedback(case, False, "问题没有解决")
    assert case.status == "handling"
    assert case.flagged_for_bureau
    assert case.satisfied is False
    with pytest.raises(services.WorkflowError):
        services.feedback(case, True)


def test_rejected_case_reason_and_reward_rules(ctx, county):
    owner = county.users["a1.admin"]
    case, _code = file_case(county.a1)
    services.reject(case, "duplicate", "与第3号意见重复。", owner)
    assert case.status == "not_accepted"
    assert case.rejection_reason.startswith("duplicate")
    fees, _code = file_case(county.a1, category="arbitrary_fees")
    _walk_to(fees, "handling", owner)
    with pytest.raises(services.WorkflowError):
        services.mark_reward(fees, owner)
    services.record_findings(fees, "partly", "部分属实。", "退费。", "通报批评。", owner)
    services.mark_reward(fees, owner)
    services.record_reward_payment(fees, "500元", date(2026, 10, 1), owner)
    assert fees.reward_status == "paid"
    other, _code = file_case(county.a1, category="safety")
    _walk_to(other, "handling", owner)
    services.record_findings(other, "substantiated", "属实。", "整改。", "已整改。", owner)
    with pytest.raises(services.WorkflowError):
        services.mark_reward(other, owner)


def test_urge_and_take_over(ctx, county):
    owner, supervisor = county.users["a1.admin"], county.users["a.supervisor"]
    case, _code = file_case(county.a1)
    services.accept(case, owner, owner)
    new_due = local_date(county.a)
    services.urge(case, "请三日内答复。", new_due, supervisor)
    assert case.answer_due == new_due
    assert case.urged_count == 1
    services.take_over(case, supervisor)
    assert case.handled_by_bureau
    assert case.owner is supervisor
    with pytest.raises(services.WorkflowError):
        services.take_over(case, supervisor)


def test_urged_case_counts_from_its_new_deadline(ctx, county):
    received_on = local_date(county.a) - timedelta(days=40)
    case, _code = file_case(county.a1, received_on=received_on)
    today = local_date(county.a)
    assert services.is_overdue(case, today)  # not even acknowledged in time
    new_due = today + timedelta(days=3)
    services.urge(case, "请三日内答复。", new_due, county.users["a.supervisor"])
    db.session.flush()
    assert not services.is_overdue(case, today)
    overdue = db.session.scalar(sa.select(sa.func.count()).select_from(Complaint).where(
        Complaint.id == case.id, services.overdue_clause(today)))
    assert overdue == 0
    assert services.is_overdue(case, new_due + timedelta(days=1))


def test_national_holidays_and_working_weekends_come_from_the_calendar_library(ctx, county):
    wednesday = date(2026, 9, 30)
    # no table of the bureau's own: National Day is off, Saturday 10 October is worked
    assert deadlines.extend(county.a, wednesday, 2) == date(2026, 10, 9)
    assert deadlines.extend(county.a, wednesday, 3) == date(2026, 10, 10)
    # the bureau's table overrides: that Saturday is not worked here, and a Monday is off
    db.session.add(Holiday(bureau_id=county.a.id, day=date(2026, 10, 10), working=False))
    db.session.add(Holiday(bureau_id=county.a.id, day=date(2026, 10, 12), name="县庆"))
    db.session.flush()
    assert deadlines.extend(county.a, wednesday, 3) == date(2026, 10, 13)
    # and can turn a national day off into a working day
    db.session.add(Holiday(bureau_id=county.a.id, day=date(2026, 10, 7), working=True))
    db.session.flush()
    assert deadlines.extend(county.a, wednesday, 1) == date(2026, 10, 7)


def test_years_the_library_does_not_know_count_weekends_and_the_table():
    off, worked = deadlines.national_calendar(date(2099, 1, 1), date(2099, 1, 10))
    assert off == set()
    assert worked == set()



def test_the_case_hooks_leave_out_leadership_reports_and_other_schools(ctx, county):
    """What the rectification plans read through ``kaimen_complaint_cases``/``_choices``."""
    fees, _code = file_case(county.a1, subject="Fees")
    head, _code = file_case(county.a1, subject="The head", about_leadership=True)
    elsewhere, _code = file_case(county.a2, subject="Other school")
    fees.status = "closed"
    db.session.flush()
    every = [fees.id, head.id, elsewhere.id]
    found = queries.cases_by_id(county.a1, every)
    assert [(case_id, finished) for case_id, _s, _st, finished in found] == [(fees.id, True)]
    choices = [case_id for case_id, _subject in queries.case_choices(county.a1)]
    assert choices == [fees.id]
