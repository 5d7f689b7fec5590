"""A member's links on intake, over real HTTP against the real broker and Mongo-wire server: the
unsubscribe link (also the one in `List-Unsubscribe`) opens only the unsubscribe action, the
personal page link opens the page until it expires, a forged, expired or old raw link reads like a
random string, and "end all my old links" hands pledge-intake its request (shared/member_links.py)."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from devstack.broker import RabbitNode
from shared.contracts import utcnow
from shared.contracts.alert import action_token
from shared.member_links import link_token, parse_link
from tests.support.forms import csrf
from tests.support.handed_over import watched

SECRET = "sec_" + "k" * 28
MEMBER = {
    "_id": "mb_links",
    "unsubscribe_token": SECRET,
    "email": "sophea@example.org",
    "name": "Chan Sophea",
    "language": "en",
    "alerts_opt_in": True,
    "topics": ["political-prisoners"],
    "channels": ["email"],
    "time_zone": "UTC",
}
UNSUBSCRIBE = link_token(SECRET, "mb_links", "unsubscribe")
CSRF_VALUE = re.compile(r'name="csrf_token" value="[^"]+"')


def preferences(valid_for: timedelta = timedelta(days=30), secret: str = SECRET) -> str:
    return link_token(secret, "mb_links", "preferences", utcnow() + valid_for)


def nothing_personal(response: httpx.Response) -> None:
    assert response.status_code == 404, response.url
    for held in ("sophea@example.org", "Chan Sophea", "political-prisoners", SECRET):
        assert held not in response.text, (response.url, held)


async def expired_like_random(client: httpx.AsyncClient, token: str) -> None:
    """`/p/<token>` answers exactly as `/p/<a random string>`: the expired page, nothing personal."""
    answer, random = await client.get(f"/p/{token}"), await client.get("/p/" + "r" * 32)
    nothing_personal(answer)
    assert 'data-state="expired"' in answer.text
    assert answer.status_code == random.status_code
    assert CSRF_VALUE.sub("", answer.text) == CSRF_VALUE.sub("", random.text)
    nothing_personal(await client.get(f"/p/{token}/export"))
    nothing_personal(await client.get(f"/p/{token}/erase"))


@pytest.fixture
async def member(db: Any) -> dict[str, Any]:
    await db.members.insert_one(dict(MEMBER))
    return MEMBER


@pytest.fixture
async def resets(rabbit: RabbitNode) -> AsyncIterator[Any]:
    async with watched(rabbit.url, "test-links", ("member.links_reset_requested.v1",)) as queue:
        yield queue


async def test_the_unsubscribe_link_opens_only_the_unsubscribe_action(intake: str, member: Any) -> None:
    async with httpx.AsyncClient(base_url=intake) as client:
        page = await client.get(f"/u/{UNSUBSCRIBE}", params={"lang": "en"})
        assert page.status_code == 200 and 'id="unsubscribe-button"' in page.text
        await expired_like_random(client, UNSUBSCRIBE)
        for path in (f"/p/{UNSUBSCRIBE}", f"/p/{UNSUBSCRIBE}/erase", f"/p/{UNSUBSCRIBE}/links"):
            refused = await client.post(path, data=await csrf(client, "/subscribe"))
            nothing_personal(refused)


async def test_the_personal_page_link_opens_the_page_and_links_a_separate_unsubscribe(
    intake: str, member: Any
) -> None:
    token = preferences()
    async with httpx.AsyncClient(base_url=intake) as client:
        page = await client.get(f"/p/{token}")
        assert page.status_code == 200 and 'id="end-links-button"' in page.text
        stop = re.search(r'href="/u/([^"?]+)\?lang=en" id="stop-everything"', page.text)
        assert stop and stop.group(1) == UNSUBSCRIBE and token not in stop.group(1)
        assert (await client.get(f"/p/{token}/export")).status_code == 200
        assert (await client.get(f"/p/{token}/erase")).status_code == 200
        assert (await client.get(f"/u/{token}")).status_code == 404, "a page link does not unsubscribe"


async def test_an_expired_forged_or_old_raw_page_link_reads_like_a_random_string(
    intake: str, member: Any
) -> None:
    token = preferences()
    forged = token.rsplit(".", 1)[0] + ".AAAAAAAAAAAAAAAAAAAAAA"
    async with httpx.AsyncClient(base_url=intake) as client:
        await expired_like_random(client, preferences(timedelta(seconds=-1)))
        await expired_like_random(client, forged)
        await expired_like_random(client, preferences(secret="another-secret-" + "x" * 20))
        await expired_like_random(client, SECRET)  # an old link carried the raw secret
        km = await client.get(f"/p/{SECRET}", params={"lang": "km"})
        assert "ផុតកំណត់" in km.text
        old_unsubscribe = await client.get(f"/u/{SECRET}")
        assert old_unsubscribe.status_code == 200, "old unsubscribe links keep unsubscribing"
        assert (await client.get(f"/u/{forged}")).status_code == 404


async def test_ending_all_old_links_is_handed_to_pledge_intake_then_moves_to_a_fresh_link(
    intake: str, db: Any, member: Any, resets: Any
) -> None:
    token = preferences()
    async with httpx.AsyncClient(base_url=intake) as client:
        form = await csrf(client, f"/p/{token}")
        asked = asyncio.create_task(client.post(f"/p/{token}/links", data=form))
        message = None
        for _ in range(100):
            message = await resets.get(no_ack=True, fail=False)
            if message is not None:
                break
            await asyncio.sleep(0.05)
        assert message is not None
        assert json.loads(message.body)["data"]["member_id"] == "mb_links"
        # pledge-intake's part (services/pledge_intake/subscriptions.py): a new secret
        await db.members.update_one({"_id": "mb_links"}, {"$set": {"unsubscribe_token": "new_" + "n" * 28}})
        moved = await asked
        assert moved.status_code == 303
        fresh = moved.headers["location"].split("/p/", 1)[1].split("?", 1)[0]
        old, new = parse_link(token), parse_link(fresh)
        assert old is not None and new is not None and new.expires == old.expires and fresh != token
        page = await client.get(moved.headers["location"])
        assert page.status_code == 200 and 'data-state="links-new"' in page.text
        await expired_like_random(client, token)
        assert (await client.get(f"/u/{UNSUBSCRIBE}")).status_code == 404
        assert (await client.get(f"/u/{SECRET}")).status_code == 404


async def test_ending_all_old_links_says_so_when_pledge_intake_is_slow(
    intake: str, member: Any, resets: Any
) -> None:
    token = preferences()
    async with httpx.AsyncClient(base_url=intake, timeout=30) as client:
        done = await client.post(f"/p/{token}/links", data=await csrf(client, f"/p/{token}"))
    assert done.status_code == 200 and 'data-state="links-ended"' in done.text


async def test_action_and_cancel_links_and_member_links_open_only_their_own_pages(
    intake: str, member: Any
) -> None:
    """The "I took action" token (`dl_….<random>`) and a session's cancel token (`rg_….<mac>`) are
    purposes of their own: neither opens a member's page nor unsubscribes, and a member's links
    open neither of theirs."""
    action = action_token("dl_" + "0" * 24)
    cancel = "rg_" + "0" * 24 + "." + "f" * 32
    async with httpx.AsyncClient(base_url=intake) as client:
        for token in (action, cancel):
            assert (await client.get(f"/u/{token}")).status_code == 404, token
            await expired_like_random(client, token)
        for token in (UNSUBSCRIBE, preferences()):
            done = await client.get(f"/a/done/{token}")
            cancelled = await client.get(f"/sessions/cancel/{token}")
            assert done.status_code == 404 and cancelled.status_code == 404, token
