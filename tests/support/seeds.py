"""Sessions and registrations as the services keep them in the database, for the service tests of
the public calendar and the console (plain: no vault in this tier)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

START = datetime(2027, 3, 6, 12, 0, tzinfo=UTC)  # 19:00 in Phnom Penh, 04:00 in Los Angeles


async def seed_session(db: Any, session_id: str = "ss_seeded", **change: Any) -> dict[str, Any]:
    """A session as the event-scheduler keeps it (online, with a join link), with `change` made."""
    doc = {
        "_id": session_id,
        "session_id": session_id,
        "kind": "forum",
        "texts": {
            "en": {"title": "Forum on land evictions", "description": ""},
            "km": {"title": "វេទិកាស្តីពីការបណ្តេញចេញពីដីធ្លី", "description": ""},
        },
        "starts_at": START,
        "ends_at": START + timedelta(hours=2),
        "mode": "online",
        "place": "",
        "join_link": "https://zoom.example/j/999?pwd=hidden",
        "join_link_release_at": None,
        "registration_opens_at": None,
        "registration_closes_at": None,
        "capacity": None,
        "reminder_minutes": [10080, 1440, 60],
        "status": "scheduled",
        "version": 1,
        "public_url": f"http://intake.test/sessions/{session_id}",
    }
    doc.update(change)
    await db.sessions.insert_one(doc)
    return doc


async def seed_registrations(db: Any) -> None:
    """Three registrations for `ss_seeded` (two registered, one waitlisted), with names, contacts
    and ideas that must never reach a page as they are."""
    await db.registrations.insert_many(
        [
            {"_id": "rg_1", "session_id": "ss_seeded", "state": "registered", "ideas": '=HYPERLINK("http://evil")',
             "submitted_at": START - timedelta(days=3),
             "registrant": {"name": "Sok Dara", "language": "en", "country": "US", "channels": ["email"],
                            "contact": {"email": "dara@example.org"}}},
            {"_id": "rg_2", "session_id": "ss_seeded", "state": "registered", "ideas": "ដីធ្លីរបស់សហគមន៍",
             "submitted_at": START - timedelta(days=2),
             "registrant": {"name": "ចាន់ សុភា", "language": "km", "country": "KH", "channels": ["signal"],
                            "contact": {"phone": "+85512345678"}}},
            {"_id": "rg_3", "session_id": "ss_seeded", "state": "waitlisted", "ideas": "",
             "submitted_at": START - timedelta(days=1),
             "registrant": {"name": "-Sok", "language": "en", "country": "US", "channels": ["email"],
                            "contact": {"email": "sok@example.org"}}},
        ]
    )  # fmt: skip
