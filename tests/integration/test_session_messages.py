"""Session messages through the dispatcher and the email channel on real components: the
registrant's language and local time, quiet hours that yield close to the session, a member's
STOP respected, and fallback for registrants who are not members."""

from __future__ import annotations

import asyncio
import email
import email.policy
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from devstack.broker import RabbitNode
from shared.contracts import utcnow
from shared.contracts.pledge import Contact
from shared.contracts.session import Registrant, ReminderDue, ReminderDueData, SessionRef, SessionText
from shared.messaging.connection import connect
from shared.messaging.publisher import Publisher
from tests.integration.test_delivery import Stack, wait_for_states
from tests.support.infra import MailSink
from tests.support.member_keys import member_key
from tests.support.processes import ServiceProcess

pytestmark = pytest.mark.timeout(240)


@pytest.fixture
def stack(service_env: dict[str, str], tmp_path: Path, mail: MailSink) -> Iterator[Stack]:
    env = {**service_env, **mail.client_env(), "DISPATCHER_PUBLIC_BASE_URL": "http://pledge.test"}
    running = Stack(env, tmp_path, [])
    running.start("services.dispatcher", "alert-dispatcher.1")
    running.start("services.channels.email", "email.1")
    yield running
    ServiceProcess.stop_all(running.procs)


def due(reminder_id: str, kind: str, email_address: str, *, starts_in: timedelta, language: str = "en",
        time_zone: str = "UTC") -> ReminderDue:  # fmt: skip
    starts = (utcnow() + starts_in).replace(second=0, microsecond=0)
    return ReminderDue(
        correlation_id="ss_test",
        data=ReminderDueData(
            reminder_id=reminder_id,
            kind=kind,  # type: ignore[arg-type]
            session=SessionRef(
                session_id="ss_test",
                kind="hearing",
                texts={"en": SessionText(title="UPR pre-session"), "km": SessionText(title="វគ្គមុន UPR")},
                starts_at=starts,
                ends_at=starts + timedelta(hours=2),
                mode="online",
                join_link="https://zoom.example/j/42" if kind == "reminder" else None,
                status="scheduled",
                public_url="http://pledge.test/sessions/ss_test",
            ),
            registration_id=f"rg_{reminder_id}",
            registrant=Registrant(
                name="Chan Sophea",
                language=language,  # type: ignore[arg-type]
                country="US",
                time_zone=time_zone,
                contact=Contact(email=email_address),
                channels=["email"],
            ),
            minutes_before=60 if kind == "reminder" else None,
            due_at=utcnow(),
        ),
    )


async def publish(rabbit: RabbitNode, *events: ReminderDue) -> None:
    connection = await connect(rabbit.url, "test")
    publisher = await Publisher.open(connection, "samleng")
    for event in events:
        await publisher.publish(event)
    await connection.close()


def message_to(mail: MailSink, address: str) -> email.message.EmailMessage:
    [item] = [m for m in mail.messages() if m["To"][0]["Address"] == address]
    parsed = email.message_from_bytes(mail.raw(item["ID"]), policy=email.policy.default)
    assert isinstance(parsed, email.message.EmailMessage)
    return parsed


async def test_registrants_get_their_language_and_local_time_and_quiet_hours_yield_close_to_the_session(
    stack: Stack, rabbit: RabbitNode, db: Any, mail: MailSink
) -> None:
    now = utcnow()
    quiet = {
        "start": (now - timedelta(hours=1)).strftime("%H:%M"),
        "end": (now + timedelta(hours=2)).strftime("%H:%M"),
    }
    for member_id, address, extra in (
        ("mb_sleeper", "sleeper@example.org", {"quiet_hours": quiet, "time_zone": "UTC"}),
        ("mb_stopped", "stopped@example.org", {"unsubscribed": ["all"]}),
    ):
        await db.members.insert_one(
            {"_id": member_id, "name": "M", "country": "US", "email": address, **extra}
        )
        await db.member_keys.insert_one(
            {"_id": member_key(stack.env, "email", address), "member_id": member_id}
        )
    await publish(
        rabbit,
        due("rm_km", "confirmation", "sophea@example.org", starts_in=timedelta(days=3), language="km",
            time_zone="America/Los_Angeles"),
        due("rm_far", "reminder", "sleeper@example.org", starts_in=timedelta(days=2)),
        due("rm_near", "reminder", "sleeper@example.org", starts_in=timedelta(hours=1)),
        due("rm_stop", "reminder", "stopped@example.org", starts_in=timedelta(hours=1)),
    )  # fmt: skip
    await wait_for_states(db, {"source_id": {"$in": ["rm_km", "rm_near"]}}, {"sent"}, 2)
    states = {
        d["source_id"]: (d["state"], d["reason"])
        for d in await db.deliveries.find({"purpose": "reminder"}).to_list(None)
    }
    assert states["rm_far"] == ("waiting", "quiet-hours"), "held until the quiet hours end"
    assert states["rm_stop"][0] == "skipped", "a member's STOP covers session messages too"

    khmer = message_to(mail, "sophea@example.org")
    assert khmer["Subject"].startswith("បានចុះឈ្មោះ៖ វគ្គមុន UPR")
    text = khmer.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    starts = (await db.deliveries.find_one({"source_id": "rm_km"}))["request"]["reminder"]["when"]
    assert starts in text and "ម៉ោង" in starts and "ប៉ាស៊ីហ្វិក" in starts  # Pacific time, in Khmer
    assert any(p.get_content_type() == "text/calendar" for p in khmer.iter_attachments())
    near = message_to(mail, "sleeper@example.org")
    assert "https://zoom.example/j/42" in near.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    await asyncio.sleep(1)
    assert len([m for m in mail.messages() if m["To"][0]["Address"] == "sleeper@example.org"]) == 1
