"""Operators' sessions on the console (real broker and Mongo-wire server): what each role may do,
the checks and the events (each carrying the operator as `actor`), drafts, registrations and
ideas read without contacts and audited once per read, the Plan of Action's 5 MB PDF. The
event-scheduler's `sessions` and `registrations` are seeded as it would write them."""

from __future__ import annotations

import base64
import csv
import io
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from bson import ObjectId

from devstack.broker import RabbitNode
from services.console.permissions import Role
from tests.support.console import bearer, operator_token
from tests.support.handed_over import drain, watched
from tests.support.seeds import START, seed_registrations, seed_session

PREFIX = "/api/v1/operator"
FIVE_MB = 5_000_000
SEEDED = f"{PREFIX}/sessions/ss_seeded"


@pytest.fixture
async def events(rabbit: RabbitNode) -> AsyncIterator[Any]:
    """The scheduler's inputs, declared but not consumed: what the console hands over stays readable."""
    async with watched(
        rabbit.url,
        "test-console-sessions",
        ("session.published.v1", "registration.cancelled.v1", "session.plan_published.v1"),
    ) as queue:
        yield queue


class Operator:
    def __init__(self, headers: dict[str, str], operator_id: str) -> None:
        self.headers = headers
        self.id = operator_id


@pytest.fixture
def as_role(console: str, db: Any) -> Callable[[Role], Any]:
    async def make(role: Role) -> Operator:
        headers = bearer(await operator_token(db, role))
        async with httpx.AsyncClient(base_url=console) as client:
            me = await client.get(f"{PREFIX}/me", headers=headers)
        return Operator(headers, me.json()["operator"]["id"])

    return make


def new_session(**change: Any) -> dict[str, Any]:
    body = {
        "kind": "hearing",
        "texts": {
            "en": {"title": "Commission of Inquiry hearing", "description": "Testimony on the mass trials."},
            "km": {"title": "សវនាការគណៈកម្មការស៊ើបអង្កេត", "description": "សក្ខីកម្មអំពីការកាត់ក្តីជាក្រុម។"},
        },
        "starts_at": START.isoformat(),
        "ends_at": (START + timedelta(hours=2)).isoformat(),
        "mode": "online",
        "join_link": "https://zoom.example/j/123?pwd=secret",
    }
    body.update(change)
    return body


async def audited(db: Any, action: str) -> list[dict[str, Any]]:
    return [e async for e in db.audit_events.find({"action": action})]


# ---- roles --------------------------------------------------------------------------------------


async def test_a_viewer_lists_sessions_but_may_not_read_registrations_or_create(
    console: str, db: Any, events: Any, as_role: Any
) -> None:
    await seed_session(db)
    await seed_registrations(db)
    viewer = await as_role(Role.viewer)
    async with httpx.AsyncClient(base_url=console, headers=viewer.headers) as client:
        listed = await client.get(f"{PREFIX}/sessions")
        registrations = await client.get(f"{SEEDED}/registrations")
        ideas = await client.get(f"{SEEDED}/ideas.csv")
        created = await client.post(f"{PREFIX}/sessions", json=new_session())
        drafted = await client.post(f"{PREFIX}/sessions", params={"draft": "true"}, json=new_session())
        cancelled = await client.post(f"{SEEDED}/cancel")
    assert listed.status_code == 200
    [session] = listed.json()["sessions"]
    assert session["session_id"] == "ss_seeded"
    assert session["registrations"] == {"registered": 2, "waitlisted": 1}
    assert "Sok Dara" not in listed.text and "dara@example.org" not in listed.text
    assert "hidden" not in listed.text, "the list does not carry join links"
    for refused in (registrations, ideas, created, drafted, cancelled):
        assert refused.status_code == 403, refused.text
    assert "Sok Dara" not in registrations.text + ideas.text
    assert await drain(events) == []
    assert await audited(db, "registrations.read") == [] and await audited(db, "ideas.read") == []
    denials = await audited(db, "permission.denied")
    assert len(denials) == 5 and {d["operator_id"] for d in denials} == {viewer.id}


