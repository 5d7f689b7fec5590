"""How the public alert letter and the sessions calendar read: placeholders filled or shown as
hints (never a raw `{…}`), upcoming sessions by month and past ones apart."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from services.intake.alerts import letter_text, readable_letter, salutation_for
from services.intake.sessions import PAST_SHOWN, calendar_sections

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def test_the_salutation_is_the_officials_own_when_written_in_the_pages_script() -> None:
    english = [{"name": "Minister of Justice", "salutation": "Your Excellency"}]
    khmer = [{"name": "រដ្ឋមន្ត្រី", "salutation": "ឯកឧត្តម រដ្ឋមន្ត្រី"}]
    assert salutation_for(english, "en") == "Your Excellency"
    assert salutation_for(english, "km") == "ឯកឧត្តម/លោកជំទាវ", (
        "an English salutation never opens a Khmer letter"
    )
    assert salutation_for(khmer, "km") == "ឯកឧត្តម រដ្ឋមន្ត្រី"
    assert salutation_for(khmer, "en") == "Your Excellency"
    assert salutation_for([], "en") == "Your Excellency"
    two = [{"salutation": "Your Excellency"}, {"salutation": "Dear Governor"}]
    assert salutation_for(two, "en") == "Your Excellency", "officials who differ get the neutral one"


def test_the_letter_reads_as_written_with_hints_for_what_the_reader_fills_in() -> None:
    parts = readable_letter(
        "{salutation},\n\nI am {name} from {home_town}. {} {{x}}", "en", "Your Excellency"
    )
    text = letter_text(parts)
    assert text == "Your Excellency,\n\nI am [your name] from [home town]. [fill in] {[x]}"
    assert [p.text for p in parts if p.hint] == ["[your name]", "[home town]", "[fill in]", "[x]"]
    khmer = letter_text(readable_letter("{salutation},\n\nខ្ញុំឈ្មោះ {name}", "km", "ឯកឧត្តម/លោកជំទាវ"))
    assert khmer == "ឯកឧត្តម/លោកជំទាវ,\n\nខ្ញុំឈ្មោះ [ឈ្មោះរបស់អ្នក]"
    assert readable_letter("", "en", "x") == []


def doc(session_id: str, starts: datetime, hours: int = 2, **change: Any) -> dict[str, Any]:
    return {"_id": session_id, "starts_at": starts, "ends_at": starts + timedelta(hours=hours), **change}


def test_upcoming_sessions_are_grouped_by_month_soonest_first_and_past_ones_apart() -> None:
    docs = [
        doc("jan", datetime(2027, 1, 10, 3, tzinfo=UTC)),
        doc("last-week", NOW - timedelta(days=7)),
        doc("dec-late", datetime(2026, 12, 31, 18, tzinfo=UTC)),  # 1 January 01:00 in Phnom Penh
        doc("dec", datetime(2026, 12, 3, 3, tzinfo=UTC), status="cancelled"),
        doc("under-way", NOW - timedelta(hours=1)),
        doc("yesterday", NOW - timedelta(days=1)),
        doc("held-early", NOW - timedelta(hours=1), hours=3, status="completed"),
    ]
    months, past = calendar_sections(docs, NOW, "en", "Asia/Phnom_Penh")
    assert [(m.heading, [d["_id"] for d in m.sessions]) for m in months] == [
        ("November 2026", ["under-way"]),
        ("December 2026", ["dec"]),
        ("January 2027", ["dec-late", "jan"]),
    ]
    assert [d["_id"] for d in past] == ["held-early", "yesterday", "last-week"]
    months_la, _ = calendar_sections(docs, NOW, "en", "America/Los_Angeles")
    assert [m.heading for m in months_la] == ["November 2026", "December 2026", "January 2027"]
    assert [d["_id"] for d in months_la[1].sessions] == ["dec", "dec-late"], "the viewer's own month"
    km, _ = calendar_sections(docs, NOW, "km", "Asia/Phnom_Penh")
    assert [m.heading for m in km] == ["វិច្ឆិកា 2026", "ធ្នូ 2026", "មករា 2027"]


def test_only_the_most_recent_past_sessions_are_listed() -> None:
    docs = [doc(f"p{i}", NOW - timedelta(days=i + 1)) for i in range(PAST_SHOWN + 5)]
    months, past = calendar_sections(docs, NOW, "en", "UTC")
    assert months == [] and [d["_id"] for d in past] == [f"p{i}" for i in range(PAST_SHOWN)]


def test_a_members_letter_is_addressed_and_signed_as_the_page_shows_it() -> None:
    from services.dispatcher.alerts import alert_ref
    from shared.contracts import utcnow
    from shared.contracts.alert import AlertPublishedData, AlertText, Official, letter_salutation

    texts = {
        lang: AlertText(title="t", summary="s", letter="{salutation},\nRelease them.\n{name}")
        for lang in ("en", "km")
    }
    data = AlertPublishedData(
        alert_id="al_1",
        number="UA 1/26",
        topics=["political-prisoners"],
        texts=texts,  # type: ignore[arg-type]
        officials=[Official(name="Minister", salutation="Dear Minister")],
        public_url="https://pledge.example.org/a/UA-1-26",
        published_at=utcnow(),
    )
    english = alert_ref(data, {"language": "en", "name": "Sok Dara"}, "https://x/a/done/t")
    khmer = alert_ref(data, {"language": "km", "name": "សុខ ដារ៉ា"}, "https://x/a/done/t")
    assert english.letter == "Dear Minister,\nRelease them.\nSok Dara"
    assert khmer.letter.startswith(letter_salutation([], "km") + ",") and "{" not in khmer.letter
