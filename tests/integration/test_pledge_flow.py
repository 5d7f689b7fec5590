"""Intake, pledge-intake and the console (paper sign-up sheets) as separate processes on the real
broker and Mongo-wire server."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aio_pika
import httpx
import pytest

from devstack.broker import RabbitNode
from services.console.permissions import Role
from shared.contracts import utcnow
from shared.contracts.member import (
    Preferences,
    PreferencesChanged,
    PreferencesChangedData,
    SubscriptionRequested,
    SubscriptionRequestedData,
)
from shared.contracts.pledge import Consent, Contact, PledgeRecorded, PledgeRejected, PledgeSubmitted
from shared.contracts.pledge_ids import derived_pledge_id
from shared.contracts.pledge_input import PledgeInput, build_submission, validate_pledge
from shared.messaging.connection import connect
from shared.messaging.publisher import Publisher
from shared.personal_data import open_fields
from tests.service.conftest import SECRET
from tests.support.console import bearer, operator_token
from tests.support.sealed import Opener

pytestmark = pytest.mark.timeout(180)


@dataclass
class Outcomes:
    queue: Any
    opener: Opener  # outcomes arrive sealed (the processes have keys); so are members at rest


@pytest.fixture
async def outcomes(rabbit: RabbitNode, service_env: dict[str, str]) -> AsyncIterator[Outcomes]:
    """A test's own queue on the exchange, as a future consumer of pledge outcomes would have."""
    connection = await aio_pika.connect(rabbit.url)
    channel = await connection.channel()
    exchange = await channel.declare_exchange("samleng", aio_pika.ExchangeType.TOPIC, durable=True)
    queue = await channel.declare_queue(exclusive=True)
    await queue.bind(exchange, "pledge.recorded.v1")
    await queue.bind(exchange, "pledge.rejected.v1")
    opener = Opener(service_env)
    yield Outcomes(queue, opener)
    await opener.aclose()
    await connection.close()


async def drain(outcomes: Outcomes, settle: float = 1.5) -> list[PledgeRecorded | PledgeRejected]:
    found: list[PledgeRecorded | PledgeRejected] = []
    deadline = time.monotonic() + settle
    while time.monotonic() < deadline:
        message = await outcomes.queue.get(no_ack=True, fail=False)
        if message is None:
            await asyncio.sleep(0.05)
            continue
        cls = PledgeRecorded if message.type == "pledge.recorded.v1" else PledgeRejected
        found.append(await outcomes.opener.open(cls, message.body))
        deadline = time.monotonic() + settle
    return found


async def member(db: Any, outcomes: Outcomes, member_id: str) -> Any:
    """A member as pledge-intake stores it, its sealed personal fields opened."""
    return await open_fields(await outcomes.opener.vault(), await db.members.find_one({"_id": member_id}))


def submission(pledge_id: str, **change: Any) -> PledgeSubmitted:
    raw = {
        "name": "Sok Dara",
        "country": "US",
        "channels": ["email"],
        "email": "dara@example.org",
        "consent": True,
        "alerts_opt_in": True,
        **change,
    }
    valid, errors = validate_pledge(PledgeInput(**raw), "en")
    assert valid is not None, errors
    return build_submission(pledge_id, valid, "api", "en", "pledge-consent-test")


async def publish(rabbit: RabbitNode, *events: PledgeSubmitted) -> None:
    connection = await connect(rabbit.url, "test")
    publisher = await Publisher.open(connection, "samleng")
    for event in events:
        await publisher.publish(event)
    await connection.close()


