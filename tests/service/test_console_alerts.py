"""Operators' alert lifecycle on the console (real broker and Mongo-wire server): an editor drafts,
a publisher publishes, a viewer reads the totals; drafts nobody sees until published, publishing
a draft once however often it is asked, deadline extensions and closure, 503 while the broker is
away; every action audited once as its operator, every event carrying them as `actor`."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from devstack.broker import RabbitNode
from services.console.permissions import Role
from tests.integration.test_alerts import ALERT
from tests.support.console import bearer, operator_token
from tests.support.handed_over import drain, watched

ALERTS = "/api/v1/operator/alerts"


@pytest.fixture
async def published(rabbit: RabbitNode) -> AsyncIterator[Any]:
    """The dispatcher's alert queue, declared but not consumed: what the console publishes stays readable."""
    async with watched(rabbit.url, "test-alerts", ("alert.published.v1",)) as queue:
        yield queue


def alert(number: str, title: str = "Release Sok Vanna") -> dict[str, Any]:
    body = copy.deepcopy(ALERT)
    body["number"] = number
    body["texts"]["en"]["title"] = title
    body["deadline"] = "2026-12-15T00:00:00Z"
    return body


async def operator(console: str, db: Any, role: Role) -> tuple[str, dict[str, str]]:
    """A new operator with `role`: their id and the headers of their API token."""
    headers = bearer(await operator_token(db, role))
    async with httpx.AsyncClient(base_url=console, headers=headers) as client:
        me = await client.get("/api/v1/operator/me")
    assert me.status_code == 200, me.text
    return me.json()["operator"]["id"], headers


async def audited(db: Any, action: str) -> list[tuple[str, str | None, dict[str, Any]]]:
    """(operator_id, object_id, detail) of each audit event of `action`, oldest first."""
    events = await db.audit_events.find({"action": action}).sort("at", 1).to_list(None)
    return [(e["operator_id"], e["object_id"], e["detail"]) for e in events]


async def keep_published(db: Any, alert_id: str, number: str, **extra: Any) -> None:
    """An alert as the dispatcher keeps it once published."""
    await db.alerts.insert_one(
        {
            "_id": alert_id,
            **{k: v for k, v in alert(number).items() if k != "deadline"},
            "deadline": datetime(2026, 12, 15, tzinfo=UTC),
            "alert_id": alert_id,
            "kind": "alert",
            "sequence": 0,
            "state": "published",
            "public_url": f"http://intake.test/a/{number.replace(' ', '-').replace('/', '-')}",
            "published_at": datetime(2026, 11, 1, tzinfo=UTC),
            **extra,
        }
    )


