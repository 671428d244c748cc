"""The message catalogues: complete, compiled, consistent, and in step with the source.

When one of these fails after you changed a user-visible string, run `make translations`,
translate what is new in translations/zh_Hans/LC_MESSAGES/messages.po (the en catalogue
repeats the msgid), run `make translations` again and commit the .pot, .po and .mo files.
"""

from __future__ import annotations

import io
import re
import shlex
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
TRANSLATIONS = ROOT / "translations"
TEMPLATE = TRANSLATIONS / "messages.pot"
LOCALES = ["zh_Hans", "en"]
PLACEHOLDER = re.compile(r"%\((\w+)\)[-#0 +]*(?:\*|\d+)?(?:\.(?:\*|\d+))?[diouxXeEfFgGcrsa]")
HINT = "Run `make translations`, translate what is new, and commit the .pot, .po and .mo files."


def po_path(locale: str) -> Path:
    return TRANSLATIONS / locale / "LC_MESSAGES" / "messages.po"


def load_po(path: Path, locale: str | None = None) -> Catalog:
    with path.open("rb") as handle:
        return read_po(handle, locale=locale)


def entries(catalog: Catalog) -> list[Message]:
    """Every message but the header."""
    return [message for message in catalog if message.id]


def key(message: Message) -> tuple[str | None, str | tuple[str, ...]]:
    msgid = message.id if isinstance(message.id, str) else tuple(message.id)
    return message.context, msgid


def strings(value: str | Iterable[str] | None) -> tuple[str, ...]:
    if value is None:
        return ("",)
    return (value,) if isinstance(value, str) else tuple(value)


def show(keys: Iterable[tuple[str | None, object]]) -> str:
    return "\n".join(
        f"  {msgid!r}" + (f" (context {context!r})" if context else "")
        for context, msgid in sorted(keys, key=repr)
    )


def report(title: str, sections: dict[str, set[tuple[str | None, object]]]) -> str:
    """A failure message: the title, then each non-empty section with its msgids, then the hint."""
    parts = [title]
    for heading, keys in sections.items():
        if keys:
            parts.append(f"{heading} ({len(keys)}):\n{show(keys)}")
    return "\n".join([*parts, HINT])


def placeholders(text: str) -> set[str]:
    """The %(name)x placeholders of a string, each with its conversion."""
    return {f"%({match.group(1)}){match.group(0)[-1]}" for match in PLACEHOLDER.finditer(text)}


@pytest.mark.parametrize("locale", LOCALES)
def test_header_is_valid(locale: str) -> None:
    catalog = load_po(po_path(locale), locale)
    assert str(catalog.locale) == locale
    assert catalog.mime_headers  # read_po parsed a header
    if locale == "zh_Hans":
        assert catalog.plural_forms == "nplurals=1; plural=0;"


@pytest.mark.parametrize("locale", LOCALES)
def test_every_entry_is_translated(locale: str) -> None:
    catalog = load_po(po_path(locale), locale)
    untranslated = {key(m) for m in entries(catalog) if not all(strings(m.string))}
    fuzzy = {key(m) for m in entries(catalog) if m.fuzzy}
    assert not (untranslated | fuzzy), report(
        f"translations/{locale} is incomplete.",
        {"Untranslated": untranslated, "Fuzzy (check the msgstr, then drop the flag)": fuzzy},
    )


@pytest.mark.parametrize("locale", LOCALES)
def test_catalogue_has_the_template_messages(locale: str) -> None:
    template = {key(m) for m in entries(load_po(TEMPLATE))}
    catalogue = {key(m) for m in entries(load_po(po_path(locale), locale))}
    missing, extra = template - catalogue, catalogue - template
    assert not (missing | extra), report(
        f"translations/{locale} is not updated from messages.pot.",
        {"In the template, not in the catalogue": missing,
         "In the catalogue, not in the template": extra},
    )


