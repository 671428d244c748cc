"""The proof of filing: a PDF for in-app browsers that cannot print, the code never in a URL."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from .helpers import receipt_code

DESCRIPTION = "三年级二班班主任要求每位学生交200元资料费，没有收据。" * 3


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is missing: install poppler-utils (.ci/run does)")
    return path


def test_receipt_offers_a_pdf_proof_with_the_description(client, county, submit, tmp_path):
    response = submit(description=DESCRIPTION)
    page = response.get_data(as_text=True)
    code = receipt_code(response)
    assert DESCRIPTION in page  # the description is on the proof
    assert "截图保存" in page
    assert page.count('class="code-group"') == 5  # groups wrap whole
    action = re.search(r'<form method="post" action="([^"]+)" class="proof-download">', page)
    assert action, "the receipt offers the PDF"
    assert action.group(1) == "/s/a1/complaints/proof.pdf"
    assert code not in action.group(1)
    pdf = client.post(action.group(1), data={"code": code.lower().replace("-", " ")})
    assert pdf.status_code == 200
    assert pdf.mimetype == "application/pdf"
    assert pdf.headers["Cache-Control"] == "no-store"
    assert code not in pdf.headers["Content-Disposition"]
    assert pdf.data.startswith(b"%PDF")
    path = tmp_path / "proof.pdf"
    path.write_bytes(pdf.data)
    text = subprocess.run([_tool("pdftotext"), "-layout", str(path), "-"], check=True,
                          capture_output=True, text=True).stdout
    assert code in text
    assert "班级收取资料费" in text
    assert "三年级二班班主任要求每位学生交200元资料费" in text
    assert "a1学校" in text
    subprocess.run([_tool("pdftoppm"), "-png", "-r", "50", "-singlefile", str(path),
                    str(tmp_path / "proof")], check=True)
    image = Path(tmp_path / "proof.png")
    assert image.stat().st_size > 2000  # a page with text on it, not an empty sheet


def test_pdf_proof_needs_a_code_of_this_school(client, county, submit):
    code = receipt_code(submit())
    assert client.post("/s/a1/complaints/proof.pdf", data={"code": "AAAA-BBBB"}).status_code == 404
    assert client.post("/s/a2/complaints/proof.pdf", data={"code": code}).status_code == 404
    assert client.post("/s/a1/complaints/proof.pdf").status_code == 404
    assert client.get("/s/a1/complaints/proof.pdf").status_code == 405