async def test_an_editor_drafts_and_rewrites_and_only_a_publisher_publishes_it_once_as_themself(
    console: str, intake: str, db: Any, published: Any
) -> None:
    editor_id, editor = await operator(console, db, Role.editor)
    publisher_id, publisher = await operator(console, db, Role.publisher)
    async with httpx.AsyncClient(base_url=console) as client:
        created = await client.post(ALERTS, headers=editor, params={"draft": "true"}, json=alert("UA 30/26"))
        assert created.status_code == 201, created.text
        alert_id = created.json()["alert_id"]
        assert created.json()["state"] == "draft"
        rewritten = await client.put(
            f"{ALERTS}/{alert_id}", headers=editor, json=alert("UA 30/26", "Free Sok Vanna")
        )
        assert rewritten.status_code == 200, rewritten.text
        shown = (await client.get(f"{ALERTS}/{alert_id}", headers=editor)).json()
        assert shown["alert"]["state"] == "draft"
        assert shown["alert"]["texts"]["en"]["title"] == "Free Sok Vanna"
        listed = (await client.get(ALERTS, headers=editor)).json()["alerts"]
        assert [(a["alert_id"], a["state"]) for a in listed if a["alert_id"] == alert_id] == [
            (alert_id, "draft")
        ]

        # an editor may not publish: neither their draft nor a new alert at once
        refused = await client.post(f"{ALERTS}/{alert_id}/publish", headers=editor)
        direct = await client.post(ALERTS, headers=editor, json=alert("UA 36/26"))
        assert refused.status_code == direct.status_code == 403
        assert await drain(published) == []
        assert await db.alert_drafts.count_documents({"number": "UA 36/26"}) == 0
        assert (await db.alert_drafts.find_one({"_id": alert_id}))["state"] == "draft"
        async with httpx.AsyncClient(base_url=intake) as public:
            assert (await public.get("/a/UA-30-26")).status_code == 404  # the public sees nothing yet

        first = await client.post(f"{ALERTS}/{alert_id}/publish", headers=publisher)
        again = await client.post(f"{ALERTS}/{alert_id}/publish", headers=publisher)
        assert first.status_code == 202, first.text
        assert first.json()["public_url"] == "http://intake.test/a/UA-30-26"
        assert again.status_code == 200 and again.json()["state"] == "published"
        [event] = await drain(published)
        assert event["actor"] == publisher_id
        assert event["data"]["alert_id"] == alert_id
        assert event["data"]["texts"]["en"]["title"] == "Free Sok Vanna"
        assert event["data"]["kind"] == "alert" and event["data"]["sequence"] == 0
        assert event["data"]["public_url"] == "http://intake.test/a/UA-30-26"

        late = await client.put(f"{ALERTS}/{alert_id}", headers=editor, json=alert("UA 30/26"))
        assert late.status_code == 409

    number = {"number": "UA 30/26"}
    assert await audited(db, "alert.drafted") == [(editor_id, alert_id, number)]
    assert await audited(db, "alert.draft_rewritten") == [(editor_id, alert_id, number)]
    assert await audited(db, "alert.published") == [(publisher_id, alert_id, number)]
    assert await audited(db, "permission.denied") == [
        (editor_id, "alerts.publish", {}),
        (editor_id, "alerts.publish", {}),
    ]


async def test_a_publisher_publishes_at_once_and_an_admin_updates_and_closes_it(
    console: str, db: Any, published: Any, admin_token: str
) -> None:
    publisher_id, publisher = await operator(console, db, Role.publisher)
    async with httpx.AsyncClient(base_url=console, headers=publisher) as client:
        answer = await client.post(ALERTS, json=alert("UA 37/26"))
        me = await client.get("/api/v1/operator/me", headers=bearer(admin_token))
    assert answer.status_code == 202, answer.text
    alert_id = answer.json()["alert_id"]
    assert answer.json() == {
        "alert_id": alert_id,
        "number": "UA 37/26",
        "public_url": "http://intake.test/a/UA-37-26",
        "state": "published",
    }
    [event] = await drain(published)
    assert event["actor"] == publisher_id and event["data"]["alert_id"] == alert_id
    assert await audited(db, "alert.published") == [(publisher_id, alert_id, {"number": "UA 37/26"})]
    assert await db.alert_drafts.count_documents({"state": "draft"}) == 0  # published at once: never a draft
    async with httpx.AsyncClient(base_url=console, headers=publisher) as client:
        listed = await client.get(ALERTS)
    assert [a["alert_id"] for a in listed.json()["alerts"]] == []  # the number's reservation is not listed

    await keep_published(db, alert_id, "UA 37/26")  # as the dispatcher keeps it
    admin_id = me.json()["operator"]["id"]
    async with httpx.AsyncClient(base_url=console, headers=bearer(admin_token)) as client:
        update = await client.post(f"{ALERTS}/{alert_id}/updates", json={"kind": "update"})
        assert update.status_code == 202, update.text
        assert update.json() == {"alert_id": alert_id, "sequence": 1, "kind": "update"}
        await db.alerts.update_one({"_id": alert_id}, {"$set": {"sequence": 1}})  # the dispatcher's
        closure = await client.post(f"{ALERTS}/{alert_id}/updates", json={"kind": "closure"})
        assert closure.status_code == 202, closure.text
        await db.alerts.update_one({"_id": alert_id}, {"$set": {"state": "closed", "sequence": 2}})
        after = await client.post(f"{ALERTS}/{alert_id}/updates", json={"kind": "update"})
        unknown = await client.post(f"{ALERTS}/al_nobody/updates", json={"kind": "update"})
    assert after.status_code == 409 and unknown.status_code == 404
    events = await drain(published)
    assert [(e["data"]["kind"], e["data"]["sequence"], e["actor"]) for e in events] == [
        ("update", 1, admin_id),
        ("closure", 2, admin_id),
    ]
    assert await audited(db, "alert.changed") == [
        (admin_id, alert_id, {"kind": "update", "sequence": 1}),
        (admin_id, alert_id, {"kind": "closure", "sequence": 2}),
    ]