async def test_an_editor_drafts_but_only_a_publisher_publishes_and_the_event_names_them(
    console: str, db: Any, events: Any, as_role: Any
) -> None:
    editor, publisher = await as_role(Role.editor), await as_role(Role.publisher)
    async with httpx.AsyncClient(base_url=console) as client:
        refused = await client.post(f"{PREFIX}/sessions", headers=editor.headers, json=new_session())
        assert refused.status_code == 403
        [denied] = await audited(db, "permission.denied")
        assert denied["operator_id"] == editor.id and denied["object_id"] == "sessions.publish"

        drafted = await client.post(
            f"{PREFIX}/sessions", headers=editor.headers, params={"draft": "true"}, json=new_session()
        )
        assert drafted.status_code == 201, drafted.text
        session_id = drafted.json()["session_id"]
        assert drafted.json()["state"] == "draft" and session_id.startswith("ss_")
        bad = await client.put(
            f"{PREFIX}/sessions/{session_id}", headers=editor.headers, json=new_session(mode="in-person")
        )
        assert bad.status_code == 422 and bad.json()["detail"][0]["field"] == "place"
        rewritten = await client.put(
            f"{PREFIX}/sessions/{session_id}",
            headers=editor.headers,
            json=new_session(texts={"en": {"title": "New title"}, "km": {"title": "ចំណងជើងថ្មី"}}),
        )
        assert rewritten.status_code == 200, rewritten.text
        assert (
            await client.put(f"{PREFIX}/sessions/ss_nope", headers=editor.headers, json=new_session())
        ).status_code == 404
        assert await drain(events) == [], "a draft is not published"
        listed = (await client.get(f"{PREFIX}/sessions", headers=editor.headers)).json()
        assert [(d["session_id"], d["texts"]["en"]["title"]) for d in listed["drafts"]] == [
            (session_id, "New title")
        ]
        assert "join_link" not in listed["drafts"][0]

        by_editor = await client.post(f"{PREFIX}/sessions/{session_id}/publish", headers=editor.headers)
        assert by_editor.status_code == 403
        published = await client.post(f"{PREFIX}/sessions/{session_id}/publish", headers=publisher.headers)
        assert published.status_code == 202, published.text
        assert published.json() == {
            "session_id": session_id,
            "public_url": f"http://intake.test/sessions/{session_id}",
            "version": 1,
        }
        again = await client.post(f"{PREFIX}/sessions/{session_id}/publish", headers=publisher.headers)
        assert again.status_code == 200 and again.json()["state"] == "published"
        late = await client.put(f"{PREFIX}/sessions/{session_id}", headers=editor.headers, json=new_session())
        assert late.status_code == 409
        direct = await client.post(f"{PREFIX}/sessions", headers=publisher.headers, json=new_session())
        assert direct.status_code == 202, direct.text
        assert (await client.get(f"{PREFIX}/sessions", headers=editor.headers)).json()["drafts"] == []

    published_events = await drain(events)
    assert [(e["type"], e["data"]["session"]["session_id"], e["actor"]) for e in published_events] == [
        ("session.published.v1", session_id, publisher.id),
        ("session.published.v1", direct.json()["session_id"], publisher.id),
    ]
    assert published_events[0]["data"]["session"]["texts"]["en"]["title"] == "New title"
    for action in ("session.drafted", "session.draft_rewritten"):
        assert [(e["operator_id"], e["object_id"]) for e in await audited(db, action)] == [
            (editor.id, session_id)
        ]
    assert [(e["operator_id"], e["object_id"]) for e in await audited(db, "session.published")] == [
        (publisher.id, session_id),
        (publisher.id, direct.json()["session_id"]),
    ]


async def test_reading_registrations_and_ideas_is_audited_once_per_read_with_counts_only(
    console: str, db: Any, as_role: Any
) -> None:
    await seed_session(db)
    await seed_registrations(db)
    publisher = await as_role(Role.publisher)
    async with httpx.AsyncClient(base_url=console, headers=publisher.headers) as client:
        listing = await client.get(f"{SEEDED}/registrations")
        exported = await client.get(f"{SEEDED}/ideas.csv")
        unknown = await client.get(f"{PREFIX}/sessions/ss_nope/registrations")
    assert listing.status_code == exported.status_code == 200 and unknown.status_code == 404
    [read] = await audited(db, "registrations.read")
    assert read["operator_id"] == publisher.id and read["object_id"] == "ss_seeded"
    assert read["detail"] == {"session_id": "ss_seeded", "count": 3}
    [ideas] = await audited(db, "ideas.read")
    assert ideas["operator_id"] == publisher.id and ideas["detail"] == {"session_id": "ss_seeded", "count": 2}
    assert "Sok" not in str(read) + str(ideas)


# ---- what the operator API checked on intake, now on the console -------------------------------


