"""Certificate numbers: a readable serial plus a random check part, so they cannot be listed."""

from __future__ import annotations

import itertools
import random

from services.certificates.app import CHECK_ALPHABET, check_part, format_number
from services.intake.certificates import NUMBER


def test_a_number_is_prefix_year_serial_and_a_four_character_check() -> None:
    assert format_number(2026, 123, "7QK4") == "KCAP-2026-000123-7QK4"


def test_the_check_alphabet_has_32_unambiguous_symbols_so_four_carry_20_bits() -> None:
    assert len(CHECK_ALPHABET) == len(set(CHECK_ALPHABET)) == 32
    assert not set("01IO") & set(CHECK_ALPHABET)
    assert len(check_part()) == 4


def test_check_parts_are_random_not_derived_from_the_serial() -> None:
    parts = {check_part() for _ in range(2000)}
    assert len(parts) > 1990, "20 bits: almost no repeats among 2000"
    assert all(set(part) <= set(CHECK_ALPHABET) for part in parts)
    chooser = random.Random(7).choice
    assert check_part(chooser) != check_part(chooser)


def test_the_verification_page_accepts_new_and_older_numbers_and_nothing_ambiguous() -> None:
    for serial, check in itertools.product((1, 123, 999_999, 1_234_567), ("7QK4", "ZZZZ", "2222")):
        assert NUMBER.match(format_number(2026, serial, check))
    assert NUMBER.match("KCAP-2026-000123"), "numbers issued before the check part stay valid"
    for wrong in ("KCAP-2026-000123-7QKO", "KCAP-2026-000123-7QK1", "KCAP-2026-000123-7QK", "KCAP-26-1"):
        assert not NUMBER.match(wrong), wrong