async def test_a_viewer_reads_the_list_and_the_totals_but_may_not_draft_publish_or_change(
    console: str, db: Any, published: Any
) -> None:
    viewer_id, viewer = await operator(console, db, Role.viewer)
    await keep_published(db, "al_totals", "UA 38/26", updated_at=datetime(2026, 11, 2, tzinfo=UTC))
    await db.deliveries.insert_many(
        [
            {"_id": "dl_t1", "purpose": "alert", "correlation_id": "al_totals", "source_id": "al_totals#0",
             "member_id": "mb_1", "state": "sent", "channel": "email"},
            {"_id": "dl_t2", "purpose": "alert", "correlation_id": "al_totals", "source_id": "al_totals#0",
             "member_id": "mb_2", "state": "delivered", "channel": "signal"},
        ]
    )  # fmt: skip
    await db.action_reports.insert_one(
        {"_id": "ar_1", "alert_id": "al_totals", "member_id": "mb_1", "source": "link"}
    )
    await db.official_actions.insert_one(
        {"_id": "oa_1", "alert_id": "al_totals", "member_id": "mb_1", "official": 0}
    )
    async with httpx.AsyncClient(base_url=console, headers=viewer) as client:
        listed = await client.get(ALERTS)
        totals = await client.get(f"{ALERTS}/al_totals")
        unknown = await client.get(f"{ALERTS}/al_nobody")
        refused = [
            await client.post(ALERTS, params={"draft": "true"}, json=alert("UA 39/26")),
            await client.post(ALERTS, json=alert("UA 39/26")),
            await client.put(f"{ALERTS}/al_totals", json=alert("UA 39/26")),
            await client.post(f"{ALERTS}/al_totals/publish"),
            await client.post(f"{ALERTS}/al_totals/updates", json={"kind": "closure"}),
        ]
    assert listed.status_code == 200
    assert [(a["alert_id"], a["number"], a["state"]) for a in listed.json()["alerts"]] == [
        ("al_totals", "UA 38/26", "published")
    ]
    assert totals.status_code == 200, totals.text
    assert totals.json()["deliveries_by_sequence"] == {"0": {"sent": 1, "delivered": 1}}
    assert totals.json()["actions"] == {
        "total": 1,
        "by_source": {"link": 1},
        "by_official": [{"official": 0, "name": "Minister of Justice", "members": 1}],
    }
    assert "mb_1" not in totals.text, "counts, nobody's id"
    assert unknown.status_code == 404
    assert [r.status_code for r in refused] == [403] * 5
    assert await db.alert_drafts.count_documents({}) == 0
    assert await drain(published) == []
    denied = await audited(db, "permission.denied")
    assert [(who, what) for who, what, _ in denied] == [(viewer_id, "alerts.draft")] * 3 + [
        (viewer_id, "alerts.publish")
    ] * 2
    assert await db.audit_events.count_documents({"action": {"$regex": "^alert\\."}}) == 0


