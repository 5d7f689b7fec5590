"""A member's purpose-bound links (shared/member_links.py): each opens one thing, forged or expired
ones open nothing, and a new secret ends them all."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shared import member_links
from shared.member_links import MAC_BYTES, expiry_of, link_token, parse_link, verified

SECRET = "s" * 32
NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
MONTH = timedelta(days=30)


def test_the_public_surface() -> None:
    assert set(member_links.__all__) == {
        "PURPOSES", "MemberLink", "Purpose", "expiry_of", "link_token", "parse_link", "verified",
    }  # fmt: skip


def test_a_link_names_its_member_purpose_and_expiry_and_carries_128_bits_of_mac() -> None:
    token = link_token(SECRET, "mb_42", "preferences", NOW + MONTH)
    link = parse_link(token)
    assert link is not None
    assert (link.member_id, link.purpose, link.expires) == (
        "mb_42",
        "preferences",
        int((NOW + MONTH).timestamp()),
    )
    assert len(link.mac) >= MAC_BYTES * 8 // 6 and SECRET not in token
    assert all(c.isalnum() or c in "-_." for c in token), "URL-safe"


def test_an_unsubscribe_link_never_expires_and_opens_only_the_unsubscribe_action() -> None:
    link = parse_link(link_token(SECRET, "mb_42", "unsubscribe"))
    assert link is not None and link.expires == 0
    assert verified(link, SECRET, "unsubscribe", NOW + timedelta(days=3650))
    assert not verified(link, SECRET, "preferences", NOW)


def test_a_preferences_link_opens_the_page_until_it_expires_and_never_unsubscribes() -> None:
    link = parse_link(link_token(SECRET, "mb_42", "preferences", NOW + MONTH))
    assert link is not None
    assert verified(link, SECRET, "preferences", NOW + MONTH - timedelta(seconds=1))
    assert not verified(link, SECRET, "preferences", NOW + MONTH)
    assert not verified(link, SECRET, "unsubscribe", NOW)


@pytest.mark.parametrize(
    "change",
    [
        lambda t: t.rsplit(".", 1)[0] + ".AAAAAAAAAAAAAAAAAAAAAA",  # another mac
        lambda t: t.replace("mb_42.", "mb_43.", 1),  # another member
        lambda t: t.replace(".preferences.", ".unsubscribe.", 1),  # another purpose
        lambda t: t.replace(t.split(".")[2], str(int(t.split(".")[2]) + 86400)),  # a later expiry
        lambda t: t.replace(t.split(".")[2], "0"),  # never expiring
    ],
)
def test_a_changed_link_is_refused(change: object) -> None:
    token = link_token(SECRET, "mb_42", "preferences", NOW + MONTH)
    forged = change(token)  # type: ignore[operator]
    link = parse_link(forged)
    assert link is not None and forged != token
    assert not verified(link, SECRET, "preferences", NOW) and not verified(link, SECRET, "unsubscribe", NOW)


def test_a_new_secret_ends_every_link_and_no_secret_opens_nothing() -> None:
    link = parse_link(link_token(SECRET, "mb_42", "unsubscribe"))
    assert link is not None
    assert not verified(link, "n" * 32, "unsubscribe", NOW)
    assert not verified(link, None, "unsubscribe", NOW) and not verified(link, "", "unsubscribe", NOW)


@pytest.mark.parametrize(
    "token",
    ["", "b" * 32, "tok_" + "a" * 30, "mb_42.other.0.mac", "mb_42.unsubscribe.soon.mac", ".unsubscribe.0.mac",
     "mb_42.unsubscribe.0.", "mb_42.unsubscribe.-1.mac", "x" * 300 + ".unsubscribe.0.mac"],
)  # fmt: skip
def test_what_is_not_shaped_like_a_link_is_not_one(token: str) -> None:
    assert parse_link(token) is None


def test_member_ids_with_dots_still_parse() -> None:
    link = parse_link(link_token(SECRET, "a.b.c", "unsubscribe"))
    assert link is not None and link.member_id == "a.b.c" and verified(link, SECRET, "unsubscribe", NOW)


def test_only_known_purposes_and_expiry_read_back() -> None:
    with pytest.raises(ValueError, match="unknown link purpose"):
        link_token(SECRET, "mb_42", "erase")  # type: ignore[arg-type]
    link = parse_link(link_token(SECRET, "mb_42", "preferences", NOW + MONTH))
    assert link is not None and expiry_of(link) == NOW + MONTH
    forever = parse_link(link_token(SECRET, "mb_42", "unsubscribe"))
    assert forever is not None and expiry_of(forever) is None
