"""SMS segment counting: GSM-7 (basic 1 septet, extension 2) 160/153, else UCS-2 70/67."""

from __future__ import annotations

import pytest

from services.channels.sms.segments import segments


@pytest.mark.parametrize(
    ("text", "encoding", "units", "count"),
    [
        ("", "GSM-7", 0, 0),
        ("a" * 160, "GSM-7", 160, 1),
        ("a" * 161, "GSM-7", 161, 2),
        ("a" * 306, "GSM-7", 306, 2),
        ("a" * 307, "GSM-7", 307, 3),
        ("€" * 80, "GSM-7", 160, 1),  # extension characters cost two septets
        ("€" * 81, "GSM-7", 162, 2),
        ("^{}\\[~]|\f", "GSM-7", 18, 1),
        ("a" * 152 + "€" + "a" * 7, "GSM-7", 161, 2),
        ("a" * 152 + "€" * 77, "GSM-7", 306, 3),  # an escape and its character stay in one part
        ("Dear Sok, see https://pledge.example.org/v/KCAP-2026-000042 @£$¥èé", "GSM-7", 66, 1),
        ("a" * 69 + "’", "UCS-2", 70, 1),  # one curly quote makes the whole text UCS-2
        ("a" * 70 + "’", "UCS-2", 71, 2),
        ("ក" * 70, "UCS-2", 70, 1),
        ("ក" * 71, "UCS-2", 71, 2),
        ("ក" * 134, "UCS-2", 134, 2),
        ("ក" * 135, "UCS-2", 135, 3),
        ("a" * 66 + "😀" + "a", "UCS-2", 69, 1),
        ("a" * 66 + "😀" + "a" * 4, "UCS-2", 72, 2),  # the surrogate pair is not split
    ],
)
def test_segments(text: str, encoding: str, units: int, count: int) -> None:
    counted = segments(text)
    assert (counted.encoding, counted.units, counted.count) == (encoding, units, count)


def test_a_khmer_text_takes_more_than_twice_the_segments_of_its_english() -> None:
    english = "Reminder: Commission of Inquiry hearing, Saturday 6 March 2027 at 19:00. Details: "
    khmer = "ការរំលឹក៖ សវនាការគណៈកម្មការស៊ើបអង្កេត ថ្ងៃសៅរ៍ ទី៦ ខែមីនា ឆ្នាំ២០២៧ ម៉ោង ១៩:០០។ ព័ត៌មានលម្អិត៖ "
    link = "https://pledge.example.org/sessions/ss_contract"
    assert segments(english + link).count == 1
    assert segments(khmer + link).encoding == "UCS-2" and segments(khmer + link).count == 3