async def test_a_number_held_by_a_draft_cannot_be_used_again(console: str, db: Any, published: Any) -> None:
    _, publisher = await operator(console, db, Role.publisher)
    async with httpx.AsyncClient(base_url=console, headers=publisher) as client:
        held = await client.post(ALERTS, params={"draft": "true"}, json=alert("UA 31/26"))
        assert held.status_code == 201
        clash = await client.post(ALERTS, json=alert("UA 31/26"))
        assert clash.status_code == 409
        assert clash.json()["detail"][0]["field"] == "number"
        other = await client.post(ALERTS, params={"draft": "true"}, json=alert("UA 40/26"))
        renamed = await client.put(f"{ALERTS}/{other.json()['alert_id']}", json=alert("UA 31/26"))
        assert renamed.status_code == 409 and renamed.json()["detail"][0]["code"] == "taken"
        await keep_published(db, "al_old", "UA 41/26")
        reused = await client.post(ALERTS, params={"draft": "true"}, json=alert("UA 41/26"))
        assert reused.status_code == 409 and reused.json()["detail"][0]["field"] == "number"
        # two operators saving the same new number at once: one draft holds it
        racing = await asyncio.gather(
            *(client.post(ALERTS, params={"draft": "true"}, json=alert("UA 42/26")) for _ in range(4))
        )
    assert sorted(r.status_code for r in racing) == [201, 409, 409, 409]
    assert await db.alert_drafts.count_documents({"number": "UA 42/26"}) == 1
    assert await drain(published) == []
    assert await db.audit_events.count_documents({"action": "alert.drafted"}) == 3  # 31, 40, 42


async def test_an_invalid_alert_is_refused_naming_the_field_without_echoing_it(
    console: str, db: Any, published: Any, admin_token: str
) -> None:
    no_khmer = alert("UA 43/26")
    del no_khmer["texts"]["km"]
    async with httpx.AsyncClient(base_url=console, headers=bearer(admin_token)) as client:
        missing = await client.post(ALERTS, params={"draft": "true"}, json=no_khmer)
        bad_number = await client.post(ALERTS, json={**alert("UA 43/26"), "number": "secret-number-43"})
        no_topics = await client.post(ALERTS, json={**alert("UA 43/26"), "topics": []})
        broken = await client.post(
            ALERTS, content=b'{"number": "hidden-input', headers={"Content-Type": "application/json"}
        )
        unknown_draft = await client.put(f"{ALERTS}/al_nobody", json=alert("UA 43/26"))
        unknown_publish = await client.post(f"{ALERTS}/al_nobody/publish")
    assert missing.status_code == 422
    assert missing.json()["detail"] == [
        {"field": "texts.km", "code": "required", "message": "km text is required"}
    ]
    assert bad_number.status_code == 422 and "secret-number-43" not in bad_number.text
    assert bad_number.json()["detail"][0]["loc"] == ["body", "number"]
    assert no_topics.status_code == 422 and no_topics.json()["detail"][0]["loc"] == ["body", "topics"]
    assert broken.status_code == 422 and "hidden-input" not in broken.text
    assert unknown_draft.status_code == unknown_publish.status_code == 404
    assert await drain(published) == []
    assert await db.alert_drafts.count_documents({}) == 0
    assert await db.audit_events.count_documents({"action": {"$regex": "^alert\\."}}) == 0


