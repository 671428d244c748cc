"""Uploaded files, checked by their content, never by their name or declared type.

The complaint box's attachments and the rectification ledger's evidence go through
``read_uploads``: at most five files of at most 5 MB each, each a photo (JPEG, PNG,
GIF, WebP) or a PDF by its first bytes, and for an anonymous submission at most
``KAIMEN_ANONYMOUS_UPLOAD_MB`` (15 MB) in all; ``safe_filename`` keeps a sender's
name fit for a download header. A body larger than ``KAIMEN_MAX_UPLOAD_MB`` is
refused before it is read (413, a translated page).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from typing import Any

from flask import current_app
from flask_babel import lazy_gettext as _l

MAX_FILES = 5
MAX_BYTES = 5 * 1024 * 1024


@dataclass(frozen=True)
class Upload:
    """A checked file, ready to store."""

    filename: str
    content_type: str
    content: bytes


class UploadError(ValueError):
    """An upload refused, with a message for the sender."""

    def __init__(self, message: Any) -> None:
        super().__init__(message)
        self.message = message


def safe_filename(name: str) -> str:
    """Return ``name`` without folders and without control or line-breaking characters.

    A sender chooses the name (``filename*=UTF-8''a%0D%0Ab`` decodes to a line
    break): a NUL breaks PostgreSQL text and a line break breaks the download's
    Content-Disposition header.
    """
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    kept = "".join(ch for ch in name if unicodedata.category(ch) not in ("Cc", "Cf", "Zl", "Zp"))
    return kept.strip()[:200] or "file"


def sniff(head: bytes) -> str | None:
    """Return the MIME type of a JPEG, PNG, GIF, WebP or PDF by its first bytes, else None."""
    signatures = ((b"\xff\xd8\xff", "image/jpeg"), (b"\x89PNG\r\n\x1a\n", "image/png"),
                  (b"GIF87a", "image/gif"), (b"GIF89a", "image/gif"), (b"%PDF-", "application/pdf"))
    for signature, content_type in signatures:
        if head.startswith(signature):
            return content_type
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None


def anonymous_limit_mb() -> int:
    """Return how many MB one anonymous submission may upload in all (the form says so)."""
    return int(current_app.config["ANONYMOUS_UPLOAD_MB"])


def read_uploads(files: list[Any], *, anonymous: bool = False) -> list[Upload]:
    """Read and check the files of a form; raise ``UploadError`` naming the first bad one.

    ``anonymous``: the files of a submission by the public, held to
    ``anonymous_limit_mb()`` in all.
    """
    chosen = [f for f in files if f is not None and getattr(f, "filename", None)]
    if len(chosen) > MAX_FILES:
        raise UploadError(_l("Send at most %(count)d files.", count=MAX_FILES))
    total_mb = anonymous_limit_mb() if anonymous else None
    uploads, total = [], 0
    for storage in chosen:
        content = storage.stream.read(MAX_BYTES + 1)
        name = safe_filename(storage.filename)
        if len(content) > MAX_BYTES:
            raise UploadError(_l("%(name)s is larger than 5 MB.", name=name))
        if not content:
            raise UploadError(_l("%(name)s is empty.", name=name))
        content_type = sniff(content[:16])
        if content_type is None:
            raise UploadError(_l(
                "%(name)s is not a photo (JPEG, PNG, GIF, WebP) or a PDF document.", name=name))
        total += len(content)
        if total_mb is not None and total > total_mb * 1024 * 1024:
            raise UploadError(_l("The files together are larger than %(total)d MB. Send fewer "
                                 "or smaller files.", total=total_mb))
        uploads.append(Upload(filename=name, content_type=content_type, content=content))
    return uploads


EXTENSIONS = {
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/gif": ".gif",
    "image/webp": ".webp",
    "application/pdf": ".pdf",
}


def download_name(name: str, content_type: str) -> str:
    """Return the name a stored file is downloaded as: the sender's, ending as its content is.

    The sender chose the extension; the content was checked. A PNG sent as
    ``poly.html`` downloads as ``poly.png``, so nothing opens it as a web page.
    """
    safe = safe_filename(name)
    stem = safe.rsplit(".", 1)[0] if "." in safe.lstrip(".") else safe
    return (stem or "file") + EXTENSIONS.get(content_type, ".bin")
