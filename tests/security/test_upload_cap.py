"""One anonymous submission uploads at most 15 MB in all; a far larger body is refused early."""

from __future__ import annotations

import io
from html import unescape

import pytest
from plugins.complaints.helpers import all_cases, form_token, opinion, receipt_code
from werkzeug.datastructures import FileStorage, MultiDict
from werkzeug.test import encode_multipart

from kaimen.uploads import MAX_BYTES, UploadError, read_uploads

EN = {"Accept-Language": "en"}
ZH = {"Accept-Language": "zh-CN"}
MB = 1024 * 1024
PNG = b"\x89PNG\r\n\x1a\n"
TOO_MUCH_EN = "The files together are larger than 15 MB. Send fewer or smaller files."
TOO_MUCH_ZH = "所有文件合计超过 15 MB，请少传几个或换用较小的文件。"


def photos(count: int, size: int) -> list[FileStorage]:
    return [FileStorage(io.BytesIO(PNG + b"\x00" * (size - len(PNG))), f"photo{n}.png")
            for n in range(count)]


def send(client, files, headers):
    data = MultiDict(opinion(token=form_token(client), subject="操场边的围栏坏了"))
    for storage in files:
        data.add("attachments", storage)
    # Encoded in memory: the test client would spool a large body to an unclosed temp file.
    boundary, body = encode_multipart(data)
    return client.post("/s/a1/complaints/", data=body, headers=headers,
                       content_type=f"multipart/form-data; boundary={boundary}")


def test_the_form_states_the_total_in_both_languages(client, county):
    english = unescape(client.get("/s/a1/complaints/", headers=EN).get_data(as_text=True))
    assert "at most 5 MB each and 15 MB in all" in english
    chinese = unescape(client.get("/s/a1/complaints/", headers=ZH).get_data(as_text=True))
    assert "每个不超过 5 MB，合计不超过 15 MB" in chinese


@pytest.mark.parametrize(("headers", "message"), [(EN, TOO_MUCH_EN), (ZH, TOO_MUCH_ZH)])
def test_more_than_the_total_is_refused_and_the_form_kept(ctx, client, county, headers,
                                                          message):
    # four files within the 5 MB each, 18 MB together: under the body limit, over the total
    response = send(client, photos(4, MAX_BYTES - 512 * 1024), headers)
    assert response.status_code == 200
    page = unescape(response.get_data(as_text=True))
    assert message in page
    assert "receipt-code" not in page
    assert 'value="操场边的围栏坏了"' in page  # what was typed comes back
    assert "没有收据" in page
    assert all_cases() == []


def test_up_to_the_total_is_filed(ctx, client, county):
    response = send(client, photos(3, MAX_BYTES - 1024), EN)
    receipt_code(response)
    (case,) = all_cases()
    assert len(case.attachments) == 3


def test_the_total_is_a_setting(app, ctx, client, county):
    app.config["ANONYMOUS_UPLOAD_MB"] = 1
    page = unescape(client.get("/s/a1/complaints/", headers=EN).get_data(as_text=True))
    assert "at most 5 MB each and 1 MB in all" in page
    refused = send(client, photos(2, 600 * 1024), EN)
    assert "The files together are larger than 1 MB." in unescape(refused.get_data(as_text=True))
    assert all_cases() == []
    receipt_code(send(client, photos(1, 600 * 1024), EN))


def test_staff_evidence_is_not_held_to_the_anonymous_total(app):
    with app.app_context():
        assert len(read_uploads(photos(4, MAX_BYTES - 1024))) == 4
        with pytest.raises(UploadError):
            read_uploads(photos(4, MAX_BYTES - 1024), anonymous=True)


@pytest.mark.parametrize(("headers", "title"), [(EN, "Too large"), (ZH, "内容过大")])
def test_a_body_far_over_the_total_gets_the_translated_413_page(app, ctx, client, county,
                                                                headers, title):
    assert app.config["MAX_CONTENT_LENGTH"] <= 2 * app.config["ANONYMOUS_UPLOAD_MB"] * MB
    body = app.config["MAX_CONTENT_LENGTH"] + MB
    response = send(client, [FileStorage(io.BytesIO(PNG + b"\x00" * body), "huge.png")], headers)
    assert response.status_code == 413
    page = unescape(response.get_data(as_text=True))
    assert title in page
    assert "<html" in page
    assert all_cases() == []
