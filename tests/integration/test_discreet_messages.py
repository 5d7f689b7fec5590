"""Discreet messages (at-risk mode, issue #17) on real components: the dispatcher, the email,
Signal and WhatsApp channels and the public site as processes, on the real broker and Mongo-wire
server; the mail sink is a real SMTP server, Signal and WhatsApp the sandbox's copies of their
APIs. Everything any provider received is searched, raw.

Residents of Cambodia get discreet messages unless they chose otherwise: their certificate, an
alert and a session reminder reach them on email, Signal and WhatsApp as only a neutral line and
a link; the link shows the details once. A member elsewhere who did not choose it gets the full
messages (the control: the test can see what it looks for).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from devstack.broker import RabbitNode
from shared.contracts import utcnow
from shared.contracts.alert import AlertPublished, AlertPublishedData, AlertText, Official
from shared.contracts.certificate import CertificateIssued, CertificateIssuedData
from shared.contracts.envelope import Event
from shared.contracts.pledge import Contact
from shared.contracts.session import Registrant, ReminderDue, ReminderDueData, SessionRef, SessionText
from tests.integration.test_chat_channels import WA_SECRET
from tests.integration.test_delivery import Stack, store_files, wait_for_states
from tests.service.conftest import SECRET
from tests.support.forms import post_form
from tests.support.infra import MailSink, Sandbox
from tests.support.member_keys import member_key
from tests.support.numbers import confirm_numbers
from tests.support.ports import free_port
from tests.support.processes import ServiceProcess
from tests.support.sessions import publish

pytestmark = pytest.mark.timeout(300)

CASE_TITLE = "Release Chea Vuthy"
CASE_PERSON = "Chea Vuthy"
SESSION_TITLE = "Hearing on land evictions"
MEMBER_NAME = "Sok Dara"
NEUTRAL = "new message from your network"
LINK = re.compile(r"http://127\.0\.0\.1:\d+/d/[A-Za-z0-9_\-]+")
AT_RISK = {  # member id -> (channel, address): residents of Cambodia, no choice made
    "mb_discreet_email": ("email", "discreet@example.org"),
    "mb_discreet_signal": ("signal", "+85512000101"),
    "mb_discreet_whatsapp": ("whatsapp", "+85512000102"),
}
CONTROL = ("mb_open_email", "open@example.org")  # in the US, no choice made: full messages


@pytest.fixture
def webhook_port() -> int:
    return free_port()


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    box = Sandbox(tmp_path / "sandbox-run").start()
    yield box
    box.stop()


@pytest.fixture
def stack(
    service_env: dict[str, str], tmp_path: Path, sandbox: Sandbox, mail: MailSink, webhook_port: int
) -> Iterator[Stack]:
    intake_port = free_port()
    base = f"http://127.0.0.1:{intake_port}"
    env = {
        **service_env,
        **mail.client_env(),
        **sandbox.client_env(),
        "WHATSAPP_WEBHOOK_PORT": str(webhook_port),
        "WHATSAPP_APP_SECRET": WA_SECRET,
        "WHATSAPP_ACCESS_TOKEN": "whatsapp-token",
        "DISPATCHER_PUBLIC_BASE_URL": base,
        "INTAKE_SECRET_KEY": SECRET,
        "INTAKE_PORT": str(intake_port),
        "INTAKE_PUBLIC_BASE_URL": base,
        "EMAIL_DISCREET_FROM_ADDRESS": "notifications@mail.example",
    }
    running = Stack(env, tmp_path, [])
    running.start_together(
        (
            ("services.dispatcher", "alert-dispatcher.1"),
            ("services.intake", "intake.1"),
            ("services.channels.email", "email.1"),
            ("services.channels.signal", "signal.1"),
            ("services.channels.whatsapp", "whatsapp.1"),
        )
    )
    running.intake = base  # type: ignore[attr-defined]
    yield running
    ServiceProcess.stop_all(running.procs)


async def seed_member(db: Any, env: dict[str, str], member_id: str, channel: str, address: str,
                      country: str) -> None:  # fmt: skip
    contact = (
        {"email": address, "emails": [address], "email_confirmed": address} if channel == "email" else {}
    )
    if channel != "email":
        contact = {"phone": address, "phones": [address]}
    await db.members.insert_one(
        {
            "_id": member_id,
            "name": MEMBER_NAME,
            "country": country,
            "language": "en",
            "channels": [channel],
            "alerts_opt_in": True,
            "unsubscribe_token": f"tok_{member_id}_" + "z" * 20,
            **contact,
        }
    )
    kind = "email" if channel == "email" else "phone"
    await db.member_keys.insert_one({"_id": member_key(env, kind, address), "member_id": member_id})
    if kind == "phone":
        await confirm_numbers(db, env, address)  # they wrote to us from it


def certificate(member_id: str, channel: str, files: tuple[str, str, str]) -> CertificateIssued:
    number = f"KCAP-2026-{abs(hash(member_id)) % 1_000_000:06d}"
    return CertificateIssued(
        correlation_id=f"pl_{member_id}",
        data=CertificateIssuedData(
            certificate_number=number,
            pledge_id=f"pl_{member_id}",
            member_id=member_id,
            language="en",
            channels=[channel],  # type: ignore[list-item]
            bucket="certificate_files",
            pdf_file_id=files[0],
            png_file_id=files[1],
            verify_url=f"https://pledge.example.org/v/{number}",
            issued_at=utcnow(),
        ),
    )


def alert() -> AlertPublished:
    text = AlertText(
        title=CASE_TITLE,
        summary=f"Land rights defender {CASE_PERSON} was arrested.",
        actions=["Write to the Minister of Interior"],
        letter="{salutation},\n\nI am {name} and I call for the release of " + CASE_PERSON + ".",
        letter_subject=CASE_TITLE,
    )
    return AlertPublished(
        correlation_id="al_discreet",
        data=AlertPublishedData(
            alert_id="al_discreet",
            number="UA 40/26",
            topics=["political-prisoners"],
            texts={"en": text},
            officials=[Official(name="Minister of Interior", salutation="Your Excellency")],
            public_url="http://pledge.example.org/a/UA-40-26",
            published_at=utcnow(),
        ),
    )


def reminder(member_id: str, channel: str, address: str) -> ReminderDue:
    starts = (utcnow() + timedelta(days=2)).replace(second=0, microsecond=0)
    contact = Contact(email=address) if channel == "email" else Contact(phone=address)
    return ReminderDue(
        correlation_id="ss_discreet",
        data=ReminderDueData(
            reminder_id=f"rm_{member_id}",
            kind="confirmation",
            session=SessionRef(
                session_id="ss_discreet",
                kind="hearing",
                texts={"en": SessionText(title=SESSION_TITLE)},
                starts_at=starts,
                ends_at=starts + timedelta(hours=2),
                mode="online",
                status="scheduled",
                public_url="http://pledge.example.org/sessions/ss_discreet",
            ),
            registration_id=f"rg_{member_id}",
            registrant=Registrant(
                name=MEMBER_NAME,
                language="en",
                country="KH" if member_id in AT_RISK else "US",
                contact=contact,
                channels=[channel],  # type: ignore[list-item]
            ),
            due_at=utcnow(),
        ),
    )


def everything_sent(mail: MailSink, sandbox: Sandbox) -> dict[str, list[str]]:
    """Per address, every message as the provider received it: the raw email, the JSON body of
    each send request."""
    sent: dict[str, list[str]] = {}
    for item in mail.messages():
        raw = mail.raw(item["ID"]).decode("utf-8", "replace")
        sent.setdefault(item["To"][0]["Address"], []).append(raw)
    for provider in ("signal", "whatsapp"):
        for request in sandbox.requests(provider):
            body = request["body"]
            if request["method"] != "POST" or not isinstance(body, dict) or request["status"] >= 300:
                continue
            for recipient in body.get("recipients") or ([body["to"]] if "to" in body else []):
                sent.setdefault("+" + str(recipient).lstrip("+"), []).append(
                    json.dumps(body, ensure_ascii=False)
                )
    return sent


def decoded(raw: str) -> str:
    """An email's text as a reader sees it (quoted-printable and base64 parts decoded)."""
    import email
    import email.policy

    message = email.message_from_string(raw, policy=email.policy.default)
    parts = [str(message["Subject"]), str(message["From"]), str(message["To"])]
    for part in message.walk():
        if part.get_content_maintype() == "text":
            parts.append(part.get_content())
    return "\n".join(parts)


