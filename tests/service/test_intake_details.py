"""A discreet message's link on intake (`/d/{token}`, services/intake/details.py), over real HTTP
against the real Mongo-wire server, with the details written as the dispatcher writes them
(shared/message_details.py: sealed with the member's data key by a vault on the same keys as the
site's). The GET shows a button and nothing of the message; the POST shows it once; unknown,
forged, spent, expired and erased links get the same neutral page; the certificate's PDF
downloads once. One test opens the link in Chromium (EN and KM) and checks it with axe."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from shared.contracts import utcnow
from shared.contracts.alert import Official
from shared.contracts.delivery import AlertRef, CertificateRef, NoticeRef, ReminderRef
from shared.contracts.pledge import PostalAddress
from shared.message_details import MESSAGE_DETAILS, SPENT_DETAILS, DetailContent, new_token, token_hash
from shared.personal_data import Vault, seal_bytes
from shared.storage import FileStore, StoredFile
from tests.support.console_browser import SHOTS, axe_check
from tests.support.forms import csrf

MEMBER = "mb_discreet"
PERSON = "Chan Sophea"
CSRF_VALUE = re.compile(r'name="csrf_token" value="[^"]+"')
PDF_BYTES = b"%PDF-1.4\n% a certificate for the test\n%%EOF\n"


def alert(language: str = "en") -> AlertRef:
    khmer = language == "km"
    return AlertRef(
        alert_id="al_discreet",
        number="UA 12/26",
        title="ដោះលែងលោក សុខ ដារា" if khmer else "Release Sok Dara",
        summary="លោក សុខ ដារា ត្រូវបានចាប់ខ្លួន។" if khmer else "Sok Dara was arrested for a post.",
        actions=["សរសេរទៅរដ្ឋមន្ត្រី"] if khmer else ["Write to the minister", "Share the case"],
        officials=[
            Official(
                name="Keo Vanna",
                title="Minister of Justice",
                email="minister@justice.example",
                salutation="ឯកឧត្តម" if khmer else "Your Excellency",
                postal_address=PostalAddress(
                    street_address="240 Sothearos Blvd", city="Phnom Penh", country_code="KH"
                ),
            )
        ],
        letter=f"{'ឯកឧត្តម' if khmer else 'Your Excellency'},\n\nI, {PERSON}, ask you to release Sok Dara.",
        letter_subject="Sok Dara",
        deadline=datetime(2026, 12, 15, 12, tzinfo=UTC),
        public_url="http://intake.test/a/UA-12-26",
        action_url="http://intake.test/a/done/dl_discreet.secretsecretsecret1",
    )


def certificate(file_id: str) -> CertificateRef:
    return CertificateRef(
        certificate_number="KCAP-2026-000125-ABCD",
        bucket="certificate_files",
        pdf_file_id=file_id,
        png_file_id=file_id,
        verify_url="http://intake.test/v/KCAP-2026-000125-ABCD",
    )


@pytest.fixture
def write(db: Any, vault: Vault) -> Callable[..., Any]:
    async def detail(
        purpose: str = "alert",
        language: str = "en",
        valid_for: timedelta = timedelta(hours=72),
        subject: str = MEMBER,
        **parts: Any,
    ) -> str:
        """A `message_details` document exactly as the dispatcher writes it; the link's token."""
        token = new_token()
        now = utcnow()
        expires_at = now + valid_for
        content = DetailContent(purpose=purpose, language=language, expires_at=expires_at, **parts)
        await db[MESSAGE_DETAILS].insert_one(
            {
                "_id": token_hash(token),
                "subject": subject,
                "purpose": purpose,
                "created_at": now,
                "expires_at": expires_at,
                "sealed": await vault.seal(subject, content.model_dump(mode="json")),
            }
        )
        return token

    return detail


def neutral(response: httpx.Response) -> str:
    """The neutral page's text (without any CSRF token), after checking it is one."""
    assert response.status_code == 404, (response.status_code, response.text[:500])
    assert 'data-state="nothing"' in response.text
    assert response.headers["cache-control"] == "no-store"
    for held in (PERSON, "Sok Dara", "UA 12/26", "detail-button"):
        assert held not in response.text
    return CSRF_VALUE.sub("", response.text)


async def test_the_link_shows_a_button_and_nothing_of_the_message(
    site: str, write: Callable[..., Any], db: Any
) -> None:
    token = await write(alert=alert())
    stored = await db[MESSAGE_DETAILS].find_one({"_id": token_hash(token)})
    assert PERSON not in str(stored) and "Sok Dara" not in str(stored), "stored sealed"
    async with httpx.AsyncClient(base_url=site) as client:
        page = await client.get(f"/d/{token}")
    assert page.status_code == 200 and 'id="detail-button"' in page.text
    assert 'data-state="ask"' in page.text and f'action="/d/{token}?lang=en"' in page.text
    for held in (PERSON, "Sok Dara", "UA 12/26", "Keo Vanna", "minister@justice.example", "dl_discreet"):
        assert held not in page.text, held
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["referrer-policy"] == "no-referrer"
    assert page.headers["x-robots-tag"] == "noindex"


