"""Members on the console (real broker and Mongo-wire server): the subscriber import, a member's
export, a member's and a contact's erasure, and a certificate's re-issue. Who may do each (an
editor none of them, a publisher all but erasing, a viewer nothing), what reaches the bus (every
event carrying the operator as `actor`), what is answered, and one audit event per call that
names ids and counts, never a name or a contact."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from devstack.broker import RabbitNode
from services.console.permissions import Role
from shared.personal_data import contact_key
from tests.service.test_console_deliveries import audited, operator
from tests.support.console import bearer, operator_token
from tests.support.handed_over import drain, watched

OPERATOR_API = "/api/v1/operator"
SUBSCRIBERS = f"{OPERATOR_API}/subscribers"
ERASURES = f"{OPERATOR_API}/erasures"
NUMBER = "KCAP-2026-000042-ABCD"
WATCHED = (
    "subscription.requested.v1",
    "member.erasure_requested.v1",
    "contact.erasure_requested.v1",
    "certificate.reissue_requested.v1",
)
ROW: dict[str, Any] = {
    "name": "Keo Rith",
    "country": "KH",
    "phone": "012 345 678",
    "channels": ["signal"],
    "language": "km",
    "time_zone": "Asia/Phnom_Penh",
    "confirmed": True,
    "consent_record": {
        "text_version": "paper-2026-10",
        "locale": "km",
        "accepted_at": "2026-10-01T10:00:00+07:00",
    },
}


@pytest.fixture
async def bus(rabbit: RabbitNode) -> AsyncIterator[Any]:
    """The events this area hands over, declared but not consumed: what the console publishes stays readable."""
    async with watched(rabbit.url, "test-members", WATCHED) as queue:
        yield queue


async def seed_member(
    db: Any, member_id: str = "mb_1", email: str = "dara@example.org", number: str = NUMBER
) -> None:
    """A member as pledge-intake keeps one (plain: no vault in this tier), with their contact key,
    a pledge, a certificate and a delivery."""
    at = datetime(2026, 11, 1, tzinfo=UTC)
    await db.members.insert_one(
        {"_id": member_id, "name": "Sok Dara", "email": email, "emails": [email], "country": "US"}
    )
    await db.member_keys.insert_one({"_id": contact_key("email", email), "member_id": member_id})
    await db.pledges.insert_one({"_id": f"pl_{member_id}", "member_id": member_id, "state": "recorded"})
    await db.certificates.insert_one(
        {"number": number, "state": "valid", "pledge_id": f"pl_{member_id}", "member_id": member_id,
         "name": "Sok Dara", "signed_on": at, "revision": 1}
    )  # fmt: skip
    await db.deliveries.insert_one(
        {"_id": f"dl_{member_id}", "member_id": member_id, "channel": "email", "purpose": "certificate",
         "source_id": number, "state": "sent", "created_at": at, "updated_at": at,
         "request": {"recipient": {"email": email}}}
    )  # fmt: skip


# ---- who may ----------------------------------------------------------------------------------


async def test_an_editor_may_not_read_replies_import_export_or_erase_and_a_viewer_not_reissue(
    console: str, db: Any, bus: Any
) -> None:
    await seed_member(db)
    editor_id, editor = await operator(console, db, Role.editor)
    viewer_id, viewer = await operator(console, db, Role.viewer)
    async with httpx.AsyncClient(base_url=console) as client:
        by_editor = [
            await client.get(f"{OPERATOR_API}/replies", headers=editor),
            await client.post(SUBSCRIBERS, headers=editor, json={"subscribers": [ROW]}),
            await client.get(f"{OPERATOR_API}/members/mb_1/export", headers=editor),
            await client.post(f"{OPERATOR_API}/members/mb_1/erase", headers=editor),
            await client.post(ERASURES, headers=editor, json={"email": "dara@example.org"}),
            await client.post(
                f"{OPERATOR_API}/certificates/{NUMBER}/reissue",
                headers=editor,
                json={"corrected_name": "Sok Dara", "reason": "misspelt"},
            ),
        ]
        by_viewer = await client.post(
            f"{OPERATOR_API}/certificates/{NUMBER}/reissue",
            headers=viewer,
            json={"corrected_name": "Sok Daro", "reason": "misspelt"},
        )
    assert [a.status_code for a in by_editor] == [403] * 6
    assert by_viewer.status_code == 403
    for answer in [*by_editor, by_viewer]:
        assert "Sok" not in answer.text and "dara@" not in answer.text and "Keo" not in answer.text
    assert await drain(bus, settle=0.3) == [], "nothing was handed over"
    denied = await db.audit_events.find({"action": "permission.denied"}).sort("at", 1).to_list(None)
    assert [(d["operator_id"], d["object_id"]) for d in denied] == [
        (editor_id, "members.read_personal"),
        (editor_id, "members.import"),
        (editor_id, "members.read_personal"),
        (editor_id, "members.erase"),
        (editor_id, "members.erase"),
        (editor_id, "certificates.reissue"),
        (viewer_id, "certificates.reissue"),
    ]
    assert await db.audit_events.count_documents({"outcome": "ok"}) == 0


async def test_a_publisher_may_not_erase_only_an_admin_may(console: str, db: Any, bus: Any) -> None:
    await seed_member(db)
    publisher_id, publisher = await operator(console, db, Role.publisher)
    async with httpx.AsyncClient(base_url=console, headers=publisher) as client:
        member = await client.post(f"{OPERATOR_API}/members/mb_1/erase")
        contact = await client.post(ERASURES, json={"email": "dara@example.org"})
    assert member.status_code == contact.status_code == 403
    assert await drain(bus, settle=0.3) == []
    assert await audited(db, "member.erased") == [] and await audited(db, "contact.erasure_requested") == []
    denied = await audited(db, "permission.denied")
    assert denied == [(publisher_id, "members.erase", {}), (publisher_id, "members.erase", {})]


# ---- subscriber import ------------------------------------------------------------------------


async def test_a_publisher_imports_subscribers_row_by_row_as_themself_audited_once(
    console: str, db: Any, bus: Any
) -> None:
    publisher_id, publisher = await operator(console, db, Role.publisher)
    rows = [
        ROW,
        {**ROW, "name": "No Proof", "phone": "012 345 679", "consent_record": None},  # confirmed without
        {**ROW, "name": "Bad1 Name", "phone": "12", "channels": ["fax"], "time_zone": "Mars/Base"},
        {"name": "Chan Sophea", "country": "US", "email": "sophea@example.org", "channels": ["email"]},
    ]
    async with httpx.AsyncClient(base_url=console, headers=publisher) as client:
        anonymous = await client.post(SUBSCRIBERS, headers={"Authorization": ""}, json={"subscribers": rows})
        imported = await client.post(SUBSCRIBERS, json={"subscribers": rows})
        malformed = await client.post(
            SUBSCRIBERS,
            content=b'{"subscribers": "Secret Name"}',
            headers={"Content-Type": "application/json"},
        )
    assert anonymous.status_code == 401
    assert imported.status_code == 200, imported.text
    body = imported.json()
    assert (body["accepted"], body["refused"]) == (2, 2)
    assert [r["state"] for r in body["results"]] == ["accepted", "refused", "refused", "accepted"]
    assert [e["field"] for e in body["results"][1]["errors"]] == ["consent_record"]
    assert {e["field"] for e in body["results"][2]["errors"]} == {"name", "phone", "channels", "time_zone"}
    assert malformed.status_code == 422 and "Secret Name" not in malformed.text

    events = await drain(bus, settle=0.3)
    assert [e["type"] for e in events] == ["subscription.requested.v1"] * 2
    assert {e["actor"] for e in events} == {publisher_id}
    first, second = (e["data"] for e in events)
    assert first["subscription_id"] == body["results"][0]["subscription_id"]
    assert (first["source"], first["confirmed"], first["contact"]["phone"]) == (
        "operator-import",
        True,
        "+85512345678",
    )
    assert first["consent"]["text_version"] == "paper-2026-10"
    assert (second["confirmed"], second["consent"]["text_version"]) == (False, "pledge-consent-2026-11")
    assert second["preferences"]["language"] == "en" and second["contact"]["email"] == "sophea@example.org"
    [(who, _, detail)] = await audited(db, "subscribers.imported")
    assert who == publisher_id
    assert detail == {"rows": 4, "accepted": 2, "refused": 2, "retry": 0}


# ---- export -----------------------------------------------------------------------------------


async def test_a_publisher_exports_a_member_and_each_export_is_audited(console: str, db: Any) -> None:
    await seed_member(db)
    await seed_member(db, "mb_2", "other@example.org", "KCAP-2026-000077-QRST")
    publisher_id, publisher = await operator(console, db, Role.publisher)
    async with httpx.AsyncClient(base_url=console, headers=publisher) as client:
        exported = await client.get(f"{OPERATOR_API}/members/mb_1/export")
        unknown = await client.get(f"{OPERATOR_API}/members/mb_nobody/export")
    assert exported.status_code == 200, exported.text
    data = exported.json()
    assert data["member"]["email"] == "dara@example.org" and data["member_id"] == "mb_1"
    assert [p["_id"] for p in data["pledges"]] == ["pl_mb_1"]
    assert [c["number"] for c in data["certificates"]] == [NUMBER]
    assert [d["_id"] for d in data["deliveries"]] == ["dl_mb_1"] and "request" not in data["deliveries"][0]
    assert "other@example.org" not in exported.text
    assert (
        unknown.status_code == 404 and unknown.json()["detail"] == "mb_nobody is not known (nothing to erase)"
    )
    assert await audited(db, "member.exported") == [
        (publisher_id, "mb_1", {"found": True}),
        (publisher_id, "mb_nobody", {"found": False}),
    ]


# ---- erasure ----------------------------------------------------------------------------------


async def test_an_admin_erases_a_member_the_event_carries_them_and_it_is_audited_once(
    console: str, db: Any, bus: Any
) -> None:
    await seed_member(db)
    admin_id, admin = await operator(console, db, Role.admin)
    async with httpx.AsyncClient(base_url=console, headers=admin) as client:
        erased = await client.post(f"{OPERATOR_API}/members/mb_1/erase")
        unknown = await client.post(f"{OPERATOR_API}/members/mb_nobody/erase")
        await db.erasures.insert_one({"_id": "mb_1", "state": "erased"})  # as pledge-intake records it
        again = await client.post(f"{OPERATOR_API}/members/mb_1/erase")
    assert erased.status_code == 202, erased.text
    assert erased.json()["state"] == "requested" and erased.json()["detail"] == "erasure of mb_1 requested"
    assert unknown.status_code == 404 and unknown.json() == {
        "state": "unknown",
        "detail": "mb_nobody is not known (nothing to erase)",
    }
    assert again.status_code == 200 and again.json() == {
        "state": "already-erased",
        "detail": "mb_1 was already erased",
    }
    [event] = await drain(bus, settle=0.3)
    assert event["type"] == "member.erasure_requested.v1" and event["actor"] == admin_id
    assert event["data"]["member_id"] == "mb_1" and event["data"]["source"] == "operator-api"
    assert event["data"]["request_id"] == erased.json()["request_id"]
    assert await audited(db, "member.erased") == [
        (admin_id, "mb_1", {"state": "requested", "request_id": erased.json()["request_id"]}),
        (admin_id, "mb_nobody", {"state": "unknown"}),
        (admin_id, "mb_1", {"state": "already-erased"}),
    ]


async def test_an_admin_erases_a_contact_and_every_member_holding_it_without_the_contact_in_the_trail(
    console: str, db: Any, bus: Any
) -> None:
    await seed_member(db)
    admin_id, admin = await operator(console, db, Role.admin)
    async with httpx.AsyncClient(base_url=console, headers=admin) as client:
        invalid = await client.post(ERASURES, json={"phone": "12"})
        nothing = await client.post(ERASURES, json={})
        erased = await client.post(ERASURES, json={"email": "DARA@example.org"})
        stranger = await client.post(ERASURES, json={"phone": "+85512345678"})
    assert invalid.status_code == 422 and invalid.json()["detail"][0]["field"] == "phone"
    assert "12" not in json.dumps(invalid.json()["detail"][0]["message"])
    assert nothing.status_code == 422 and nothing.json()["detail"][0]["code"] == "contact_required"
    assert erased.status_code == 202, erased.text
    assert erased.json()["members"] == ["mb_1"] and "1 member(s)" in erased.json()["detail"]
    assert stranger.status_code == 202 and stranger.json()["members"] == []
    events = await drain(bus, settle=0.3)
    assert [e["type"] for e in events] == [
        "member.erasure_requested.v1",
        "contact.erasure_requested.v1",
        "contact.erasure_requested.v1",
    ]
    assert {e["actor"] for e in events} == {admin_id}
    assert events[0]["data"]["member_id"] == "mb_1"
    assert events[1]["data"]["request_id"] == erased.json()["request_id"]
    assert events[1]["data"]["contact_digests"][0].startswith("email:")
    trail = await audited(db, "contact.erasure_requested")
    assert trail == [
        (admin_id, erased.json()["request_id"], {"kinds": ["email"], "members": 1, "handed_over": 2}),
        (admin_id, stranger.json()["request_id"], {"kinds": ["phone"], "members": 0, "handed_over": 1}),
    ]
    stored = json.dumps([e["detail"] for e in await db.audit_events.find().to_list(None)])
    assert "dara" not in stored.lower() and "12345678" not in stored


async def test_while_the_broker_is_away_an_erasure_answers_503_and_nothing_is_audited_as_done(
    make_console: Callable[..., Any], dead_broker_url: str, db: Any
) -> None:
    await seed_member(db)
    token = await operator_token(db, Role.admin)
    async with (
        make_console(wait_ready=False, amqp_url=dead_broker_url, submit_timeout_seconds=0.5) as url,
        httpx.AsyncClient(base_url=url, headers=bearer(token)) as client,
    ):
        member = await client.post(f"{OPERATOR_API}/members/mb_1/erase")
        contact = await client.post(ERASURES, json={"email": "dara@example.org"})
    for answer in (member, contact):
        assert answer.status_code == 503 and answer.headers["retry-after"] == "30", answer.text
    assert await db.audit_events.count_documents({"action": "member.erased"}) == 0
    [failed] = await db.audit_events.find({"action": "contact.erasure_requested"}).to_list(None)
    assert failed["outcome"] == "failed" and failed["detail"]["handed_over"] == 0


# ---- certificate re-issue ---------------------------------------------------------------------


async def test_a_publisher_reissues_a_certificate_as_themself_once_valid_only(
    console: str, db: Any, bus: Any
) -> None:
    await seed_member(db)
    publisher_id, publisher = await operator(console, db, Role.publisher)
    path = f"{OPERATOR_API}/certificates/{NUMBER}/reissue"
    async with httpx.AsyncClient(base_url=console, headers=publisher) as client:
        bad_name = await client.post(path, json={"corrected_name": "<b>", "reason": "misspelt"})
        short_reason = await client.post(path, json={"corrected_name": "Sok Dara", "reason": "x"})
        unknown = await client.post(
            f"{OPERATOR_API}/certificates/KCAP-2026-999999/reissue",
            json={"corrected_name": "Sok Dara", "reason": "misspelt"},
        )
        accepted = await client.post(
            path.lower(), json={"corrected_name": "Sok  Dara", "reason": "name misspelt on the sheet"}
        )
        await db.certificates.update_one(  # as certificate-renderer replaces it
            {"number": NUMBER}, {"$set": {"state": "replaced", "replaced_by": "KCAP-2026-000043-WXYZ"}}
        )
        again = await client.post(path, json={"corrected_name": "Sok Dara", "reason": "twice"})
    assert bad_name.status_code == 422 and bad_name.json()["detail"][0]["field"] == "corrected_name"
    assert short_reason.status_code == 422
    assert unknown.status_code == 404
    assert accepted.status_code == 202, accepted.text
    assert accepted.json() == {"status": "requested", "certificate_number": NUMBER}
    assert again.status_code == 409 and "KCAP-2026-000043-WXYZ" in again.json()["detail"]
    [event] = await drain(bus, settle=0.3)
    assert event["type"] == "certificate.reissue_requested.v1" and event["actor"] == publisher_id
    assert event["data"]["certificate_number"] == NUMBER and event["data"]["pledge_id"] == "pl_mb_1"
    assert event["data"]["corrected_name"] == "Sok Dara"
    assert event["data"]["reason"] == "name misspelt on the sheet"
    assert await audited(db, "certificate.reissue_requested") == [
        (publisher_id, NUMBER, {"pledge_id": "pl_mb_1"})
    ]


async def test_a_console_configured_with_a_smaller_import_limit_refuses_larger_imports_with_413(
    make_console: Callable[..., Any], db: Any, bus: Any
) -> None:
    token = await operator_token(db, Role.publisher)
    rows = [{**ROW, "name": f"Keo Rith {'a' * n}"} for n in range(1, 20)]
    async with (
        make_console(subscriber_import_max_bytes=2048) as url,
        httpx.AsyncClient(base_url=url) as client,
    ):
        anonymous = await client.post(SUBSCRIBERS, json={"subscribers": rows[:1]})
        refused = await client.post(SUBSCRIBERS, headers=bearer(token), json={"subscribers": rows})
        documented = (await client.get("/openapi.json")).json()
    assert anonymous.status_code == 401
    assert refused.status_code == 413 and refused.json()["detail"][0]["limit_bytes"] == 2048
    assert await drain(bus, settle=0.3) == []
    operation = documented["paths"][SUBSCRIBERS]["post"]
    assert operation["x-body-limit-bytes"] == 2048, "the configured limit is shown in /docs"
    assert "subscribers" in operation["requestBody"]["content"]["application/json"]["schema"]["properties"]