async def test_operators_create_sessions_and_bad_ones_are_refused_with_the_field(
    console: str, events: Any, admin_token: str
) -> None:
    async with httpx.AsyncClient(base_url=console, headers=bearer(admin_token)) as client:
        assert (
            await httpx.AsyncClient(base_url=console).post(f"{PREFIX}/sessions", json=new_session())
        ).status_code == 401
        cases = {
            "ends_at": new_session(ends_at=(START - timedelta(hours=1)).isoformat()),
            "place": new_session(mode="in-person"),
            "texts.km": new_session(texts={"en": {"title": "Only English"}}),
            "starts_at": new_session(
                starts_at="2020-01-01T10:00:00+07:00", ends_at="2020-01-01T12:00:00+07:00"
            ),
            "join_link_release_at": new_session(
                join_link_release_at=(START + timedelta(hours=1)).isoformat()
            ),
        }
        for field, body in cases.items():
            answer = await client.post(f"{PREFIX}/sessions", json=body)
            assert answer.status_code == 422, (field, answer.text)
            assert field in {d["field"] for d in answer.json()["detail"]}, (field, answer.json())
        hostile = await client.post(f"{PREFIX}/sessions", json=new_session(join_link="javascript:alert(1)"))
        assert hostile.status_code == 422 and "javascript" not in hostile.text
        assert await drain(events) == []
        created = await client.post(f"{PREFIX}/sessions", json=new_session())
    assert created.status_code == 202, created.text
    [event] = await drain(events)
    assert event["type"] == "session.published.v1" and event["data"]["change"] == "created"
    session = event["data"]["session"]
    assert session["session_id"] == created.json()["session_id"] and session["version"] == 1
    assert (
        session["public_url"]
        == created.json()["public_url"]
        == f"http://intake.test/sessions/{session['session_id']}"
    )
    assert session["reminder_minutes"] == [10080, 1440, 60]  # 7 days, 1 day, 1 hour by default
    assert datetime.fromisoformat(session["starts_at"]) == START


async def test_reschedule_cancel_and_complete_publish_the_new_version_and_are_audited(
    console: str, events: Any, db: Any, as_role: Any
) -> None:
    await seed_session(db)
    await seed_session(
        db, "ss_held", starts_at=START + timedelta(days=1), ends_at=START + timedelta(days=1, hours=1)
    )
    publisher = await as_role(Role.publisher)
    async with httpx.AsyncClient(base_url=console, headers=publisher.headers) as client:
        moved = await client.patch(
            SEEDED, json={"starts_at": "2027-03-07T12:00:00Z", "ends_at": "2027-03-07T14:00:00Z"}
        )
        edited = await client.patch(
            SEEDED, json={"texts": {"en": {"title": "New title"}, "km": {"title": "ចំណងជើងថ្មី"}}}
        )
        to_the_past = await client.patch(
            SEEDED, json={"starts_at": "2020-03-07T12:00:00Z", "ends_at": "2020-03-07T14:00:00Z"}
        )
        cancelled = await client.post(f"{SEEDED}/cancel")
        completed = await client.post(f"{PREFIX}/sessions/ss_held/complete")
        unknown = await client.post(f"{PREFIX}/sessions/ss_nope/cancel")
    assert moved.status_code == edited.status_code == cancelled.status_code == completed.status_code == 202
    assert to_the_past.status_code == 422 and to_the_past.json()["detail"][0]["field"] == "starts_at"
    assert unknown.status_code == 404 and unknown.json() == {"detail": "unknown session"}
    assert moved.json() == {
        "session_id": "ss_seeded",
        "change": "rescheduled",
        "status": "rescheduled",
        "version": 2,
    }
    published = await drain(events)
    changes = [
        (e["data"]["session"]["session_id"], e["data"]["change"], e["data"]["session"]["status"],
         e["data"]["session"]["version"], e["actor"])
        for e in published
    ]  # fmt: skip
    assert changes == [
        ("ss_seeded", "rescheduled", "rescheduled", 2, publisher.id),
        ("ss_seeded", "updated", "scheduled", 2, publisher.id),
        ("ss_seeded", "cancelled", "cancelled", 2, publisher.id),
        ("ss_held", "completed", "completed", 2, publisher.id),
    ]
    assert datetime.fromisoformat(published[0]["data"]["previous_starts_at"]) == START
    trail = {
        action: [
            (e["operator_id"], e["object_id"], e["detail"].get("change")) for e in await audited(db, action)
        ]
        for action in ("session.changed", "session.cancelled", "session.completed")
    }
    assert trail == {
        "session.changed": [
            (publisher.id, "ss_seeded", "rescheduled"),
            (publisher.id, "ss_seeded", "updated"),
        ],
        "session.cancelled": [(publisher.id, "ss_seeded", "cancelled")],
        "session.completed": [(publisher.id, "ss_held", "completed")],
    }
    await db.sessions.update_one({"_id": "ss_seeded"}, {"$set": {"status": "cancelled"}})
    async with httpx.AsyncClient(base_url=console, headers=publisher.headers) as client:
        assert (await client.patch(SEEDED, json={"place": "Phnom Penh"})).status_code == 409


