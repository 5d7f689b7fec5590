"""Well-formedness of Khmer script in names (Unicode Khmer block, U+1780–U+17FF).

A Khmer syllable starts with a base (consonant or independent vowel); subscript consonants are
written COENG + consonant; dependent vowels and signs attach to a base. Sequences that break this
(a leading coeng, a coeng before a non-consonant, a vowel or sign with nothing to attach to) are
what keyboards produce by mistake and what renderers show as dotted circles; we reject them with
the position of the first problem.
"""

from __future__ import annotations

COENG = "\u17d2"


def _in(char: str, start: int, end: int) -> bool:
    return start <= ord(char) <= end


def is_consonant(char: str) -> bool:
    return _in(char, 0x1780, 0x17A2)


def is_independent_vowel(char: str) -> bool:
    return _in(char, 0x17A3, 0x17B3)


def is_dependent_vowel(char: str) -> bool:
    return _in(char, 0x17B6, 0x17C5)


def is_sign(char: str) -> bool:
    return _in(char, 0x17C6, 0x17D1) or char in "\u17d3\u17dd"


def is_khmer(char: str) -> bool:
    return _in(char, 0x1780, 0x17FF) or _in(char, 0x19E0, 0x19FF)


def first_malformed_position(text: str) -> int | None:
    """Index of the first character that breaks Khmer syllable structure, or None."""
    previous = ""  # "base", "subscript", "vowel", "sign", "coeng" or "" (outside a syllable)
    for index, char in enumerate(text):
        if char == COENG:
            if previous not in ("base", "subscript"):
                return index
            previous = "coeng"
        elif is_consonant(char):
            previous = "subscript" if previous == "coeng" else "base"
        elif previous == "coeng":
            return index  # coeng must be followed by a consonant
        elif is_independent_vowel(char):
            previous = "base"
        elif is_dependent_vowel(char):
            if previous not in ("base", "subscript", "sign"):
                return index
            previous = "vowel"
        elif is_sign(char):
            if previous not in ("base", "subscript", "vowel", "sign"):
                return index
            previous = "sign"
        else:
            previous = ""
    return index + 1 if previous == "coeng" else None