async def test_a_cambodian_residents_messages_carry_only_a_neutral_line_and_a_link_that_works_once(
    stack: Stack, rabbit: RabbitNode, db: Any, mail: MailSink, sandbox: Sandbox
) -> None:
    files = await store_files(db, "KCAP-2026-DISCREET")
    members = {**AT_RISK, CONTROL[0]: ("email", CONTROL[1])}
    for member_id, (channel, address) in members.items():
        await seed_member(db, stack.env, member_id, channel, address, "KH" if member_id in AT_RISK else "US")
    events: list[Event[Any]] = [alert()]
    for member_id, (channel, address) in members.items():
        events += [certificate(member_id, channel, files), reminder(member_id, channel, address)]
    await publish(rabbit.url, events)

    await wait_for_states(db, {}, {"sent", "delivered"}, 3 * len(members), timeout=120)
    sent = everything_sent(mail, sandbox)
    control = "\n".join(decoded(raw) for raw in sent[CONTROL[1]])
    assert CASE_TITLE in control and SESSION_TITLE in control and MEMBER_NAME in control, "the control"

    links: list[str] = []
    for channel, address in AT_RISK.values():
        messages = sent.get(address, [])
        assert len(messages) == 3, f"{channel}: certificate, alert and reminder"
        for raw in messages:
            text = decoded(raw) if channel == "email" else raw
            for secret in (CASE_TITLE, CASE_PERSON, SESSION_TITLE, MEMBER_NAME, "KCAP-"):
                assert secret.lower() not in text.lower(), f"{channel} carried {secret!r}"
            if channel == "email":  # sender, Message-ID, body: nothing of the network either
                assert "samleng" not in raw.lower(), "email named the network"
            if channel != "whatsapp":  # outside the 24-hour window WhatsApp sends the notice template
                assert NEUTRAL in text.lower(), f"{channel}: the neutral line"
            found = LINK.findall(text)
            assert found, f"{channel}: the link"
            links.append(found[0])
    assert len(set(links)) == len(links), "one link per message"
    whatsapp = sandbox.get("/whatsapp/_messages")["messages"]
    assert [m["template"]["name"] for m in whatsapp] == ["neutral_notice"] * 3, "the neutral template"

    # Each link: the GET shows nothing of the message (link scanners, previews); the button shows
    # it once; then nothing.
    async with httpx.AsyncClient(timeout=30) as client:
        opened: dict[str, str] = {}
        for link in links:
            first = await client.get(link)
            assert (
                first.status_code == 200 and CASE_TITLE not in first.text and SESSION_TITLE not in first.text
            )
            shown = await post_form(client, link)
            assert shown.status_code == 200
            assert shown.headers["cache-control"] == "no-store"
            opened[link] = shown.text
            home = link.split("/d/")[0] + "/"  # its own page has no form any more
            again = await post_form(client, link, page=home)
            assert again.status_code == 404 and CASE_TITLE not in again.text, "shown once"
            assert SESSION_TITLE not in again.text
        pages = "\n".join(opened.values())
        assert pages.count(CASE_TITLE) >= 3 and pages.count(SESSION_TITLE) >= 3, "each shows its message once"
