"""CSV that a spreadsheet opens as text, never as a formula (OWASP "CSV injection").

Every CSV Samleng writes for people to open (the print batch's `addresses.csv`, a session's
`ideas.csv`) writes its rows through `FormulaSafeWriter`: a cell starting with `=`, `+`, `-`,
`@`, a tab or a carriage return gets a leading `'`, which spreadsheets show as text.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from typing import Any, Protocol

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


class _Writable(Protocol):
    def write(self, text: str, /) -> Any: ...


def formula_safe(value: object) -> str:
    """The cell as text, with a `'` in front when a spreadsheet would run it."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


class FormulaSafeWriter:
    """`csv.writer` whose every cell goes through `formula_safe`."""

    def __init__(self, handle: _Writable) -> None:
        self._writer = csv.writer(handle)

    def writerow(self, row: Iterable[object]) -> None:
        self._writer.writerow([formula_safe(cell) for cell in row])

    def writerows(self, rows: Iterable[Iterable[object]]) -> None:
        for row in rows:
            self.writerow(row)