async def test_the_message_is_shown_once(site: str, write: Callable[..., Any], db: Any) -> None:
    token = await write(alert=alert())
    async with httpx.AsyncClient(base_url=site) as client:
        form = await csrf(client, f"/d/{token}")
        shown = await client.post(f"/d/{token}", data=form)
        assert shown.status_code == 200, shown.text
        assert shown.headers["cache-control"] == "no-store"
        text = shown.text
        assert 'data-state="shown"' in text and "will not be shown again" in text
        for held in (
            "Urgent Action UA 12/26",
            "Release Sok Dara",
            "Sok Dara was arrested for a post.",
            "Write to the minister",
            "Your Excellency Keo Vanna, Minister of Justice",
            "240 Sothearos Blvd",
            f"I, {PERSON}, ask you to release Sok Dara.",
            "Subject: Sok Dara",
            "Please act before December 15, 2026.",
            'href="http://intake.test/a/done/dl_discreet.secretsecretsecret1" id="detail-took-action"',
            'href="http://intake.test/a/UA-12-26" id="detail-public-page"',
            'href="mailto:minister@justice.example?subject=Sok%20Dara&amp;body=Your%20Excellency',
        ):
            assert held in text, held
        assert 'id="switch-lang"' not in text, "a GET of the link would show nothing"
        again = neutral(await client.post(f"/d/{token}", data=form))
        after = neutral(await client.get(f"/d/{token}"))
        unknown = neutral(await client.get(f"/d/{new_token()}"))
    assert again == after == unknown
    [mark] = await db[SPENT_DETAILS].find().to_list(None)  # the hash and its expiry, nothing else
    assert set(mark) == {"_id", "expires_at"} and mark["_id"] == token_hash(token)
    assert "retention_expires_at" in await db[SPENT_DETAILS].index_information()


async def test_unknown_forged_spent_expired_and_erased_links_look_the_same(
    site: str, write: Callable[..., Any], vault: Vault
) -> None:
    spent = await write(alert=alert())
    soon = await write(alert=alert(), valid_for=timedelta(seconds=1))
    past = await write(alert=alert(), valid_for=timedelta(seconds=-1))
    async with httpx.AsyncClient(base_url=site) as client:
        assert (await client.get(f"/d/{soon}")).status_code == 200, "shown until it expires"
        form = await csrf(client, f"/d/{spent}")
        assert (await client.post(f"/d/{spent}", data=form)).status_code == 200
        await asyncio.sleep(1.2)
        forged = spent[:-4] + ("AAAA" if not spent.endswith("AAAA") else "BBBB")
        links = [new_token(), forged, spent, soon, past, "short", "x" * 65, "not a token!" * 2]
        pages = set()
        for token in links:
            pages.add(neutral(await client.get(f"/d/{token}")))
            pages.add(neutral(await client.post(f"/d/{token}", data=form)))
        assert len(pages) == 1
        km = {neutral(await client.get(f"/d/{token}", params={"lang": "km"})) for token in links}
        assert len(km) == 1 and "គ្មានអ្វីត្រូវបង្ហាញ" in km.pop()

        erased = await write(alert=alert(), subject="mb_erased")  # a key the site never used (cached 60 s)
        await vault.forget("mb_erased")
        assert neutral(await client.get(f"/d/{erased}")) in pages


async def test_a_post_without_the_pages_csrf_token_is_refused_and_spends_nothing(
    site: str, write: Callable[..., Any]
) -> None:
    token = await write(alert=alert())
    async with httpx.AsyncClient(base_url=site) as client:
        refused = await client.post(f"/d/{token}", data={"csrf_token": "forged"})
        assert refused.status_code == 403
        assert (await client.post(f"/d/{token}")).status_code == 403
        assert (await client.post(f"/d/{token}/certificate")).status_code == 403
        assert 'data-state="ask"' in (await client.get(f"/d/{token}")).text, "not spent"


async def test_the_certificate_pdf_downloads_once(
    site: str, write: Callable[..., Any], db: Any, vault: Vault
) -> None:
    files = FileStore(db, "certificate_files")  # as the renderer stores it: sealed for the member
    [file_id] = await files.put(
        [
            StoredFile(
                "KCAP-2026-000125-ABCD.pdf", await seal_bytes(vault, MEMBER, PDF_BYTES), {"sealed": True}
            )
        ]
    )
    token = await write("certificate", certificate=certificate(str(file_id)))
    async with httpx.AsyncClient(base_url=site) as client:
        form = await csrf(client, f"/d/{token}")
        shown = await client.post(f"/d/{token}", data=form)
        assert shown.status_code == 200
        assert "Certificate no. KCAP-2026-000125-ABCD" in shown.text
        assert 'href="http://intake.test/v/KCAP-2026-000125-ABCD"' in shown.text
        assert f'action="/d/{token}/certificate?lang=en"' in shown.text
        assert "Download your certificate (PDF)" in shown.text
        pdf = await client.post(f"/d/{token}/certificate", data=form)
        assert pdf.status_code == 200 and pdf.content == PDF_BYTES
        assert pdf.headers["content-type"] == "application/pdf"
        assert pdf.headers["content-disposition"] == 'attachment; filename="KCAP-2026-000125-ABCD.pdf"'
        assert pdf.headers["cache-control"] == "no-store"
        neutral(await client.post(f"/d/{token}/certificate", data=form))