async def test_operators_read_registrations_without_contacts_and_export_ideas_safely(
    console: str, events: Any, db: Any, admin_token: str
) -> None:
    await seed_session(db)
    await seed_registrations(db)
    async with httpx.AsyncClient(base_url=console, headers=bearer(admin_token)) as client:
        listing = await client.get(f"{SEEDED}/registrations")
        exported = await client.get(f"{SEEDED}/ideas.csv")
        plan = await client.post(
            f"{SEEDED}/plan-of-action",
            json={"texts": {"en": "We agreed to ...", "km": "យើងបានព្រមព្រៀង ..."}},
        )
        no_khmer = await client.post(
            f"{SEEDED}/plan-of-action", json={"texts": {"en": "Only English", "km": " "}}
        )
        not_a_pdf = await client.post(
            f"{SEEDED}/plan-of-action",
            json={"texts": {"en": "x", "km": "x"}, "pdf_base64": base64.b64encode(b"<html>").decode()},
        )
        sessions = await client.get(f"{PREFIX}/sessions")
    assert listing.status_code == 200
    assert "dara@example.org" not in listing.text and "+855" not in listing.text
    assert [r["name"] for r in listing.json()["registrations"]] == ["Sok Dara", "ចាន់ សុភា", "-Sok"]
    assert exported.headers["content-disposition"] == 'attachment; filename="ideas-ss_seeded.csv"'
    rows = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))
    assert rows[0] == ["submitted_at", "name", "language", "country", "state", "ideas"]
    assert rows[1][5] == '\'=HYPERLINK("http://evil")' and rows[2][5] == "ដីធ្លីរបស់សហគមន៍"
    assert len(rows) == 3, "registrations without ideas are not in the export"
    assert plan.status_code == 202 and plan.json() == {"session_id": "ss_seeded", "state": "sending"}
    assert no_khmer.status_code == 422 and no_khmer.json()["detail"][0]["field"] == "texts.km"
    assert not_a_pdf.status_code == 422 and not_a_pdf.json()["detail"][0]["field"] == "pdf_base64"
    [event] = await drain(events)
    assert event["type"] == "session.plan_published.v1" and event["data"]["texts"]["km"].startswith("យើង")
    assert event["data"]["pdf_file_id"] is None and event["data"]["pdf_bucket"] is None and event["actor"]
    [audit] = await audited(db, "session.plan_of_action")
    assert audit["operator_id"] == event["actor"] and audit["detail"] == {"pdf": False}
    assert sessions.json()["sessions"][0]["registrations"] == {"registered": 2, "waitlisted": 1}


async def test_the_ideas_export_is_formula_safe(console: str, db: Any, admin_token: str) -> None:
    await seed_session(db, "ss_ideas")
    await db.registrations.insert_one(
        {"_id": "rg_ideas", "session_id": "ss_ideas", "state": "registered", "ideas": "=1+2",
         "registrant": {"name": "-Sok", "language": "en", "country": "US"}, "submitted_at": datetime.now(UTC)}
    )  # fmt: skip
    async with httpx.AsyncClient(base_url=console, headers=bearer(admin_token)) as client:
        answer = await client.get(f"{PREFIX}/sessions/ss_ideas/ideas.csv")
    assert answer.status_code == 200 and answer.headers["content-type"] == "text/csv; charset=utf-8"
    rows = list(csv.DictReader(io.StringIO(answer.text.lstrip("\ufeff"))))
    assert [(r["name"], r["ideas"]) for r in rows] == [("'-Sok", "'=1+2")]


