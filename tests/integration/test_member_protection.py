"""Members cannot be found, listed or taken over by someone who only knows their email or phone.

Real components: intake, pledge-intake, certificate-renderer, alert-dispatcher and the email
channel as processes, on the real broker and Mongo-wire server, mail into the SMTP sink. An
"attacker" uses a victim's contacts; everything public they see is compared with what a genuinely
new person gets, and the victim's record with what it was.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from devstack.broker import RabbitNode
from shared.contracts import utcnow
from shared.contracts.inbound import ContactLinked, ContactLinkedData
from shared.contracts.member import ConsentWithdrawn, ConsentWithdrawnData
from shared.messaging.connection import connect
from shared.messaging.publisher import Publisher
from tests.integration.test_delivery import Stack
from tests.integration.test_sealed_members import Members
from tests.service.conftest import SECRET
from tests.support.forms import csrf, post_form
from tests.support.infra import MailSink
from tests.support.member_keys import member_key
from tests.support.ports import free_port
from tests.support.processes import ServiceProcess

pytestmark = pytest.mark.timeout(400)

VICTIM = {
    "name": "Victim Sothearith",
    "country": "US",
    "channels": ["email"],
    "email": "victim@example.org",
    "phone": "+1 202 555 0101",
    "consent": True,
}
VICTIM_PHONE = "+12025550101"
WATCHED = ("name", "email", "emails", "phone", "phones", "channels", "unsubscribed", "alerts_opt_in")


@pytest.fixture
async def members(db: Any, service_env: dict[str, str]) -> Any:
    """Members opened: their names and contacts are stored sealed."""
    opened = Members(db, service_env)
    yield opened
    await opened.aclose()


@pytest.fixture
def stack(service_env: dict[str, str], tmp_path: Path, mail: MailSink) -> Iterator[Any]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **service_env,
        **mail.client_env(),
        "DISPATCHER_PUBLIC_BASE_URL": base,
        "CERTIFICATES_PUBLIC_BASE_URL": base,
        "INTAKE_SECRET_KEY": SECRET,
        "INTAKE_PORT": str(port),
        "INTAKE_PUBLIC_BASE_URL": base,
    }
    running = Stack(env, tmp_path, [])
    running.start_together(
        (
            ("services.dispatcher", "alert-dispatcher.1"),
            ("services.pledge_intake", "pledge-intake.1"),
            ("services.certificates", "certificate-renderer.1"),
            ("services.intake", "intake.1"),
            ("services.channels.email", "email.1"),
        )
    )
    running.intake = base  # type: ignore[attr-defined]
    yield running
    ServiceProcess.stop_all(running.procs)


async def wait_for(predicate: Any, timeout: float = 60.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = await predicate()
        if value:
            return value
        await asyncio.sleep(0.2)
    raise AssertionError(f"{what} not met in time")


def mail_to(mail: MailSink, address: str) -> list[dict[str, Any]]:
    return [m for m in mail.messages() if m["To"][0]["Address"] == address]


def text_of(mail: MailSink, message: dict[str, Any]) -> str:
    parsed = email.message_from_bytes(mail.raw(message["ID"]), policy=email.policy.default)
    return "\n".join(
        part.get_content() for part in parsed.walk() if part.get_content_type() in ("text/plain", "text/html")
    )


def link_in(mail: MailSink, message: dict[str, Any], path: str) -> str:
    found = re.search(rf"http://127\.0\.0\.1:\d+/{path}/[A-Za-z0-9_\-]+", text_of(mail, message))
    assert found, message["Subject"]
    return found.group(0)


async def mails(mail: MailSink, address: str, count: int, subject: str = "") -> list[dict[str, Any]]:
    async def found() -> list[dict[str, Any]] | None:
        got = [m for m in await asyncio.to_thread(mail_to, mail, address) if subject in m["Subject"]]
        return got if len(got) >= count else None

    result: list[dict[str, Any]] = await wait_for(found, what=f"{count} mails to {address} {subject!r}")
    return result


async def pledge(client: httpx.AsyncClient, **fields: Any) -> str:
    accepted = await client.post("/api/v1/pledges", json={"consent": True, "country": "US", **fields})
    assert accepted.status_code == 202, accepted.text
    return str(accepted.json()["pledge_id"])


async def public_answers(client: httpx.AsyncClient, pledge_id: str) -> tuple[dict[str, Any], str]:
    async def recorded() -> dict[str, Any] | None:
        status: dict[str, Any] = (await client.get(f"/api/v1/pledges/{pledge_id}")).json()
        return status if status["state"] == "recorded" else None

    status = await wait_for(recorded, what="pledge recorded")
    page = (await client.get(f"/pledge/{pledge_id}?lang=en")).text
    return status, page


def neutral(status: dict[str, Any], page: str, pledge_id: str) -> tuple[dict[str, Any], str]:
    """Ids and times differ between any two pledges; nothing else may."""
    kept = {**status, "pledge_id": "ID", "recorded_at": "T" if status.get("recorded_at") else None}
    return kept, page.replace(pledge_id, "ID")


async def victim_signs(
    client: httpx.AsyncClient, mail: MailSink, db: Any, members: Members
) -> tuple[dict[str, Any], str]:
    victim_pledge = await pledge(client, **VICTIM)
    await mails(mail, VICTIM["email"], 1, "certificate")
    certificate = await db.certificates.find_one({"pledge_id": victim_pledge})
    member = await members.one(email=VICTIM["email"])
    assert member is not None
    return member, str(certificate["number"])


def watched(member: dict[str, Any]) -> dict[str, Any]:
    return {key: member.get(key) for key in WATCHED}


async def test_a_known_phone_or_email_gets_exactly_what_a_new_one_gets_and_changes_nothing(
    stack: Any, db: Any, mail: MailSink, members: Members
) -> None:
    async with httpx.AsyncClient(base_url=stack.intake, timeout=30) as client:
        victim, number = await victim_signs(client, mail, db, members)
        assert re.fullmatch(r"KCAP-\d{4}-\d{6}-[2-9A-HJ-NP-Z]{4}", number)
        before = watched(victim)

        # Each attacker submission, and a genuinely new person's submission of the same shape.
        pairs = [
            ({"name": "Mallory One", "channels": ["whatsapp"], "phone": VICTIM["phone"]},
             {"name": "New Person One", "channels": ["whatsapp"], "phone": "+1 202 555 0177"}),
            ({"name": "Mallory Two", "channels": ["email"], "email": VICTIM["email"]},
             {"name": "New Person Two", "channels": ["email"], "email": "new-two@example.org"}),
            ({"name": "Mallory Three", "channels": ["email"], "email": "mallory@example.org",
              "phone": VICTIM["phone"]},
             {"name": "New Person Three", "channels": ["email"], "email": "new-three@example.org",
              "phone": "+1 202 555 0178"}),
        ]  # fmt: skip
        answers = []
        for attack, control in pairs:
            attack_id, control_id = await pledge(client, **attack), await pledge(client, **control)
            answers.append(
                (
                    neutral(*await public_answers(client, attack_id), attack_id),
                    neutral(*await public_answers(client, control_id), control_id),
                )
            )
        for attacked, genuine in answers:
            assert attacked == genuine
        subscription = {
            "name": "Mallory Four", "country": "US", "email": "mallory-alerts@example.org",
            "phone": VICTIM["phone"], "channels": ["email"], "language": "en", "consent": True,
        }  # fmt: skip
        control_subscription = {**subscription, "email": "new-four@example.org", "phone": "+1 202 555 0179"}
        answered = await client.post("/api/v1/subscriptions", json=subscription)
        answered_control = await client.post("/api/v1/subscriptions", json=control_subscription)
        assert answered.status_code == answered_control.status_code == 202
        assert answered.json().keys() == answered_control.json().keys()
        [confirmation] = await mails(mail, "mallory-alerts@example.org", 1)
        assert (await post_form(client, link_in(mail, confirmation, "c"))).status_code == 200
        everything_public = [a for pair in answers for a in pair[0]]

    # The attacker's own address gets what anyone new gets: a certificate (their own number, their
    # own name), and the subscription confirmation. The victim gets a "was it you?" per use.
    await mails(mail, "mallory@example.org", 1, "certificate")
    attacker_member = await wait_for(
        lambda: members.one(email_confirmed="mallory-alerts@example.org"), what="subscribed"
    )
    notices = await mails(mail, VICTIM["email"], 4, "Was it you?")
    assert len(notices) == 4  # pledge by phone, by email, mixed pledge, subscription with the phone
    await asyncio.sleep(1)

    after = await members.get(victim["_id"])
    assert watched(after) == before, "nothing of the victim changed"
    assert await db.member_keys.count_documents({"member_id": victim["_id"]}) == 2
    assert "phones" not in attacker_member and "phone" not in attacker_member
    to_attacker = [
        text_of(mail, m) + m["Subject"]
        for address in ("mallory@example.org", "mallory-alerts@example.org")
        for m in await asyncio.to_thread(mail_to, mail, address)
    ]
    for text in [*to_attacker, *map(str, everything_public)]:
        assert number not in text and VICTIM["name"] not in text and "Sothearith" not in text
    for status in everything_public:
        assert "already_signed" not in str(status) and "certificate_number" not in str(status)


async def test_the_victims_details_change_only_once_they_use_the_confirmation(
    stack: Any, db: Any, mail: MailSink, members: Members
) -> None:
    async with httpx.AsyncClient(base_url=stack.intake, timeout=30) as client:
        victim, _ = await victim_signs(client, mail, db, members)
        before = watched(victim)
        changed = {
            "name": "Sothearith Changed", "channels": ["email", "whatsapp"], "email": VICTIM["email"],
            "phone": "+1 202 555 0190", "sessions_opt_in": True,
        }  # fmt: skip
        changed_id = await pledge(client, **changed)
        [notice] = await mails(mail, VICTIM["email"], 1, "Was it you?")
        await asyncio.sleep(1)
        assert watched(await members.get(victim["_id"])) == before
        link = link_in(mail, notice, "m/confirm")

        asked = await client.get(link)  # a mail scanner opening the link confirms nothing
        assert asked.status_code == 200 and 'data-state="ask"' in asked.text
        await asyncio.sleep(1)
        assert watched(await members.get(victim["_id"])) == before
        form = await csrf(client, link)  # the page the victim opened from the email
        done = await client.post(link, data=form)
        assert done.status_code == 200 and 'data-state="done"' in done.text

        member = await wait_for(
            lambda: members.one(_id=victim["_id"], name="Sothearith Changed"),
            what="change applied",
        )
        assert member["channels"] == ["email", "whatsapp"] and member["sessions_opt_in"] is True
        assert set(member["phones"]) == {VICTIM_PHONE, "+12025550190"}
        key = await db.member_keys.find_one({"_id": member_key(stack.env, "phone", "+12025550190")})
        assert key["member_id"] == victim["_id"], "the new contact joined the confirmed record"
        own = await db.pledges.find_one({"_id": changed_id})
        merged = await db.members.find_one({"_id": own["member_id"]})
        assert merged["merged_into"] == victim["_id"], "the pledge's own record is merged after proof"
        consents = await db.consents.find({"member_id": victim["_id"], "pledge_id": changed_id}).to_list(None)
        assert {c["kind"] for c in consents} == {"pledge", "alerts", "sessions"}

        again = await client.post(link, data=form)  # idempotent: a second use changes nothing more
        used = await client.get(link)
        made_up = await client.get("/m/confirm/" + "x" * 32)
        assert again.status_code == 200 and 'data-state="done"' in again.text
        assert used.status_code == made_up.status_code and used.text == made_up.text
    await asyncio.sleep(1)
    assert await db.consents.count_documents({"member_id": victim["_id"], "pledge_id": changed_id}) == 3


async def test_a_stopped_member_stays_stopped_after_a_subscription_with_their_phone(
    stack: Any, db: Any, mail: MailSink, rabbit: RabbitNode, members: Members
) -> None:
    async with httpx.AsyncClient(base_url=stack.intake, timeout=30) as client:
        victim, _ = await victim_signs(client, mail, db, members)
        connection = await connect(rabbit.url, "test")
        publisher = await Publisher.open(connection, "samleng")
        await publisher.publish(
            ConsentWithdrawn(
                correlation_id=victim["_id"],
                data=ConsentWithdrawnData(
                    member_id=victim["_id"], scope="all", source="unsubscribe-page", at=utcnow()
                ),
            )
        )
        await connection.close()
        await wait_for(
            lambda: db.members.find_one({"_id": victim["_id"], "unsubscribed": "all"}), what="STOP"
        )

        subscription = {
            "name": "Mallory", "country": "US", "email": "mallory@example.org", "phone": VICTIM["phone"],
            "channels": ["email", "whatsapp"], "language": "en", "consent": True,
        }  # fmt: skip
        assert (await client.post("/api/v1/subscriptions", json=subscription)).status_code == 202
        [confirmation] = await mails(mail, "mallory@example.org", 1)
        assert (await post_form(client, link_in(mail, confirmation, "c"))).status_code == 200
        [notice] = await mails(mail, VICTIM["email"], 1, "Was it you?")
        stopped = await db.members.find_one({"_id": victim["_id"]})
        assert stopped["unsubscribed"] == ["all"] and stopped.get("alerts_opt_in") is False
        mallory = await members.one(email_confirmed="mallory@example.org")
        assert mallory is not None
        assert mallory["_id"] != victim["_id"] and not mallory.get("phones")

        # Had it been the victim after all, their confirmation applies the subscription to them.
        assert (await post_form(client, link_in(mail, notice, "m/confirm"))).status_code == 200
    resumed = await wait_for(
        lambda: db.members.find_one({"_id": victim["_id"], "alerts_opt_in": True}), what="applied"
    )
    assert "all" not in resumed["unsubscribed"] and resumed["channels"] == ["email", "whatsapp"]
    assert (await db.members.find_one({"_id": mallory["_id"]}))["merged_into"] == victim["_id"]


async def test_a_guessed_number_answers_like_any_string_and_the_page_is_rate_limited(
    intake: str, db: Any
) -> None:
    signed = datetime(2026, 3, 1, tzinfo=UTC)
    await db.certificates.insert_many(
        [
            {"_id": "pl_a:r1", "number": "KCAP-2026-000123-7QK4", "state": "valid", "name": "Sok Dara",
             "show_name_publicly": False, "signed_on": signed, "pledge_id": "pl_a"},
            {"_id": "pl_b:r1", "number": "KCAP-2025-000009", "state": "valid", "name": "Keo Sina",
             "show_name_publicly": False, "signed_on": signed, "pledge_id": "pl_b"},
        ]
    )  # fmt: skip
    async with httpx.AsyncClient(base_url=intake, timeout=30) as client:
        real = await client.get("/v/KCAP-2026-000123-7QK4?lang=en")
        older = await client.get("/v/KCAP-2025-000009?lang=en")
        assert real.status_code == older.status_code == 200
        assert 'data-state="valid"' in real.text and "S. D." in real.text and "K. S." in older.text
        guessed = await client.get("/v/KCAP-2026-000123-7QK5?lang=en")
        serial_only = await client.get("/v/KCAP-2026-000123?lang=en")
        random_text = await client.get("/v/hello-there?lang=en")
        assert guessed.status_code == serial_only.status_code == random_text.status_code == 404
        assert guessed.text == serial_only.text == random_text.text
        api_guess = await client.get("/api/v1/certificates/KCAP-2026-000123-7QK5")
        api_random = await client.get("/api/v1/certificates/whatever")
        assert api_guess.status_code == 404 and api_guess.json() == api_random.json()

        codes = [(await client.get(f"/v/KCAP-2026-{i:06d}-AAAA")).status_code for i in range(30)]
    # 30 a minute per client, both routes together: 7 above, so the 24th here is refused.
    assert set(codes[:23]) == {404} and set(codes[23:]) == {429}, codes
    async with httpx.AsyncClient(base_url=intake, timeout=30) as client:
        limited = await client.get("/v/KCAP-2026-000123-7QK4")
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) > 0


async def test_a_later_messenger_account_replaces_the_first_only_once_the_member_confirms_it(
    stack: Any, db: Any, mail: MailSink, rabbit: RabbitNode, members: Members
) -> None:
    """A leaked pledge page's reference must not move the member's messages (or their STOP) to
    someone else's account: the first PSID stays, and the member is asked, on their contacts on
    file, whether the new one is theirs; only their confirmation moves it."""
    async with httpx.AsyncClient(base_url=stack.intake, timeout=30) as client:
        victim, number = await victim_signs(client, mail, db, members)
    pledge_id = (await db.certificates.find_one({"number": number}))["pledge_id"]
    connection = await connect(rabbit.url, "test")
    publisher = await Publisher.open(connection, "samleng")

    def linked(psid: str) -> ContactLinked:
        data = ContactLinkedData(
            channel="messenger", address_kind="psid", address=psid, pledge_id=pledge_id, linked_at=utcnow()
        )
        return ContactLinked(correlation_id=pledge_id, data=data)

    try:
        await publisher.publish(linked("7001000200030004"))  # the signer opens their m.me link
        await wait_for(lambda: members.one(_id=victim["_id"], psid="7001000200030004"), what="linked")
        await publisher.publish(linked("9009000800070006"))  # someone else, with the same link later
        await asyncio.sleep(2)
    finally:
        await connection.close()
    assert (await members.get(victim["_id"]) or {})["psid"] == "7001000200030004", "the first account stays"
    assert await db.member_keys.find_one({"_id": member_key(stack.env, "psid", "9009000800070006")}) is None

    [notice] = await mails(mail, VICTIM["email"], 1, "Was it you?")
    assert "Messenger" in notice["Subject"] and "9009000800070006" not in text_of(mail, notice)
    link = link_in(mail, notice, "m/confirm")
    async with httpx.AsyncClient(base_url=stack.intake, timeout=30) as client:
        assert (await client.get(link)).status_code == 200  # opening it (a mail scanner) changes nothing
        await asyncio.sleep(1)
        assert (await members.get(victim["_id"]) or {})["psid"] == "7001000200030004"
        assert (await post_form(client, link)).status_code == 200
    await wait_for(lambda: members.one(_id=victim["_id"], psid="9009000800070006"), what="confirmed change")
    new = await db.member_keys.find_one({"_id": member_key(stack.env, "psid", "9009000800070006")})
    assert new["member_id"] == victim["_id"]
    first = member_key(stack.env, "psid", "7001000200030004")
    assert await db.member_keys.find_one({"_id": first}) is None, "the first account no longer finds them"
