"""The umbrella view: a fixed number of queries, school types, a city's roll-up, the export."""

from __future__ import annotations

import io
import re

import pytest
import sqlalchemy as sa
from benchmarks.umbrella_data import FEW, build_county
from conftest import login, password_hash
from openpyxl import load_workbook
from umbrella_page import get_counting

from kaimen import Trend
from kaimen.classes import SchoolClass, SchoolYear
from kaimen.extensions import db
from kaimen.orgs import SCHOOL, Organisation
from kaimen.timeutil import local_date
from kaimen.web import trends

EN = {"Accept-Language": "en"}


def add_schools(county, count, prefix):
    db.session.execute(sa.insert(Organisation), [
        {"kind": SCHOOL, "slug": f"{prefix}-{i:04d}", "name": f"学校{i}", "parent_id": county.a.id,
         "timezone": "Asia/Shanghai", "default_locale": "zh_Hans"}
        for i in range(count)])
    db.session.commit()


def count_queries(client, url):
    response, statements = get_counting(client, url, EN)
    return len(statements), response


def test_the_query_count_is_the_same_for_10_and_1000_schools(client, ctx):
    """Every plugin's figures over 10 and 1,000 schools with their rows (few per school:
    ``make bench`` times the full volumes), bulk-inserted as the benchmark builds them."""
    for slug, size in (("q10", 10), ("q1000", 1000)):
        made = build_county(slug, size, FEW, password_hash=password_hash())
        assert made["cases"] == size * FEW.cases
        assert made["liaison_visits"] == size
    login(client, "q10.supervisor")
    ten, page = count_queries(client, "/b/q10/")
    assert page.text.count('<th scope="row"><a href="/s/') == 10
    client.post("/logout")
    login(client, "q1000.supervisor")
    thousand, page = count_queries(client, "/b/q1000/")
    assert page.text.count('<th scope="row"><a href="/s/') == 1000
    # figures, not blanks (the cell links to the school's row of the home-visit figures)
    assert re.search(r'data-metric="Home visits this term">(<a [^>]+>)?50%(</a>)?</td>', page.text)
    assert thousand == ten
    exported, _response = count_queries(client, "/b/q1000/export?format=xlsx")
    assert exported <= ten


def add_classes(school, year, grades):
    for grade in grades:
        db.session.add(SchoolClass(school_id=school.id, school_year_id=year.id, grade=grade,
                                   name=f"{grade}-1"))


def this_year(bureau):
    """Add ``bureau``'s school year under way: this calendar year."""
    today = local_date(bureau)
    year = SchoolYear(bureau_id=bureau.id, name="this", starts_on=today.replace(month=1, day=1),
                      ends_on=today.replace(month=12, day=31))
    db.session.add(year)
    db.session.flush()
    return year


def test_schools_are_filtered_by_type_from_the_grades_they_teach(client, county, ctx):
    year = this_year(county.a)
    add_classes(county.a1, year, [1, 6])
    add_classes(county.a2, year, [7, 9])
    db.session.commit()
    login(client, "a.supervisor")
    page = client.get("/b/county-a/", headers=EN).text
    assert '<option value="primary">Primary school</option>' in page
    page = client.get("/b/county-a/?type=junior", headers=EN).text
    assert re.findall(r'<th scope="row"><a href="/s/([^/]+)/(?:desk/)?">', page) == ["a2"]
    assert "Show all schools" in page


def test_a_city_filters_by_type_from_the_grades_of_its_counties_years(client, county, ctx):
    """A school's classes belong to its county's school year, not the city's."""
    year = this_year(county.a)
    add_classes(county.a1, year, [10, 12])
    db.session.commit()
    login(client, "city.supervisor")
    page = client.get("/b/city/", headers=EN).text
    assert '<option value="senior">Senior secondary school</option>' in page
    page = client.get("/b/city/?type=senior", headers=EN).text
    assert re.findall(r'<th scope="row"><a href="/s/([^/]+)/(?:desk/)?">', page) == ["a1"]


def test_a_city_bureau_sees_its_counties_and_drills_down(client, county, ctx):
    login(client, "city.supervisor")
    page = client.get("/b/city/", headers=EN).text
    assert 'id="counties"' in page
    assert '<a href="/b/county-a/">' in page
    assert client.get("/b/county-a/", headers=EN).status_code == 200
    login(client, "a.supervisor")
    assert 'id="counties"' not in client.get("/b/county-a/", headers=EN).text


@pytest.mark.parametrize("fmt", ["xlsx", "csv"])
def test_the_export_is_refused_to_strangers_and_answers_both_formats(client, county, fmt):
    login(client, "b.supervisor")
    assert client.get(f"/b/county-a/export?format={fmt}").status_code == 404
    login(client, "a.supervisor")
    response = client.get(f"/b/county-a/export?format={fmt}")
    assert response.status_code == 200
    assert client.get("/b/county-a/export?format=pdf").status_code == 404
    if fmt == "xlsx":
        sheet = load_workbook(io.BytesIO(response.data)).active
        assert [row[0] for row in sheet.iter_rows(min_row=2, values_only=True)][:2] == [
            "a1学校", "a2学校"]


