"""How many SMS segments a text takes (what the provider bills and the phone reassembles).

A text whose every character is in the GSM 03.38 alphabet is sent in GSM-7: the basic set costs
one septet a character, the extension set (`^ { } \\ [ ~ ] | €` and form feed) two (an escape and
the character); one message holds 160 septets, a concatenated one 153 per part (the rest is the
part header), and a part never ends between an escape and its character. Any other character
(Khmer, emoji, curly quotes) makes the whole text UCS-2: UTF-16 code units, 70 in one message,
67 per part, and a part never ends inside a surrogate pair.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
EXTENSION = "\f^{}\\[~]|€"
GSM_SINGLE, GSM_PART = 160, 153
UCS2_SINGLE, UCS2_PART = 70, 67
_BASIC = frozenset(BASIC)
_EXTENSION = frozenset(EXTENSION)

Encoding = Literal["GSM-7", "UCS-2"]


@dataclass(frozen=True)
class Segments:
    encoding: Encoding
    units: int  # septets (GSM-7) or UTF-16 code units (UCS-2)
    count: int


def is_gsm7(text: str) -> bool:
    return all(ch in _BASIC or ch in _EXTENSION for ch in text)


def segments(text: str) -> Segments:
    """The encoding, size and number of segments of `text` as one SMS."""
    if is_gsm7(text):
        sizes = [2 if ch in _EXTENSION else 1 for ch in text]
        return Segments("GSM-7", sum(sizes), _parts(sizes, GSM_SINGLE, GSM_PART))
    sizes = [2 if ord(ch) > 0xFFFF else 1 for ch in text]  # a surrogate pair stays in one part
    return Segments("UCS-2", sum(sizes), _parts(sizes, UCS2_SINGLE, UCS2_PART))


def _parts(sizes: list[int], single: int, part: int) -> int:
    total = sum(sizes)
    if total <= single:
        return 1 if total else 0
    count, used = 1, 0
    for size in sizes:  # characters never split across parts
        if used + size > part:
            count, used = count + 1, 0
        used += size
    return count