async def test_a_session_message_and_a_notice_show_their_details(
    site: str, write: Callable[..., Any]
) -> None:
    starts = datetime(2026, 12, 20, 13, tzinfo=UTC)
    reminder = ReminderRef(
        kind="join-link",
        session_id="se_1",
        title="Planning the UN review",
        when="Sunday 20 December 2026, 20:00",
        until="21:30",
        time_zone="Asia/Phnom_Penh",
        starts_at=starts,
        ends_at=starts + timedelta(hours=1, minutes=30),
        mode="online",
        join_link="https://meet.example/abc-defg",
        public_url="http://intake.test/sessions/se_1",
        ics_url="http://intake.test/sessions/se_1.ics",
        plan_of_action="1. Read the report\n2. Bring questions",
        cancel_url="http://intake.test/sessions/cancel/tok",
    )
    notice = NoticeRef(
        kind="confirm-subscription",
        subject="Confirm your subscription",
        body="Open the link to confirm.",
        link_url="javascript:alert(1)",
        link_label="Confirm",
    )
    session, plain = await write("reminder", reminder=reminder), await write("notice", notice=notice)
    async with httpx.AsyncClient(base_url=site) as client:
        shown = await client.post(f"/d/{session}", data=await csrf(client, f"/d/{session}"))
        for held in (
            "How to join",
            "Planning the UN review",
            "Sunday 20 December 2026, 20:00 until 21:30",
            'href="https://meet.example/abc-defg" id="detail-join"',
            'href="http://intake.test/sessions/se_1.ics" id="detail-ics"',
            'href="http://intake.test/sessions/cancel/tok" id="detail-cancel"',
            "1. Read the report\n2. Bring questions",
        ):
            assert held in shown.text, held
        shown = await client.post(f"/d/{plain}", data=await csrf(client, f"/d/{plain}"))
        assert "Confirm your subscription" in shown.text and "Open the link to confirm." in shown.text
        assert "javascript:" not in shown.text, "only web links are shown"


async def test_details_stored_plain_are_shown_without_encryption(
    make_intake: Callable[..., Any], db: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SAMLENG_MASTER_KEY", raising=False)
    monkeypatch.delenv("SAMLENG_BLIND_INDEX_KEY", raising=False)
    token, now = new_token(), utcnow()
    content = DetailContent(
        purpose="alert", language="en", expires_at=now + timedelta(hours=1), alert=alert()
    )
    await db[MESSAGE_DETAILS].insert_one(
        {
            "_id": token_hash(token),
            "subject": MEMBER,
            "purpose": "alert",
            "created_at": now,
            "expires_at": content.expires_at,
            "content": content.model_dump(mode="json"),
        }
    )
    async with make_intake() as url, httpx.AsyncClient(base_url=url) as client:
        shown = await client.post(f"/d/{token}", data=await csrf(client, f"/d/{token}"))
        assert shown.status_code == 200 and "Release Sok Dara" in shown.text


@pytest.mark.parametrize("lang", ["en", "km"])
async def test_the_link_in_a_browser(chromium: Any, site: str, write: Callable[..., Any], lang: str) -> None:
    token = await write(alert=alert(lang), language=lang)
    context = await chromium.new_context(locale="km-KH" if lang == "km" else "en-GB")
    try:
        page = await context.new_page()
        await page.goto(f"{site}/d/{token}")
        assert await page.get_attribute("html", "lang") == lang
        assert await page.locator("#detail-alert-title").count() == 0
        assert await axe_check(page) == []
        await screenshot(page, "ask", lang)
        async with page.expect_navigation():
            await page.click("#detail-button")
        assert await page.locator("#detail-alert-title").inner_text() == alert(lang).title
        assert await page.locator("#detail-alert-letter").is_visible()
        assert await axe_check(page) == []
        await screenshot(page, "shown", lang)
        await page.goto(f"{site}/d/{token}")
        assert await page.locator("#detail-state").get_attribute("data-state") == "nothing"
        assert await axe_check(page) == []
        await screenshot(page, "nothing", lang)
    finally:
        await context.close()


async def screenshot(page: Any, name: str, lang: str) -> None:
    SHOTS.mkdir(exist_ok=True)
    await page.screenshot(path=str(SHOTS / f"detail-{name}-{lang}.png"), full_page=True)
