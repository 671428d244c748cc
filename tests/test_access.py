"""Every view carries exactly one access check, and every id in a URL is typed."""

from werkzeug.routing import IntegerConverter

from kaimen.auth.access import access_markers


def test_every_view_has_exactly_one_access_check(app):
    problems = []
    for endpoint, view in app.view_functions.items():
        if endpoint == "static" or endpoint.endswith(".static"):
            continue
        markers = access_markers(view)
        if len(markers) != 1:
            problems.append(f"{endpoint}: {markers or 'no access check'}")
    assert not problems, (
        "views need exactly one of @public, @login_required, @require(...):\n" + "\n".join(problems)
    )


def test_ids_in_urls_are_integers(app):
    untyped = [
        f"{rule.rule} <{name}>"
        for rule in app.url_map.iter_rules()
        for name, converter in rule._converters.items()
        if name.endswith("_id") and not isinstance(converter, IntegerConverter)
    ]
    assert not untyped, untyped


def test_org_pages_live_under_their_prefix(app):
    for rule in app.url_map.iter_rules():
        if "school" in rule.arguments:
            assert rule.rule.startswith("/s/<school>/"), rule.rule
        if "bureau" in rule.arguments:
            assert rule.rule.startswith("/b/<bureau>/"), rule.rule