async def test_operators_cancel_a_registration_for_someone_and_only_with_the_permission(
    console: str, events: Any, db: Any, as_role: Any
) -> None:
    await seed_session(db)
    await db.registrations.insert_many(
        [
            {"_id": "rg_called", "session_id": "ss_seeded", "state": "registered"},
            {"_id": "rg_gone", "session_id": "ss_seeded", "state": "cancelled"},
        ]
    )
    editor, publisher = await as_role(Role.editor), await as_role(Role.publisher)
    path = SEEDED + "/registrations/{}/cancel"
    async with httpx.AsyncClient(base_url=console) as client:
        assert (await client.post(path.format("rg_called"))).status_code == 401
        assert (await client.post(path.format("rg_called"), headers=editor.headers)).status_code == 403
        assert (await client.post(path.format("rg_nobody"), headers=publisher.headers)).status_code == 404
        gone = await client.post(path.format("rg_gone"), headers=publisher.headers)
        assert gone.status_code == 200 and gone.json()["state"] == "cancelled"
        called = await client.post(path.format("rg_called"), headers=publisher.headers)
        assert called.status_code == 202 and called.json()["state"] == "cancelling"
    cancelled = [
        (e["data"]["registration_id"], e["actor"])
        for e in await drain(events)
        if e["type"] == "registration.cancelled.v1"
    ]
    assert cancelled == [("rg_called", publisher.id)]
    [audit] = await audited(db, "registration.cancelled")
    assert (audit["operator_id"], audit["object_id"], audit["detail"]) == (
        publisher.id,
        "rg_called",
        {"session_id": "ss_seeded"},
    )


# ---- the Plan of Action's size -------------------------------------------------------------------


def pdf_of(size: int) -> bytes:
    head = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"
    return head + b"0" * (size - len(head))


async def test_a_5_mb_plan_of_action_pdf_is_accepted_and_stored_whole(
    console: str, events: Any, db: Any, admin_token: str
) -> None:
    await seed_session(db)
    pdf = pdf_of(FIVE_MB)
    body = {"texts": {"en": "We agreed to write to the UN.", "km": "យើងបានព្រមព្រៀង ..."}}
    async with httpx.AsyncClient(base_url=console, headers=bearer(admin_token), timeout=60) as client:
        accepted = await client.post(
            f"{SEEDED}/plan-of-action", json={**body, "pdf_base64": base64.b64encode(pdf).decode()}
        )
        too_big = await client.post(
            f"{SEEDED}/plan-of-action",
            json={**body, "pdf_base64": base64.b64encode(pdf_of(7 * 1024 * 1024)).decode()},
        )
        documented = (await client.get("/openapi.json")).json()
    assert accepted.status_code == 202, accepted.text[:500]
    [event] = await drain(events)
    assert event["data"]["pdf_bucket"] == "session_files"  # the event says where the file is
    stored = await db["session_files.files"].find_one({"_id": ObjectId(event["data"]["pdf_file_id"])})
    assert stored is not None and stored["length"] == FIVE_MB
    assert too_big.status_code == 413
    assert too_big.json()["detail"][0]["limit_bytes"] == 8 * 1024 * 1024
    operation = documented["paths"][f"{PREFIX}/sessions/{{session_id}}/plan-of-action"]["post"]
    assert operation["x-body-limit-bytes"] == 8 * 1024 * 1024, "the limit is shown in /docs"
    [audit] = await audited(db, "session.plan_of_action")
    assert audit["detail"] == {"pdf": True}


async def test_a_lower_configured_plan_of_action_limit_is_kept(
    make_console: Any, events: Any, db: Any, admin_token: str
) -> None:
    await seed_session(db)
    body = {"texts": {"en": "x", "km": "x"}, "pdf_base64": base64.b64encode(pdf_of(100_000)).decode()}
    async with (
        make_console(plan_of_action_max_bytes=64 * 1024) as url,
        httpx.AsyncClient(base_url=url, headers=bearer(admin_token)) as client,
    ):
        refused = await client.post(f"{SEEDED}/plan-of-action", json=body)
    assert refused.status_code == 413
    assert refused.json()["detail"][0] == {
        "field": "body",
        "code": "too_large",
        "limit_bytes": 65536,
        "message": "This request's body may be at most 64 KiB (65536 bytes).",
    }
    assert await drain(events) == [] and await audited(db, "session.plan_of_action") == []


async def test_without_the_broker_a_change_is_refused_with_retry_after_and_not_audited(
    make_console: Any, dead_broker_url: str, db: Any, admin_token: str
) -> None:
    await seed_session(db)
    async with (
        make_console(wait_ready=False, amqp_url=dead_broker_url) as url,
        httpx.AsyncClient(base_url=url, headers=bearer(admin_token), timeout=30) as client,
    ):
        created = await client.post(f"{PREFIX}/sessions", json=new_session())
        cancelled = await client.post(f"{SEEDED}/cancel")
    for answer in (created, cancelled):
        assert answer.status_code == 503 and answer.headers["retry-after"] == "30"
        assert answer.json() == {"detail": "not handed over; retry"}
    assert await audited(db, "session.published") == [] and await audited(db, "session.cancelled") == []
