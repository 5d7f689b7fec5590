"""Certificate numbers: a readable serial plus a random check part, so they cannot be listed."""

from __future__ import annotations

import itertools
import random

import pytest
from pymongo.errors import DuplicateKeyError

from services.certificates.app import CHECK_ALPHABET, check_part, format_number, next_number
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


class RacedCounter:
    """A counter collection whose first calls lose the race to create the year's counter, as seen
    under load on the local Mongo-wire server (no document back) and on MongoDB (duplicate key)."""

    def __init__(self, *first: str) -> None:
        self.first = list(first)
        self.seq = 41

    async def find_one_and_update(self, *args: object, **kwargs: object) -> dict[str, object] | None:
        self.seq += 1
        losing = self.first.pop(0) if self.first else None
        if losing == "none":
            return None
        if losing == "duplicate":
            raise DuplicateKeyError("E11000 duplicate key error")
        return {"_id": "KCAP-2026", "seq": self.seq}


async def test_a_lost_race_for_the_years_counter_takes_the_next_number_instead_of_failing() -> None:
    number = await next_number(RacedCounter("none", "duplicate"), 2026)  # type: ignore[arg-type]
    assert number.startswith("KCAP-2026-000044-"), number  # 42 and 43 skipped, never given twice


async def test_a_counter_that_never_answers_is_an_error_retried_not_a_number() -> None:
    with pytest.raises(RuntimeError, match="no serial"):
        await next_number(RacedCounter(*["none"] * 5), 2026)  # type: ignore[arg-type]