def test_months_and_bars_are_laid_out_from_the_figures(county, ctx):
    months = trends.last_months(county.a)
    assert len(months) == 12
    assert months[-1] == local_date(county.a).replace(day=1)
    assert all(a < b for a, b in zip(months, months[1:], strict=False))
    chart = trends.layout(Trend("t", months, [0] * 11 + [7]))
    assert chart.top == 10
    assert [bar.height for bar in chart.bars[:11]] == [0] * 11
    last = chart.bars[-1]
    assert last.y + last.height == chart.baseline
    assert round(last.height / (chart.baseline - 12), 2) == 0.7


@pytest.mark.parametrize("username", ["a.supervisor", "a.admin", "a.leader", "city.supervisor"])
def test_school_names_open_the_school_desk_for_bureau_staff_who_may(client, county, username):
    login(client, username)
    page = client.get("/b/county-a/", headers=EN).text
    assert re.findall(r'<th scope="row"><a href="(/s/[^"]+)">', page) == [
        "/s/a1/desk/", "/s/a2/desk/"]
    desk = client.get("/s/a1/desk/", headers=EN)
    assert desk.status_code == 200
    assert "What waits for you at a1学校" in desk.text


def test_school_names_stay_public_links_for_those_without_a_desk(client, county):
    login(client, "a.unit")
    page = client.get("/b/county-a/", headers=EN).text
    assert re.findall(r'<th scope="row"><a href="(/s/[^"]+)">', page) == ["/s/a1/", "/s/a2/"]
    assert client.get("/s/a1/desk/").status_code == 403
    login(client, "b.supervisor")
    assert client.get("/s/a1/desk/").status_code == 404


def test_a_school_of_ones_own_opens_its_desk_from_a_bureau_view(client, county, ctx):
    from kaimen.auth.access import schools_where

    unit = county.users["a.unit"]
    assert schools_where(unit, "school.desk", [county.a1, county.a2]) == set()
    county.users["a1.admin"].grants  # noqa: B018 - loaded
    assert schools_where(county.users["a1.admin"], "school.desk",
                         [county.a1, county.a2, county.b1]) == {county.a1.id}
    assert schools_where(county.users["city.supervisor"], "school.desk",
                         [county.a1, county.b1]) == {county.a1.id}


def test_the_rows_escape_every_text_and_quote_slugs_as_url_for_does(app, county, ctx):
    """The rows are built in Python, not by the template: its escaping must hold there too."""
    from flask import url_for

    from kaimen import MetricTable
    from kaimen.web import umbrella

    county.a1.slug, county.a1.name = "a1 ä", 'a1 <b>"学校"</b>'
    table = MetricTable(title='Notices "<i>"', columns=["Text", "Number", "Linked"],
                        rows={county.a1.id: ["<script>x</script>", 7, 3]},
                        links={2: lambda school: f"/list?a=1&school={school.id}"})
    shown = [umbrella.Shown.of(school, "zh_Hans") for school in (county.a1, county.a2)]
    view = umbrella.Umbrella(shown, [table], [], {}, sort=0,
                             descending=False, mine={county.a1.id}, desks={county.a1.id})
    with app.test_request_context("/b/county-a/"):
        html = str(umbrella.table_rows(view))
        desk = url_for("core.school_desk", school=county.a1.slug)
        public_page = url_for("core.school_home", school=county.a2.slug)
    first, second = html.split("</tr>")[:2]
    assert first.startswith(
        f'<tr class="mine"><th scope="row"><a href="{desk}">'
        "a1 &lt;b&gt;&#34;学校&#34;&lt;/b&gt;</a> <span class=\"badge\">")
    assert "%C3%A4" in desk
    opening = '<td data-metric="Notices &#34;&lt;i&gt;&#34;">'
    assert first.endswith(
        f"{opening}&lt;script&gt;x&lt;/script&gt;</td>{opening}7</td>"
        f'{opening}<a href="/list?a=1&amp;school={county.a1.id}">3</a></td>')
    assert second == (f'\n<tr><th scope="row"><a href="{public_page}">{county.a2.name}</a></th>\n'
                      + f"{opening}</td>" * 3)


def test_a_row_without_links_keeps_braces_and_escapes_its_words(app, county, ctx):
    """A table without links: a title's braces stay text, words are escaped, a short row
    gives only the cells it has."""
    from kaimen import MetricTable
    from kaimen.web import umbrella

    table = MetricTable(title="Figures {0} {year}", columns=["Words", "Number"],
                        rows={county.a1.id: ["{1} <b>", 12], county.a2.id: ["only"]})
    shown = [umbrella.Shown.of(school, "zh_Hans") for school in (county.a1, county.a2)]
    view = umbrella.Umbrella(shown, [table], [], {}, sort=0, descending=False)
    with app.test_request_context("/b/county-a/"):
        html = str(umbrella.table_rows(view))
    opening = '<td data-metric="Figures {0} {year}">'
    first, second = html.split("</tr>")[:2]
    assert first.endswith(f"</th>\n{opening}{{1}} &lt;b&gt;</td>{opening}12</td>")
    assert second.endswith(f"</th>\n{opening}only</td>")