async def wait_for(predicate: Any, timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = await predicate()
        if value:
            return value
        await asyncio.sleep(0.1)
    raise AssertionError("condition not met")


async def test_api_pledge_is_recorded_and_the_status_url_says_so(
    intake: str, pledge_intake: Any, outcomes: Any, db: Any
) -> None:
    async with httpx.AsyncClient(base_url=intake) as client:
        accepted = await client.post(
            "/api/v1/pledges",
            json={
                "name": "សុខ ដារ៉ា",
                "country": "KH",
                "certificate_language": "km",
                "channels": ["email", "signal"],
                "email": "dara@example.org",
                "phone": "012 345 678",
                "consent": True,
                "sessions_opt_in": True,
            },
        )
        assert accepted.status_code == 202, accepted.text
        pledge_id = accepted.json()["pledge_id"]
        events = await drain(outcomes)
        assert [type(e).__name__ for e in events] == ["PledgeRecorded"]
        recorded = events[0]
        assert recorded.data.pledge_id == pledge_id
        assert recorded.data.name == "សុខ ដារ៉ា" and recorded.data.certificate_language == "km"
        assert recorded.correlation_id == pledge_id
        status = (await client.get(f"/api/v1/pledges/{pledge_id}")).json()
    assert status["state"] == "recorded"
    stored = await member(db, outcomes, recorded.data.member_id)
    assert stored["phones"] == ["+85512345678"] and stored["emails"] == ["dara@example.org"]
    consents = {
        c["kind"]: c["granted"] for c in await db.consents.find({"pledge_id": pledge_id}).to_list(None)
    }
    assert consents == {"pledge": True, "alerts": False, "sessions": True}


async def test_redelivered_submission_creates_nothing_twice(
    rabbit: RabbitNode, pledge_intake: Any, outcomes: Any, db: Any
) -> None:
    event = submission(derived_pledge_id(SECRET.encode(), "api", "retry-1"))
    await publish(rabbit, event, event, event)
    events = await drain(outcomes)
    assert {e.event_id for e in events} == {events[0].event_id}, "a republished outcome is the same event"
    assert await db.pledges.count_documents({}) == 1
    assert await db.members.count_documents({}) == 1
    assert await db.consents.count_documents({}) == 3


async def test_signing_again_with_a_known_email_changes_nothing_until_the_holder_confirms(
    rabbit: RabbitNode, pledge_intake: Any, outcomes: Any, db: Any
) -> None:
    first = submission(derived_pledge_id(SECRET.encode(), "api", "a"))
    again = submission(derived_pledge_id(SECRET.encode(), "api", "b"), email="DARA@example.org")
    await publish(rabbit, first)
    await drain(outcomes, settle=1.0)
    await publish(rabbit, again)
    assert await drain(outcomes, settle=1.5) == [], "nothing new to send a certificate to"
    stored = await db.pledges.find_one({"_id": again.data.pledge_id})
    assert stored["state"] == "recorded" and "member_id" not in stored and "duplicate_of" not in stored
    [change] = await db.pending_changes.find({}).to_list(None)
    assert stored["changes"] == [change["_id"]] and change["state"] == "pending"
    assert await db.members.count_documents({}) == 1


async def test_a_new_contact_next_to_a_known_one_becomes_its_own_member_and_gets_a_certificate(
    rabbit: RabbitNode, pledge_intake: Any, outcomes: Any, db: Any
) -> None:
    first = submission(derived_pledge_id(SECRET.encode(), "api", "a"))
    second = submission(
        derived_pledge_id(SECRET.encode(), "api", "b"),
        email="DARA@example.org",
        phone="+1 202 555 0143",
        channels=["email", "whatsapp"],
    )
    await publish(rabbit, first)
    [recorded] = await drain(outcomes, settle=1.0)
    await publish(rabbit, second)
    [again] = await drain(outcomes, settle=1.5)
    assert isinstance(again, PledgeRecorded) and again.data.member_id != recorded.data.member_id
    holder = await member(db, outcomes, recorded.data.member_id)
    assert "phones" not in holder and holder["channels"] == ["email"], "the holder is not touched"
    own = await member(db, outcomes, again.data.member_id)
    assert own["phones"] == ["+12025550143"] and "emails" not in own, "without the held contact"
    [change] = await db.pending_changes.find({}).to_list(None)
    assert change["holder_id"] == holder["_id"] and change["own_member_id"] == own["_id"]


async def test_post_forced_for_cambodia_past_intake_is_rejected_with_the_reason(
    rabbit: RabbitNode, pledge_intake: Any, outcomes: Any, db: Any
) -> None:
    event = submission(derived_pledge_id(SECRET.encode(), "api", "forced"))
    forged = event.model_copy(
        update={"data": event.data.model_copy(update={"country": "KH", "channels": ["post"]})}
    )
    await publish(rabbit, forged)
    events = await drain(outcomes)
    assert len(events) == 1 and isinstance(events[0], PledgeRejected)
    assert events[0].data.reason == "post-not-available-in-country"
    stored = await db.pledges.find_one({"_id": event.data.pledge_id})
    assert stored["state"] == "rejected"
    assert await db.members.count_documents({}) == 0, "nothing about the person is kept for a rejected pledge"


IMPORT = "/api/v1/operator/imports/table"
TABLE = """name,country,certificate_language,channels,email,phone,street_address,city,city_area,country_area,postal_code,sorting_code,show_name_publicly,alerts_opt_in,sessions_opt_in,consent
Sok Dara,US,en,email;post,dara@example.org,,1600 Pennsylvania Ave NW,Washington,,DC,20500,,no,yes,yes,yes
សុខ ចាន់ធី,KH,km,email;signal,chanthy@example.org,012 345 678,,,,,,,no,yes,no,yes
Keo Sina,KH,en,post,sina@example.org,,,,,,,,no,no,no,yes
,US,en,email,nobody@example.org,,,,,,,,no,no,no,yes
Sok Dara,US,en,email;post,dara@example.org,,1600 Pennsylvania Ave NW,Washington,,DC,20500,,no,yes,yes,yes
"""


async def samleng(env: dict[str, str], *argv: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "ops.cli",
        *argv,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def test_table_import_reports_bad_rows_passes_good_ones_and_never_duplicates(
    console: str, pledge_intake: Any, outcomes: Any, db: Any, service_env: dict[str, str], tmp_path: Path
) -> None:
    """The whole path an operator takes: a publisher made with the CLI, an API token from the
    CLI, the sheet imported with the CLI through the console, recorded by pledge-intake."""
    sheet = tmp_path / "table.csv"
    sheet.write_text(TABLE)
    code, out, err = await samleng(
        service_env,
        "operator",
        "add",
        "--email",
        "table@samleng.test",
        "--name",
        "Table",
        "--role",
        "publisher",
    )
    assert code == 0, err
    code, out, err = await samleng(
        service_env,
        "operator",
        "token",
        "--email",
        "table@samleng.test",
        "--name",
        "table day",
        "--days",
        "1",
    )
    assert code == 0, err
    [token] = [line for line in out.splitlines() if line.startswith("sk_op_")]
    env = dict(service_env, SAMLENG_OPERATOR_TOKEN=token, SAMLENG_CONSOLE_URL=console)

    code, text, progress = await samleng(env, "import-pledges", str(sheet), "--chunk", "2")
    assert code == 1, "bad rows make the command fail"
    assert "row 4: channels:" in text and "Cambodia" in text
    assert "row 5: name:" in text
    assert "3 accepted, 2 rejected" in text
    assert "[##############################] 5/5 rows" in progress
    await drain(outcomes)
    assert await db.pledges.count_documents({}) == 2, "rows 2 and 6 are the same signature"
    operator = await db.operators.find_one({"email": "table@samleng.test"})
    imports = await db.audit_events.find({"action": "table.imported"}).to_list(None)
    assert len(imports) == 3, "one audit event per request (chunks of 2 rows)"
    assert {e["operator_id"] for e in imports} == {operator["_id"]}

    code, _, _ = await samleng(env, "import-pledges", str(sheet), "--chunk", "2")
    assert code == 1
    await drain(outcomes)
    assert await db.pledges.count_documents({}) == 2, "importing the same file twice creates nothing new"
    assert await db.members.count_documents({}) == 2
    stored = await db.pledges.find({}).to_list(None)
    assert sorted(p["table"]["row"] for p in stored) == [2, 3]
    assert {p["source"] for p in stored} == {"table"}


async def test_table_import_requires_an_operator_allowed_to_import(
    console: str, db: Any, service_env: dict[str, str], tmp_path: Path
) -> None:
    editor = await operator_token(db, Role.editor, env=service_env)
    publisher = await operator_token(db, Role.publisher, env=service_env)
    async with httpx.AsyncClient(base_url=console) as client:
        anonymous = await client.post(IMPORT, content=TABLE.encode())
        wrong = await client.post(IMPORT, content=TABLE.encode(), headers=bearer("sk_op_nope"))
        refused = await client.post(IMPORT, content=TABLE.encode(), headers=bearer(editor))
        template = await client.get(f"{IMPORT}/template", headers=bearer(publisher))
    assert (anonymous.status_code, wrong.status_code, refused.status_code) == (401, 401, 403)
    assert template.text.startswith("name,country,certificate_language,channels")

    sheet = tmp_path / "table.csv"
    sheet.write_text(TABLE)
    env = {k: v for k, v in service_env.items() if k != "SAMLENG_OPERATOR_TOKEN"}
    code, _, err = await samleng(env, "import-pledges", str(sheet), "--url", console)
    assert code == 2 and "POST /api/v1/operator/tokens" in err, "says how to get a token"
    code, _, err = await samleng(env, "import-pledges", str(sheet), "--url", console, "--token", editor)
    assert code == 1 and "403" in err


async def test_web_form_pledge_is_recorded_and_its_page_says_so(
    intake: str, pledge_intake: Any, outcomes: Any
) -> None:
    async with httpx.AsyncClient(base_url=intake) as client:
        page = await client.get("/?lang=km")
        token = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        form = {
            "csrf_token": token,
            "lang": "km",
            "name": "ចាន់ សុភា",
            "country": "KH",
            "certificate_language": "km",
            "channels": ["email"],
            "email": "sophea@example.org",
            "consent": "yes",
            "website": "",
        }
        submitted = await client.post("/", data=form)
        assert submitted.status_code == 303
        pledge_id = submitted.headers["location"].split("/pledge/")[1].split("?")[0]
        events = await drain(outcomes)
        assert [(type(e).__name__, e.data.pledge_id) for e in events] == [("PledgeRecorded", pledge_id)]
        assert events[0].data.source == "web"
        confirmation = await client.get(submitted.headers["location"])
    assert 'data-state="recorded"' in confirmation.text


async def publish_events(rabbit: RabbitNode, *events: Any) -> None:
    connection = await connect(rabbit.url, "test")
    publisher = await Publisher.open(connection, "samleng")
    for event in events:
        await publisher.publish(event)
    await connection.close()


async def test_the_members_discreet_choice_is_kept_and_the_recorded_pledge_carries_its_effect(
    rabbit: RabbitNode, pledge_intake: Any, outcomes: Any, db: Any
) -> None:
    """A member's own choice of discreet messages is a plain field (absent: none made); the recorded
    pledge says what it comes to: the choice, else on for residents of Cambodia. A later explicit
    choice (a confirmed subscription, the own page) replaces it; no choice (None) keeps it."""
    ids = [derived_pledge_id(SECRET.encode(), "api", f"discreet-{n}") for n in range(3)]
    kh_default = submission(ids[0], country="KH", alerts_opt_in=False)
    kh_off = submission(ids[1], country="KH", email="sophea@example.org", alerts_opt_in=False, discreet=False)
    us_on = submission(ids[2], email="sina@example.org", alerts_opt_in=False, discreet=True)
    await publish(rabbit, kh_default, kh_off, us_on)
    recorded = {e.data.pledge_id: e for e in await drain(outcomes) if isinstance(e, PledgeRecorded)}
    assert [recorded[i].data.discreet for i in ids] == [True, False, True]
    stored = [await db.members.find_one({"_id": recorded[i].data.member_id}) for i in ids]
    assert "discreet" not in stored[0], "no choice made: the country's default applies"
    assert stored[1]["discreet"] is False and stored[2]["discreet"] is True

    consent = Consent(text_version="t", locale="en", accepted_at=utcnow())

    def change(choice: bool | None) -> PreferencesChanged:
        return PreferencesChanged(
            correlation_id=stored[2]["_id"],
            data=PreferencesChangedData(
                member_id=stored[2]["_id"], alerts=True, consent=consent, at=utcnow(),
                preferences=Preferences(channels=["email"], language="en", discreet=choice),
            ),
        )  # fmt: skip

    unsaid, off = change(None), change(False)
    await publish_events(rabbit, unsaid)
    await wait_for(lambda: db.consents.find_one({"_id": f"{unsaid.event_id}:preferences"}))
    assert (await db.members.find_one({"_id": stored[2]["_id"]}))["discreet"] is True, "None keeps it"
    await publish_events(rabbit, off)
    await wait_for(lambda: db.consents.find_one({"_id": f"{off.event_id}:preferences"}))
    assert (await db.members.find_one({"_id": stored[2]["_id"]}))["discreet"] is False

    subscribed = SubscriptionRequested(
        correlation_id="sb_discreet",
        data=SubscriptionRequestedData(
            subscription_id="sb_discreet", source="operator-import", name="Sok Dara", country="KH",
            contact=Contact(email="dara@example.org"), consent=consent, confirmed=True,
            requested_at=utcnow(),
            preferences=Preferences(channels=["email"], language="en", discreet=False),
        ),
    )  # fmt: skip
    await publish_events(rabbit, subscribed)
    await wait_for(lambda: db.subscriptions.find_one({"_id": "sb_discreet", "state": "confirmed"}))
    holder = await db.members.find_one({"_id": stored[0]["_id"]})
    assert holder["discreet"] is False, "a confirmed subscription's explicit choice replaces the default"