def mo_pairs(catalog: Catalog) -> dict[tuple[str | None, object], tuple[str, ...]]:
    return {key(m): strings(m.string) for m in entries(catalog)}


@pytest.mark.parametrize("locale", LOCALES)
def test_compiled_catalogue_is_up_to_date(locale: str) -> None:
    po = po_path(locale)
    mo = po.with_suffix(".mo")
    assert mo.exists(), f"{mo.relative_to(ROOT)} is missing. {HINT}"
    compiled = io.BytesIO()
    write_mo(compiled, load_po(po, locale))
    compiled.seek(0)
    expected = mo_pairs(read_mo(compiled))
    with mo.open("rb") as handle:
        actual = mo_pairs(read_mo(handle))
    stale = {k for k in expected.keys() & actual.keys() if expected[k] != actual[k]}
    missing = expected.keys() - actual.keys()
    extra = actual.keys() - expected.keys()
    assert not (stale | missing | extra), report(
        f"{mo.relative_to(ROOT)} is stale: it does not match its .po.",
        {"Translated differently in the .po": stale, "Not compiled yet": missing,
         "Compiled, but untranslated, fuzzy or gone in the .po": extra},
    )


def placeholder_problems(message: Message) -> list[str]:
    originals = strings(message.id)
    expected = set().union(*(placeholders(text) for text in originals))
    problems = []
    for index, text in enumerate(strings(message.string)):
        if not text:
            continue
        found = placeholders(text)
        # A plural msgstr may leave out a placeholder of one English form, never add one.
        ok = found <= expected if len(originals) > 1 else found == expected
        if not ok:
            label = f"msgstr[{index}]" if len(originals) > 1 else "msgstr"
            problems.append(
                f"  {originals[0]!r}: {label} has {sorted(found)}, the msgid has {sorted(expected)}"
            )
    return problems


@pytest.mark.parametrize("locale", LOCALES)
def test_placeholders_match(locale: str) -> None:
    catalog = load_po(po_path(locale), locale)
    problems = [line for m in entries(catalog) for line in placeholder_problems(m)]
    assert not problems, f"Placeholders differ in {locale}:\n" + "\n".join(problems)


def makefile_extract_args() -> list[str]:
    """The arguments the Makefile's `translations` target gives `pybabel extract`."""
    text = (ROOT / "Makefile").read_text(encoding="utf-8").replace("\\\n", " ")
    for line in text.splitlines():
        words = shlex.split(line)
        for index, word in enumerate(words[:-1]):
            if word.endswith("pybabel") and words[index + 1] == "extract":
                return words[index + 2:]
    raise AssertionError("The Makefile runs no `pybabel extract` any more; update this test.")


def test_template_is_up_to_date_with_the_source(tmp_path: Path) -> None:
    args = makefile_extract_args()
    output = tmp_path / "messages.pot"
    args[args.index("-o") + 1] = str(output)
    result = subprocess.run(
        [sys.executable, "-m", "babel.messages.frontend", "--quiet", "extract", *args],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, f"pybabel extract failed:\n{result.stderr}"
    source = {key(m) for m in entries(load_po(output))}
    committed = {key(m) for m in entries(load_po(TEMPLATE))}
    new, gone = source - committed, committed - source
    assert not (new | gone), report(
        "translations/messages.pot is out of date with the source.",
        {"In the source, not in messages.pot": new,
         "In messages.pot, no longer in the source": gone},
    )


def test_the_hotline_has_one_chinese_name():
    """Every string about the hotline calls it 意见受理电话, as the poster and pages do."""
    catalog = load_po(po_path("zh_Hans"), "zh_Hans")
    named = [m for m in entries(catalog) if "hotline" in " ".join(strings(m.id)).lower()]
    assert named
    for message in named:
        for text in strings(message.string):
            assert "意见受理电话" in text, (message.id, text)
    for message in entries(catalog):
        for text in strings(message.string):
            assert "监督电话" not in text, (message.id, text)
            assert "热线" not in text, (message.id, text)