async def test_an_extension_must_move_the_deadline_later(
    console: str, db: Any, published: Any, admin_token: str
) -> None:
    await keep_published(db, "al_extension", "UA 33/26")
    url = f"{ALERTS}/al_extension/updates"
    async with httpx.AsyncClient(base_url=console, headers=bearer(admin_token)) as client:
        missing = await client.post(url, json={"kind": "extension"})
        earlier = await client.post(url, json={"kind": "extension", "deadline": "2026-12-01T00:00:00Z"})
        later = await client.post(url, json={"kind": "extension", "deadline": "2027-01-15T00:00:00Z"})
    assert missing.status_code == 422 and missing.json()["detail"][0]["field"] == "deadline"
    assert earlier.status_code == 422 and earlier.json()["detail"][0]["code"] == "not-later"
    assert later.status_code == 202, later.text
    events = await drain(published)
    assert [(e["data"]["kind"], e["data"]["sequence"], e["data"]["deadline"][:10]) for e in events] == [
        ("extension", 1, "2027-01-15")
    ]
    assert [detail for _, _, detail in await audited(db, "alert.changed")] == [
        {"kind": "extension", "sequence": 1}
    ]


async def test_while_the_broker_is_away_publishing_answers_503_and_the_draft_waits_for_a_retry(
    make_console: Callable[..., Any], dead_broker_url: str, db: Any, published: Any
) -> None:
    publisher_id, publisher = await operator_token_only(db, Role.publisher)
    async with (
        make_console(wait_ready=False, amqp_url=dead_broker_url, submit_timeout_seconds=0.5) as url,
        httpx.AsyncClient(base_url=url, headers=publisher, timeout=30) as client,
    ):
        direct = await client.post(ALERTS, json=alert("UA 44/26"))
        drafted = await client.post(ALERTS, params={"draft": "true"}, json=alert("UA 45/26"))
        assert drafted.status_code == 201, drafted.text  # a draft needs no broker
        alert_id = drafted.json()["alert_id"]
        refused = await client.post(f"{ALERTS}/{alert_id}/publish")
        update = await client.post(f"{ALERTS}/al_x/updates", json={"kind": "update"})
    for answer in (direct, refused):
        assert answer.status_code == 503 and answer.headers["retry-after"] == "30", answer.text
    assert update.status_code == 404
    assert (await db.alert_drafts.find_one({"_id": alert_id}))["state"] == "draft"
    assert await audited(db, "alert.published") == []

    async with (
        make_console() as url,
        httpx.AsyncClient(base_url=url, headers=publisher) as client,
    ):
        retried = await client.post(f"{ALERTS}/{alert_id}/publish")
    assert retried.status_code == 202, retried.text
    [event] = await drain(published)
    assert event["data"]["number"] == "UA 45/26" and event["actor"] == publisher_id
    assert [(who, what) for who, what, _ in await audited(db, "alert.published")] == [
        (publisher_id, alert_id)
    ]


async def operator_token_only(db: Any, role: Role) -> tuple[str, dict[str, str]]:
    """An operator and their token's headers, read from the database (no console to ask)."""
    token = await operator_token(db, role)
    stored = await db.operators.find_one({"role": role.value})
    return stored["_id"], bearer(token)


async def test_a_double_click_or_a_retry_publishes_one_alert_and_another_alert_cannot_take_its_number(
    make_console: Callable[..., Any], dead_broker_url: str, db: Any, published: Any
) -> None:
    publisher_id, publisher = await operator_token_only(db, Role.publisher)
    body = alert("UA 46/26")
    async with (  # the broker is away: nothing is handed over, the number is held for this alert
        make_console(wait_ready=False, amqp_url=dead_broker_url, submit_timeout_seconds=0.5) as url,
        httpx.AsyncClient(base_url=url, headers=publisher, timeout=30) as client,
    ):
        assert (await client.post(ALERTS, json=body)).status_code == 503
    async with make_console() as url, httpx.AsyncClient(base_url=url, headers=publisher) as client:
        clicks = await asyncio.gather(*(client.post(ALERTS, json=body) for _ in range(3)))
        other = await client.post(ALERTS, json=alert("UA 46/26", title="Another case"))
    assert {answer.status_code for answer in clicks} == {202}, [a.text for a in clicks]
    assert len({answer.json()["alert_id"] for answer in clicks}) == 1
    assert other.status_code == 409 and other.json()["detail"][0]["code"] == "taken"
    [event] = await drain(published, settle=0.5)  # one alert, one event however often it is sent
    assert event["data"]["alert_id"] == clicks[0].json()["alert_id"]
    assert [who for who, _, _ in await audited(db, "alert.published")] == [publisher_id]


