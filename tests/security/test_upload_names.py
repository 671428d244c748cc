"""A file's name is the sender's choice: it never breaks the database or a header."""

from __future__ import annotations

import pytest
from plugins.complaints.helpers import all_cases, form_token, opinion

from blueprints.complaints import services
from kaimen.extensions import db
from kaimen.tenancy import system_scope

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 16


def multipart(fields: dict[str, str], filename_param: bytes) -> bytes:
    body = b""
    for name, value in fields.items():
        body += (b'--XX\r\nContent-Disposition: form-data; name="' + name.encode()
                 + b'"\r\n\r\n' + value.encode() + b"\r\n")
    body += (b'--XX\r\nContent-Disposition: form-data; name="attachments"; '
             + filename_param + b"\r\nContent-Type: image/png\r\n\r\n" + PNG + b"\r\n--XX--\r\n")
    return body


@pytest.mark.parametrize("param", [
    b"filename*=UTF-8''evil%0D%0ASet-Cookie%3A%20x%3D1.png",
    b"filename*=UTF-8''nul%00byte.png",
    b"filename*=UTF-8''%E2%80%AEgnp.exe",
])
def test_control_characters_in_an_uploaded_name_are_dropped(ctx, county, client, as_user, param):
    data = multipart(opinion(token=form_token(client)), param)
    response = client.post("/s/a1/complaints/", data=data,
                           content_type="multipart/form-data; boundary=XX")
    assert response.status_code == 200
    (case,) = all_cases()
    (stored,) = case.attachments
    assert not any(ord(ch) < 32 or ch in "\u202e\x7f" for ch in stored.filename)
    staff = as_user("a1.admin")
    download = staff.get(f"/s/a1/complaints/cases/{case.id}/files/{stored.id}")
    assert download.status_code == 200
    disposition = download.headers["Content-Disposition"]
    assert disposition.startswith("attachment;")
    assert "Set-Cookie" not in download.headers


def test_a_stored_name_with_a_line_break_still_downloads(ctx, county, as_user):
    with system_scope():
        case, _code = services.file_case(county.a1, services.Submission(
            kind="complaint", category="fees", subject="食堂",
            description="本学期食堂每餐涨价两元。"),
            [services.Upload(filename='a\r\nb"c.png', content_type="image/png", content=PNG)])
        db.session.commit()
        case_id, file_id = case.id, case.attachments[0].id
    response = as_user("a1.admin").get(f"/s/a1/complaints/cases/{case_id}/files/{file_id}")
    assert response.status_code == 200
    assert "\n" not in response.headers["Content-Disposition"]


def test_safe_filename():
    from kaimen.uploads import safe_filename

    assert safe_filename("C:\\Users\\x\\照片 1.jpg") == "照片 1.jpg"
    assert safe_filename("a\r\nb\x00c\u2028.pdf") == "abc.pdf"
    assert safe_filename("\x00\x01") == "file"


def test_a_file_downloads_named_after_its_content_not_the_senders_extension(ctx, county,
                                                                             as_user):
    """A PNG sent as ``poly.html`` must not come back as a web page (issue 9, item 10)."""
    with system_scope():
        case, _code = services.file_case(county.a1, services.Submission(
            kind="complaint", category="fees", subject="食堂",
            description="本学期食堂每餐涨价两元。"),
            [services.Upload(filename="poly.html", content_type="image/png", content=PNG)])
        db.session.commit()
        case_id, file_id = case.id, case.attachments[0].id
    response = as_user("a1.admin").get(f"/s/a1/complaints/cases/{case_id}/files/{file_id}")
    assert response.status_code == 200
    disposition = response.headers["Content-Disposition"]
    assert "poly.png" in disposition
    assert ".html" not in disposition


@pytest.mark.parametrize(("name", "content_type", "expected"), [
    ("poly.html", "image/png", "poly.png"),
    ("证明.PDF", "application/pdf", "证明.pdf"),
    ("photo", "image/jpeg", "photo.jpg"),
    ("archive.tar.gz", "image/webp", "archive.tar.webp"),
    (".htaccess", "image/gif", ".htaccess.gif"),
    ("", "application/pdf", "file.pdf"),
])
def test_download_name_ends_as_the_content_is(name, content_type, expected):
    from kaimen.uploads import download_name

    assert download_name(name, content_type) == expected
