"""Alert subscriptions on real components: the subscribe page and API on intake, pledge-intake
keeping them pending until the email confirmation (double opt-in), the dispatcher and the email
channel sending the confirmation to the SMTP sink, the members' own preferences page, and the
consent history that records every change."""

from __future__ import annotations

import asyncio
import email
import email.policy
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.console.permissions import Role
from tests.integration.test_alerts import ALERT, console_env, publish_approved
from tests.integration.test_delivery import Stack, wait_for_states
from tests.integration.test_sealed_members import Members
from tests.service.conftest import SECRET
from tests.support.console import bearer, operator_token
from tests.support.forms import csrf, post_form
from tests.support.infra import MailSink
from tests.support.ports import free_port
from tests.support.processes import ServiceProcess

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
async def publisher_token(db: Any, service_env: dict[str, str]) -> str:
    """A publisher's API token for the console process (publishes alerts, imports subscribers)."""
    return await operator_token(db, Role.publisher, env=service_env)


@pytest.fixture
async def approver_token(db: Any, service_env: dict[str, str]) -> str:
    """A second publisher's API token: approves the urgent alerts (the two-person rule)."""
    return await operator_token(db, Role.publisher, env=service_env)


@pytest.fixture
def stack(
    service_env: dict[str, str], tmp_path: Path, mail: MailSink, publisher_token: str, approver_token: str
) -> Iterator[Any]:
    intake_port, console_port = free_port(), free_port()
    env = {
        **service_env,
        **mail.client_env(),
        "DISPATCHER_PUBLIC_BASE_URL": f"http://127.0.0.1:{intake_port}",
        "INTAKE_SECRET_KEY": SECRET,
        "INTAKE_PORT": str(intake_port),
        "INTAKE_PUBLIC_BASE_URL": f"http://127.0.0.1:{intake_port}",
        **console_env(intake_port, console_port),
    }
    running = Stack(env, tmp_path, [])
    running.start_together(
        (
            ("services.dispatcher", "alert-dispatcher.1"),
            ("services.pledge_intake", "pledge-intake.1"),
            ("services.intake", "intake.1"),
            ("services.console", "console.1"),
            ("services.channels.email", "email.1"),
        )
    )
    running.intake = f"http://127.0.0.1:{intake_port}"  # type: ignore[attr-defined]
    running.console = f"http://127.0.0.1:{console_port}"  # type: ignore[attr-defined]
    running.operator_token = publisher_token  # type: ignore[attr-defined]
    running.approver_token = approver_token  # type: ignore[attr-defined]
    yield running
    ServiceProcess.stop_all(running.procs)


@pytest.fixture
async def members(db: Any, service_env: dict[str, str]) -> Any:
    """Members opened: their names and contacts are stored sealed."""
    opened = Members(db, service_env)
    yield opened
    await opened.aclose()