def keyed(headers: dict[str, str], key: str) -> dict[str, str]:
    return {**headers, "Idempotency-Key": key}


async def test_the_same_idempotency_key_twice_or_at_once_fans_out_one_alert(
    console: str, db: Any, published: Any
) -> None:
    """The dispatcher is not running here: what the console published stays on the queue, and the
    number is held by the console alone."""
    publisher_id, publisher = await operator(console, db, Role.publisher)
    _, other_publisher = await operator(console, db, Role.publisher)
    async with httpx.AsyncClient(base_url=console) as client:
        first = await client.post(ALERTS, headers=keyed(publisher, "k-50"), json=alert("UA 50/26"))
        again = await client.post(ALERTS, headers=keyed(publisher, "k-50"), json=alert("UA 50/26"))
        racing = await asyncio.gather(  # several at once: a twin may reserve between one's checks
            *(client.post(ALERTS, headers=keyed(publisher, "k-51"), json=alert("UA 51/26")) for _ in range(5))
        )
        reused = await client.post(ALERTS, headers=keyed(publisher, "k-50"), json=alert("UA 52/26"))
        edited = await client.post(ALERTS, headers=keyed(publisher, "k-50"), json=alert("UA 50/26", "Other"))
        theirs = await client.post(ALERTS, headers=keyed(other_publisher, "k-50"), json=alert("UA 53/26"))
        drafted = [
            await client.post(
                ALERTS, headers=keyed(publisher, "k-54"), params={"draft": "true"}, json=alert("UA 54/26")
            )
            for _ in range(2)
        ]
    assert first.status_code == again.status_code == 202, again.text
    assert again.json() == first.json()
    assert [r.status_code for r in racing] == [202] * 5, [r.text for r in racing]
    assert all(r.json() == racing[0].json() for r in racing)
    for refused in (reused, edited):
        assert refused.status_code == 422, refused.text
        assert refused.json()["detail"][0]["field"] == "Idempotency-Key"
    assert (
        theirs.status_code == 202 and theirs.json()["alert_id"] != first.json()["alert_id"]
    )  # keys are one's own
    assert [r.status_code for r in drafted] == [201, 201] and drafted[0].json() == drafted[1].json()
    events = await drain(published, settle=0.5)
    assert sorted(e["data"]["number"] for e in events) == ["UA 50/26", "UA 51/26", "UA 53/26"]
    assert {e["data"]["alert_id"] for e in events} >= {first.json()["alert_id"], racing[0].json()["alert_id"]}
    assert await db.alert_drafts.count_documents({"number": {"$in": ["UA 52/26", "UA 54/26"]}}) == 1
    mine = [what for who, what, _ in await audited(db, "alert.published") if who == publisher_id]
    assert sorted(mine) == sorted([first.json()["alert_id"], racing[0].json()["alert_id"]])
    assert len(await audited(db, "alert.drafted")) == 1


