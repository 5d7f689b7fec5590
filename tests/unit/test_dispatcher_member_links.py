"""The links the dispatcher puts in a message: an unsubscribe link that never expires and a fresh
personal page link that does, both made from the member's secret, never the secret itself."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from services.dispatcher.deliveries import Deps, preferences_url, unsubscribe_url
from shared.contracts import utcnow
from shared.member_links import parse_link, verified

SECRET = "sec_" + "d" * 28


def deps(days: int = 30) -> Deps:
    none: Any = None
    return Deps(
        deliveries=none, db=none, channels={}, public_base_url="https://pledge.example.org/",
        preferences_link_days=days,
    )  # fmt: skip


def test_the_unsubscribe_link_opens_unsubscribe_only_and_never_expires() -> None:
    url = unsubscribe_url(deps(), {"_id": "mb_7", "unsubscribe_token": SECRET})
    assert url is not None and url.startswith("https://pledge.example.org/u/mb_7.unsubscribe.0.")
    link = parse_link(url.rsplit("/", 1)[1])
    assert link is not None and SECRET not in url
    assert verified(link, SECRET, "unsubscribe", utcnow() + timedelta(days=3650))
    assert not verified(link, SECRET, "preferences", utcnow())


def test_the_personal_page_link_expires_after_the_setting() -> None:
    url = preferences_url(deps(days=2), {"_id": "mb_7", "unsubscribe_token": SECRET})
    assert url is not None and url.startswith("https://pledge.example.org/p/mb_7.preferences.")
    link = parse_link(url.rsplit("/", 1)[1])
    assert link is not None and SECRET not in url
    assert verified(link, SECRET, "preferences", utcnow() + timedelta(days=1))
    assert not verified(link, SECRET, "preferences", utcnow() + timedelta(days=2, seconds=5))
    assert not verified(link, SECRET, "unsubscribe", utcnow())


def test_no_secret_no_links() -> None:
    for member in ({"_id": "mb_7"}, None):
        assert unsubscribe_url(deps(), member) is None and preferences_url(deps(), member) is None
