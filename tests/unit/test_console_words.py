"""Every word of the console's pages exists in English and Khmer with the same `{fields}`, and
every word a template or page module asks for by name exists (a missing one would fail the page
with a 500 only when it is drawn)."""

from __future__ import annotations

import re
import string
from pathlib import Path

import pytest

from services.console.web.words import WORDS

pytestmark = pytest.mark.unit
CONSOLE = Path(__file__).resolve().parents[2] / "services" / "console"
ASKED = re.compile(
    r"""\b(?:t|word)\(\s*["']([a-z0-9_]*[a-z0-9])["']\s*[,)]"""
)  # not a prefix like "role_" ~ …


def fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_every_word_has_both_languages_with_the_same_fields() -> None:
    for key, texts in WORDS.items():
        assert set(texts) == {"en", "km"}, key
        assert texts["en"].strip() and texts["km"].strip(), key
        assert fields(texts["en"]) == fields(texts["km"]), key


def test_every_word_asked_for_by_name_exists() -> None:
    sources = [*CONSOLE.glob("templates/**/*.html"), *CONSOLE.glob("web/**/*.py")]
    asked = {
        (path.relative_to(CONSOLE).as_posix(), key)
        for path in sources
        for key in ASKED.findall(path.read_text())
    }
    assert asked, "no template asks for a word: the pattern is wrong"
    assert sorted((path, key) for path, key in asked if key not in WORDS) == []