async def test_a_twin_that_reserves_the_number_between_a_requests_checks_is_the_same_alert(
    console: str, db: Any, published: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two requests with one key at once: the twin may reserve the number after this request looked
    for its key and before it checks the number (seen once on a loaded machine: 409 for the twin).
    The twin's reservation is made exactly there, in the console's own process."""
    from services.console.routes import alerts as routes

    checks = routes.invalid

    async def twin_reserves_first(db_: Any, body: Any, alert_id: str | None) -> Any:
        twin = routes.held(alert_id or "", body, None, False, routes.request_digest(body, False))  # type: ignore[arg-type]
        await db_.alert_drafts.insert_one(twin)
        return await checks(db_, body, alert_id)

    _, publisher = await operator(console, db, Role.publisher)
    monkeypatch.setattr(routes, "invalid", twin_reserves_first)
    async with httpx.AsyncClient(base_url=console) as client:
        answer = await client.post(ALERTS, headers=keyed(publisher, "k-57"), json=alert("UA 57/26"))
    assert answer.status_code == 202, answer.text
    events = await drain(published, settle=0.5)
    assert [e["data"]["alert_id"] for e in events] == [answer.json()["alert_id"]]


async def test_without_a_key_another_alert_with_a_held_number_is_a_conflict_and_fans_out_nothing(
    console: str, db: Any, published: Any
) -> None:
    """The dispatcher is not running here, so `alerts` stays empty: the number is held at request
    time by the console."""
    _, publisher = await operator(console, db, Role.publisher)
    async with httpx.AsyncClient(base_url=console, headers=publisher) as client:
        first = await client.post(ALERTS, json=alert("UA 55/26"))
        second = await client.post(ALERTS, json=alert("UA 55/26", title="Another case"))
        racing = await asyncio.gather(
            client.post(ALERTS, json=alert("UA 56/26")),
            client.post(ALERTS, json=alert("UA 56/26", title="Another case")),
        )
    assert first.status_code == 202, first.text
    assert second.status_code == 409 and second.json()["detail"][0] == {
        "field": "number",
        "code": "taken",
        "message": "number already used",
    }
    assert sorted(r.status_code for r in racing) == [202, 409]
    events = await drain(published, settle=0.5)
    assert sorted(e["data"]["number"] for e in events) == ["UA 55/26", "UA 56/26"]
    assert await db.alerts.count_documents({}) == 0


async def test_a_draft_published_by_two_clicks_at_once_fans_out_once(
    console: str, db: Any, published: Any
) -> None:
    _, publisher = await operator(console, db, Role.publisher)
    async with httpx.AsyncClient(base_url=console, headers=publisher) as client:
        created = await client.post(ALERTS, params={"draft": "true"}, json=alert("UA 57/26"))
        alert_id = created.json()["alert_id"]
        clicks = await asyncio.gather(*(client.post(f"{ALERTS}/{alert_id}/publish") for _ in range(3)))
    assert sorted(r.status_code for r in clicks) == [200, 200, 202], [r.text for r in clicks]
    [event] = await drain(published, settle=0.5)
    assert event["data"]["alert_id"] == alert_id
    assert [what for _, what, _ in await audited(db, "alert.published")] == [alert_id]


@pytest.mark.parametrize("texts", [{}, {"en": ALERT["texts"]["en"]}])
async def test_an_update_with_texts_in_one_language_or_none_is_refused_and_nothing_is_published(
    console: str, db: Any, published: Any, admin_token: str, texts: dict[str, Any]
) -> None:
    await keep_published(db, "al_texts", "UA 47/26")
    async with httpx.AsyncClient(base_url=console, headers=bearer(admin_token)) as client:
        answer = await client.post(f"{ALERTS}/al_texts/updates", json={"kind": "update", "texts": texts})
    assert answer.status_code == 422, answer.text
    assert answer.json()["detail"][0]["loc"][:2] == ["body", "texts"]
    assert await drain(published) == []


@pytest.mark.parametrize("flag", ["urgent", "sensitive"])
async def test_an_urgent_or_sensitive_alert_is_published_only_after_a_second_publisher_approves_its_content(
    console: str, db: Any, published: Any, flag: str
) -> None:
    author_id, author = await operator(console, db, Role.publisher)
    approver_id, approver = await operator(console, db, Role.publisher)
    _, editor = await operator(console, db, Role.editor)
    body = {**alert("UA 50/26"), flag: True}
    async with httpx.AsyncClient(base_url=console) as client:
        direct = await client.post(ALERTS, headers=author, json=body)
        assert direct.status_code == 409 and "approval" in direct.json()["detail"]
        assert await db.alert_drafts.count_documents({}) == 0, "nothing reserved or kept"

        alert_id = (await client.post(ALERTS, headers=author, params={"draft": "true"}, json=body)).json()[
            "alert_id"
        ]
        unapproved = await client.post(f"{ALERTS}/{alert_id}/publish", headers=author)
        own = await client.post(f"{ALERTS}/{alert_id}/approve", headers=author)
        by_editor = await client.post(f"{ALERTS}/{alert_id}/approve", headers=editor)
        assert unapproved.status_code == 409 and own.status_code == 409 and by_editor.status_code == 403
        first = await client.post(f"{ALERTS}/{alert_id}/approve", headers=approver)
        assert first.status_code == 200 and first.json()["approved_by"] == approver_id, first.text
        # a later edit (by anyone) voids the approval: approved is what was read, only that
        edited = await client.put(f"{ALERTS}/{alert_id}", headers=author, json={**body, "officials": []})
        assert edited.status_code == 200
        voided = await client.post(f"{ALERTS}/{alert_id}/publish", headers=author)
        assert voided.status_code == 409 and "current content" in voided.json()["detail"]
        again = await client.post(f"{ALERTS}/{alert_id}/approve", headers=approver)
        twice = await client.post(f"{ALERTS}/{alert_id}/approve", headers=approver)
        assert again.status_code == twice.status_code == 200
        by_approver = await client.post(f"{ALERTS}/{alert_id}/publish", headers=approver)
        assert by_approver.status_code == 409 and "another publisher" in by_approver.json()["detail"]
        assert await drain(published) == []

        done = await client.post(f"{ALERTS}/{alert_id}/publish", headers=author)
        assert done.status_code == 202, done.text
        [event] = await drain(published)
        assert event["actor"] == author_id and event["data"][flag] is True
        assert event["data"]["officials"] == []

        # an approver who then rewrites the draft cannot publish their own change unapproved
        other = (
            await client.post(
                ALERTS, headers=author, params={"draft": "true"}, json={**body, "number": "UA 51/26"}
            )
        ).json()["alert_id"]
        assert (await client.post(f"{ALERTS}/{other}/approve", headers=approver)).status_code == 200
        rewritten = await client.put(
            f"{ALERTS}/{other}", headers=approver, json={**body, "number": "UA 51/26"}
        )
        assert rewritten.status_code == 200
        assert (await client.post(f"{ALERTS}/{other}/publish", headers=author)).status_code == 409
        assert (await client.post(f"{ALERTS}/{other}/approve", headers=approver)).status_code == 409
        assert (await client.post(f"{ALERTS}/{other}/approve", headers=author)).status_code == 200
        assert (await client.post(f"{ALERTS}/{other}/publish", headers=approver)).status_code == 202

    approvals = await audited(db, "alert.approved")
    assert [(who, what) for who, what, _ in approvals] == [
        (approver_id, alert_id),
        (approver_id, alert_id),
        (approver_id, other),
        (author_id, other),
    ]
    assert await audited(db, "alert.published") == [
        (author_id, alert_id, {"number": "UA 50/26", "approved_by": approver_id}),
        (approver_id, other, {"number": "UA 51/26", "approved_by": author_id}),
    ]


async def test_an_ordinary_alert_needs_no_approval(console: str, db: Any, published: Any) -> None:
    _, publisher = await operator(console, db, Role.publisher)
    _, other = await operator(console, db, Role.publisher)
    async with httpx.AsyncClient(base_url=console) as client:
        drafted = await client.post(
            ALERTS, headers=publisher, params={"draft": "true"}, json=alert("UA 52/26")
        )
        alert_id = drafted.json()["alert_id"]
        needless = await client.post(f"{ALERTS}/{alert_id}/approve", headers=other)
        done = await client.post(f"{ALERTS}/{alert_id}/publish", headers=publisher)
    assert needless.status_code == 409 and done.status_code == 202
    assert len(await drain(published)) == 1
