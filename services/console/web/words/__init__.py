"""The console's words in English and Khmer, one module per area (`WORDS`), merged here: a page
area adds its module and edits no list. A key belongs to one module (a test holds it) and has
both languages."""

from __future__ import annotations

import importlib
import pkgutil

from shared.contracts.languages import Lang


def _merged() -> dict[str, dict[Lang, str]]:
    merged: dict[str, dict[Lang, str]] = {}
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda info: info.name):
        words: dict[str, dict[Lang, str]] = getattr(
            importlib.import_module(f"{__name__}.{info.name}"), "WORDS", {}
        )
        for key, texts in words.items():
            if key in merged:
                raise ValueError(f"console word {key!r} is declared twice ({info.name})")
            merged[key] = texts
    return merged


WORDS: dict[str, dict[Lang, str]] = _merged()


def word(key: str, lang: Lang, **values: object) -> str:
    """The text of `key` in `lang`, with `{name}` fields filled from `values`."""
    text = WORDS[key][lang]
    return text.format(**values) if values else text