async def wait_for(predicate: Any, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = await predicate()
        if value:
            return value
        await asyncio.sleep(0.2)
    raise AssertionError("condition not met in time")


def mail_to(mail: MailSink, address: str) -> list[dict[str, Any]]:
    return [m for m in mail.messages() if m["To"][0]["Address"] == address]


def link_in(mail: MailSink, message: dict[str, Any], path: str) -> str:
    parsed = email.message_from_bytes(mail.raw(message["ID"]), policy=email.policy.default)
    text = parsed.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    found = re.search(rf"http://127\.0\.0\.1:\d+/{path}/[A-Za-z0-9_\-.]+", text)
    assert found, text[:2000]
    return found.group(0).rstrip(".")  # a link (shared/member_links.py) has dots inside, not at its end


def list_unsubscribe(mail: MailSink, message: dict[str, Any]) -> str:
    parsed = email.message_from_bytes(mail.raw(message["ID"]), policy=email.policy.default)
    found = re.search(r"<(http[^>]+)>", str(parsed["List-Unsubscribe"]))
    assert found and parsed["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    return found.group(1)


SUBSCRIBE_FORM = {
    "name": "Chan Sophea",
    "country": "US",
    "email": "sophea@example.org",
    "topics": ["political-prisoners", "land-evictions"],
    "channel_1": "email",
    "language": "km",
    "time_zone": "America/Los_Angeles",
    "quiet_start": "22:00",
    "quiet_end": "07:00",
    "consent": "yes",
}


async def test_subscribe_confirm_by_email_then_change_preferences_through_the_personal_link(
    stack: Any,
    db: Any,
    members: Members,
    mail: MailSink,
) -> None:
    async with httpx.AsyncClient(base_url=stack.intake, timeout=30) as client:
        bad = await post_form(client, "/subscribe", {**SUBSCRIBE_FORM, "time_zone": "Mars/Base", "email": ""})
        assert bad.status_code == 422
        assert 'id="time_zone-error"' in bad.text and 'id="email-error"' in bad.text
        sent = await post_form(client, "/subscribe?lang=km", SUBSCRIBE_FORM)
        assert sent.status_code == 200 and 'data-state="sent"' in sent.text

        [confirmation] = await wait_for(lambda: asyncio.to_thread(mail_to, mail, "sophea@example.org"))
        assert confirmation["Subject"].startswith("សូមបញ្ជាក់")  # in the language chosen
        assert await members.where(email="sophea@example.org") == []  # nothing before
        confirm_url = link_in(mail, confirmation, "c")
        asked = await client.get(confirm_url)  # a mail scanner opening the link confirms nothing
        assert asked.status_code == 200 and 'data-state="ask"' in asked.text
        await asyncio.sleep(1)
        assert await members.where(email="sophea@example.org") == []
        form = await csrf(client, confirm_url)
        done = await client.post(confirm_url, data=form)
        assert done.status_code == 200 and 'data-state="confirmed"' in done.text

        member = await wait_for(lambda: members.one(email_confirmed="sophea@example.org"))
        assert member["alerts_opt_in"] is True and member["name"] == "Chan Sophea"
        assert member["topics"] == ["political-prisoners", "land-evictions"]
        assert member["channels"] == ["email"] and member["language"] == "km"
        assert member["time_zone"] == "America/Los_Angeles"
        assert member["quiet_hours"] == {"start": "22:00", "end": "07:00"}
        [consent] = await db.consents.find({"member_id": member["_id"]}).to_list(None)
        assert consent["kind"] == "alerts" and consent["granted"] is True
        assert consent["source"] == "subscribe-page" and consent["locale"] == "km"
        assert consent["text_version"] and consent["confirmed_at"] and consent["at"]
        again = await client.post(confirm_url, data=form)  # confirming twice changes nothing
        assert again.status_code == 200
        await asyncio.sleep(1)
        assert await db.consents.count_documents({"member_id": member["_id"]}) == 1

        # An urgent alert (quiet hours do not hold it) reaches the confirmed address, with the
        # personal preferences link in it.
        published = await asyncio.to_thread(
            publish_approved, stack, {**ALERT, "number": "UA 40/26", "urgent": True}
        )
        alert_id = published.json()["alert_id"]
        await wait_for_states(db, {"source_id": f"{alert_id}#0"}, {"sent"}, 1)
        alert_mail = [m for m in mail_to(mail, "sophea@example.org") if "UA 40/26" in m["Subject"]]
        preferences_url = link_in(mail, alert_mail[0], "p")
        unsubscribe_url = link_in(mail, alert_mail[0], "u")
        assert list_unsubscribe(mail, alert_mail[0]) == unsubscribe_url
        # A forwarded email hands over its unsubscribe link: it opens the unsubscribe action only.
        unsubscribe_token = unsubscribe_url.rsplit("/", 1)[1]
        assert (await client.get(unsubscribe_url)).status_code == 200
        for path in (
            f"/p/{unsubscribe_token}",
            f"/p/{unsubscribe_token}/export",
            f"/p/{unsubscribe_token}/erase",
        ):
            refused = await client.get(path)
            assert refused.status_code == 404 and "Chan Sophea" not in refused.text, path
        assert 'data-state="expired"' in (await client.get(f"/p/{unsubscribe_token}")).text
        assert (await client.get("/u/" + preferences_url.rsplit("/", 1)[1])).status_code == 404

        shown = await client.get(preferences_url)
        assert shown.status_code == 200
        assert re.search(r'id="topic-land-evictions"[^>]*checked', shown.text)
        assert re.search(r'<option value="America/Los_Angeles" selected', shown.text)
        invalid = await post_form(
            client, preferences_url, {"channel_1": "signal", "language": "en", "time_zone": "UTC"}
        )
        assert invalid.status_code == 422 and 'id="channels-error"' in invalid.text  # no phone known
        saved = await post_form(
            client,
            preferences_url,
            {
                "alerts": "yes",
                "topics": ["elections"],
                "channel_1": "email",
                "language": "en",
                "time_zone": "Asia/Phnom_Penh",
                "quiet_start": "",
                "quiet_end": "",
                "stop_email": "yes",
            },
        )
        assert saved.status_code == 200 and 'data-state="saved"' in saved.text

        # "End all my old links": pledge-intake replaces the member's secret; every old link dies.
        ended = await post_form(client, f"{preferences_url}/links", page=preferences_url)
        assert ended.status_code == 303, ended.text  # once pledge-intake replaced it: a fresh link
        fresh = await client.get(ended.headers["location"])
        assert fresh.status_code == 200 and 'data-state="links-new"' in fresh.text

        async def dead() -> bool:
            return (await client.get(unsubscribe_url)).status_code == 404

        assert await wait_for(dead)
        assert (await client.get(preferences_url)).status_code == 404

    changed = await wait_for(lambda: db.members.find_one({"_id": member["_id"], "unsubscribed": "email"}))
    assert changed["topics"] == ["elections"] and changed["time_zone"] == "Asia/Phnom_Penh"
    assert changed["quiet_hours"] is None and changed["language"] == "en"
    wanted = {("email", False, "preferences-page"), ("preferences", True, "preferences-page")}

    async def history() -> bool:  # the member is written before its consent records: wait for them
        recorded = await db.consents.find({"member_id": member["_id"]}).to_list(None)
        return wanted <= {(c["kind"], c["granted"], c["source"]) for c in recorded}

    assert await wait_for(history)


async def test_the_api_and_the_operator_import_validate_each_field(
    stack: Any, db: Any, mail: MailSink, members: Members
) -> None:
    async with httpx.AsyncClient(base_url=stack.intake, timeout=30) as client:
        bad = await client.post(
            "/api/v1/subscriptions",
            json={"name": "Dara", "country": "KH", "email": "dara@example.org", "topics": ["weather"],
                  "channels": ["post"], "language": "en", "time_zone": "UTC", "consent": True},
        )  # fmt: skip
        assert bad.status_code == 422
        assert {e["field"] for e in bad.json()["detail"]} == {"topics", "channels"}
        imported = await client.post(
            f"{stack.console}/api/v1/operator/subscribers",
            headers=bearer(stack.operator_token),
            json={
                "subscribers": [
                    {"name": "Keo Rith", "country": "KH", "phone": "012 345 678", "channels": ["signal"],
                     "language": "km", "time_zone": "Asia/Phnom_Penh", "confirmed": True,
                     "consent_record": {"text_version": "paper-2026-10", "locale": "km",
                                        "accepted_at": "2026-10-01T10:00:00+07:00"}},
                    {"name": "No Proof", "country": "KH", "phone": "012 345 679", "channels": ["signal"],
                     "language": "km", "time_zone": "Asia/Phnom_Penh", "confirmed": True},
                ]
            },
        )  # fmt: skip
        assert imported.status_code == 200, imported.text
        body = imported.json()
        assert body["accepted"] == 1 and body["refused"] == 1
        assert body["results"][1]["errors"][0]["field"] == "consent_record"
    member = await wait_for(lambda: members.one(phone="+85512345678"))
    assert member["alerts_opt_in"] is True and member["channels"] == ["signal"]
    # the member is written before its consent record: wait for the consent, don't race it
    consent = await wait_for(lambda: db.consents.find_one({"member_id": member["_id"]}))
    assert consent["source"] == "operator-import" and consent["text_version"] == "paper-2026-10"
    assert await members.where(phone="+85512345679") == []


async def test_a_pledge_with_the_alerts_box_asks_its_email_to_confirm_before_alerts_go_there(
    stack: Any,
    db: Any,
    members: Members,
    mail: MailSink,
) -> None:
    async with httpx.AsyncClient(base_url=stack.intake, timeout=30) as client:
        accepted = await client.post(
            "/api/v1/pledges",
            json={"name": "Sok Dara", "country": "US", "channels": ["email"], "email": "dara@example.org",
                  "consent": True, "alerts_opt_in": True},
        )  # fmt: skip
        assert accepted.status_code == 202
    [confirmation] = await wait_for(lambda: asyncio.to_thread(mail_to, mail, "dara@example.org"))
    assert confirmation["Subject"].startswith("Please confirm")
    member = await members.one(email="dara@example.org")
    assert member["alerts_opt_in"] is True and "email_confirmed" not in member
    published = await asyncio.to_thread(
        publish_approved, stack, {**ALERT, "number": "UA 41/26", "urgent": True}
    )
    alert_id = published.json()["alert_id"]
    await asyncio.sleep(3)
    assert await db.deliveries.count_documents({"source_id": f"{alert_id}#0"}) == 0  # unconfirmed: none
    async with httpx.AsyncClient(timeout=30) as client:
        assert (await post_form(client, link_in(mail, confirmation, "c"))).status_code == 200
    await wait_for(lambda: members.one(_id=member["_id"], email_confirmed="dara@example.org"))
