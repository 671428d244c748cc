"""Forms as a screen reader and a phone see them: ARIA only where it applies, an error
summary that links to each field, "Error:" in the title, and second-precision times."""

from __future__ import annotations

import re
from datetime import datetime

from conftest import login

EN = {"Accept-Language": "en"}


def test_fields_without_errors_carry_no_none_attributes(client, county):
    for page in ("/login", "/track"):
        body = client.get(page, headers=EN).get_data(as_text=True)
        assert '="None"' not in body, page
        assert "aria-invalid" not in body
    assert "<title>Log in" in client.get("/login", headers=EN).get_data(as_text=True)


def test_a_form_with_errors_has_a_summary_linked_to_its_fields(client, county):
    response = client.post("/track", data={"code": ""}, headers=EN)
    body = response.get_data(as_text=True)
    assert re.search(r"<title>Error: [^<]*</title>", body)
    summary = re.search(r'<div class="error-summary"[^>]*data-autofocus[^>]*>(.*?)</div>',
                        body, re.S)
    assert summary is not None
    assert 'href="#code"' in summary.group(1)
    field = re.search(r'<input[^>]*id="code"[^>]*>', body).group(0)
    assert 'aria-invalid="true"' in field
    assert re.search(r'aria-describedby="[^"]*\bcode-error\b', field)
    assert 'id="code-error"' in body


def test_the_title_says_error_in_chinese_too(client, county):
    body = client.post("/track", data={"code": ""}, headers={"Accept-Language": "zh-CN"})
    assert "<title>错误：" in body.get_data(as_text=True)


def test_hints_are_tied_to_their_inputs(app, county):
    from flask import render_template_string
    from flask_wtf import FlaskForm
    from wtforms import StringField

    class Form(FlaskForm):
        phone = StringField("Phone")

    with app.test_request_context("/"):
        form = Form()
        html = render_template_string(
            '{% from "kaimen/macros.html" import field %}{{ field(form.phone, hint="Digits") }}',
            form=form)
    assert 'aria-describedby="phone-hint"' in html
    assert 'id="phone-hint"' in html
    assert "aria-invalid" not in html


def test_html_time_drops_fractions_of_a_second(app):
    html_time = app.jinja_env.filters["html_time"]
    assert html_time(datetime(2026, 12, 2, 8, 5, 9, 123456)) == "2026-12-02T08:05:09Z"


def test_staff_forms_too(client, county):
    login(client, "a1.admin")
    body = client.get("/s/a1/admin/", headers=EN).get_data(as_text=True)
    assert '="None"' not in body
