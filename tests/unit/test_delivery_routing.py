"""The dispatcher's decisions and the channel guards, as pure logic."""

from __future__ import annotations

import asyncio
import time

import pytest

from services.dispatcher.deliveries import receipt_waits
from services.dispatcher.routing import (
    NO_RECEIPT,
    delivery_id,
    next_channel,
    plan_certificate,
    receipt_wait,
    supersedes,
    unconfirmed,
    why_not,
)
from shared.channels.catalogue import catalogue
from shared.channels.guards import CircuitBreaker, RateLimiter
from shared.contracts.delivery import UNRESOLVED, Recipient
from shared.contracts.pledge import PostalAddress

CHANNELS = catalogue()


def person(**changes: object) -> Recipient:
    base: dict[str, object] = {
        "member_id": "mb_1",
        "name": "Sok Dara",
        "language": "en",
        "country": "US",
        "email": "dara@example.org",
        "postal_address": PostalAddress(
            street_address="1 Main St",
            city="Lowell",
            country_area="MA",
            postal_code="01852",
            country_code="US",
        ),
    }
    return Recipient(**{**base, **changes})  # type: ignore[arg-type]


def test_delivery_ids_are_deterministic_and_distinct_per_channel() -> None:
    a = delivery_id("certificate", "KCAP-2026-000001", "mb_1", "email")
    assert a == delivery_id("certificate", "KCAP-2026-000001", "mb_1", "email")
    assert a != delivery_id("certificate", "KCAP-2026-000001", "mb_1", "post")
    assert a != delivery_id("certificate", "KCAP-2026-000002", "mb_1", "email")


def test_every_chosen_channel_gets_a_decision_in_order_without_duplicates() -> None:
    decisions = plan_certificate(["post", "email", "post"], person(), CHANNELS, [])
    assert [(d.channel, d.skipped_reason) for d in decisions] == [("post", None), ("email", None)]


def test_cambodia_never_gets_post_and_missing_addresses_are_skipped_with_a_reason() -> None:
    decisions = plan_certificate(["post", "email"], person(country="KH", email=None), CHANNELS, [])
    assert [(d.channel, d.skipped_reason) for d in decisions] == [
        ("post", "not-available-in-KH"),
        ("email", "no-email-address"),
    ]


def test_unsubscribed_members_and_channels_get_nothing() -> None:
    assert why_not("email", person(), "certificate", CHANNELS, ["all"]) == "unsubscribed"
    assert why_not("email", person(), "certificate", CHANNELS, ["email"]) == "unsubscribed"
    assert why_not("post", person(), "certificate", CHANNELS, ["email"]) is None


def test_a_channel_that_is_not_installed_is_never_chosen() -> None:
    assert why_not("carrier-pigeon", person(), "certificate", CHANNELS, []) == "channel-not-installed"


def test_fallback_takes_the_next_eligible_untried_channel() -> None:
    assert next_channel(["email", "post"], ["email"], person(), "certificate", CHANNELS, []) == "post"
    assert next_channel(["email", "post"], ["email", "post"], person(), "certificate", CHANNELS, []) is None
    assert (
        next_channel(["email", "post"], ["email"], person(country="KH"), "certificate", CHANNELS, []) is None
    )


@pytest.mark.parametrize(
    ("current", "new", "applies"),
    [
        (("pending", 1), ("sent", 1), True),
        (("pending", 1), ("retrying", 1), True),
        (("retrying", 1), ("retrying", 2), True),
        (("retrying", 2), ("retrying", 1), False),  # a late report of an earlier attempt
        (("retrying", 3), ("sent", 2), True),  # whatever the attempt, sent beats retrying
        (("sent", 1), ("retrying", 1), False),
        (("sent", 1), ("delivered", 1), True),
        (("delivered", 1), ("sent", 1), False),  # webhooks out of order
        (("sent", 1), ("failed_permanent", 1), True),  # a later bounce
        (("failed_permanent", 1), ("sent", 2), False),
        (("unknown", 1), ("sent", 2), True),
        (("sent", 1), ("sent", 1), False),
        (("dead_lettered", 5), ("sent", 5), True),  # replayed from the DLQ by an operator
        (("dead_lettered", 5), ("retrying", 5), False),
        (("unknown", 2), ("delivered", 2), True),  # a receipt after an unresolved outcome
        (("unknown", 2), ("unknown", 1), False),
    ],
)
def test_status_reports_only_move_a_delivery_forward(
    current: tuple[str, int], new: tuple[str, int], applies: bool
) -> None:
    assert supersedes(current[0], current[1], new[0], new[1]) is applies


@pytest.mark.parametrize(
    ("state", "reason", "wait", "decided", "expected"),
    [
        ("sent", None, 60.0, False, 60.0),  # a channel with receipts waits for one
        ("sent", None, None, False, None),  # one without: sent is as far as it goes
        ("sent", None, 60.0, True, None),  # it fell back already (or never does): once
        ("unknown", UNRESOLVED, 60.0, False, 60.0),  # a receipt may still tell
        ("unknown", UNRESOLVED, None, False, 0.0),  # nothing will: fall back now
        ("unknown", UNRESOLVED, None, True, None),
        ("unknown", "signal-429", 60.0, False, None),  # still being reconciled
        ("delivered", None, 60.0, False, None),
        ("failed_permanent", "131026", 60.0, False, None),  # falls back as a failure
        ("retrying", "http-503", 60.0, False, None),
    ],
)
def test_which_deliveries_wait_for_a_receipt_and_how_long(
    state: str, reason: str | None, wait: float | None, decided: bool, expected: float | None
) -> None:
    assert receipt_wait(state, reason, wait, decided) == expected


@pytest.mark.parametrize(
    ("state", "reason", "falls_back"),
    [
        ("sent", None, True),
        ("sent", NO_RECEIPT, True),  # a replayed timer repeats the recorded decision
        ("unknown", UNRESOLVED, True),
        ("unknown", NO_RECEIPT, True),
        ("unknown", "signal-timeout", False),
        ("delivered", None, False),  # the receipt came in time
        ("failed_permanent", "131047", False),
    ],
)
def test_a_receipt_wait_ending_falls_back_only_from_an_unconfirmed_delivery(
    state: str, reason: str | None, falls_back: bool
) -> None:
    assert unconfirmed(state, reason) is falls_back


def test_channels_declare_receipts_and_the_environment_changes_the_wait(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("WHATSAPP_RECEIPT_WAIT_SECONDS", "2")
    monkeypatch.setenv("SIGNAL_RECEIPT_WAIT_SECONDS", "0")  # never falls back for a receipt
    monkeypatch.setenv("EMAIL_RECEIPT_WAIT_SECONDS", "5")  # email gets no receipts: ignored
    these = {name: CHANNELS[name] for name in ("email", "post", "signal", "whatsapp")}
    assert receipt_waits(these) == {"whatsapp": 2.0}
    monkeypatch.delenv("SIGNAL_RECEIPT_WAIT_SECONDS")
    declared = {n: c.receipt_wait_seconds for n, c in these.items() if c.receipt_wait_seconds}
    assert set(declared) == {"signal", "whatsapp"}
    assert receipt_waits(these)["signal"] == declared["signal"]
    assert set(receipt_waits(CHANNELS)) == {n for n, c in CHANNELS.items() if c.receipt_wait_seconds}


async def test_the_rate_limiter_spaces_sends_at_the_declared_rate() -> None:
    limiter = RateLimiter(rate=50, burst=1)
    started = time.monotonic()
    for _ in range(11):
        await limiter.acquire()
    assert time.monotonic() - started >= 0.18


async def test_the_circuit_breaker_opens_after_failures_and_lets_one_trial_through_after_cooldown() -> None:
    breaker = CircuitBreaker(threshold=3, cooldown=0.05)
    for _ in range(3):
        assert breaker.allow()
        breaker.failure()
    assert breaker.state == "open" and not breaker.allow()
    await asyncio.sleep(0.06)
    assert breaker.allow() and not breaker.allow()  # one trial at a time
    breaker.failure()
    assert breaker.state == "open"
    await asyncio.sleep(0.06)
    assert breaker.allow()
    breaker.success()
    assert breaker.state == "closed" and breaker.allow()


@pytest.mark.parametrize(
    ("text", "stop"),
    [
        ("STOP", True),
        (" stop! ", True),
        ("Unsubscribe", True),
        ("ឈប់", True),
        ("ឈប់ផ្ញើ", True),
        ("please stop sending me the form", False),
        ("DONE", False),
        ("ឈប់ 2", False),
    ],
)
def test_stop_replies_are_recognised_in_english_and_khmer(text: str, stop: bool) -> None:
    from services.pledge_intake.app import is_stop

    assert is_stop(text) is stop


def test_every_delivery_state_can_be_shown_to_the_signer_in_both_languages() -> None:
    from typing import get_args

    from services.intake.i18n import UI
    from shared.contracts.delivery import DeliveryState

    for state in get_args(DeliveryState):
        assert set(UI[f"delivery_{state}"]) == {"en", "km"}, state


def test_members_follow_the_topics_they_chose_or_all_of_them() -> None:
    from services.dispatcher.alerts import follows

    assert follows({}, ["elections"])
    assert follows({"topics": ["elections", "media-freedom"]}, ["elections"])
    assert not follows({"topics": ["land-evictions"]}, ["elections"])


@pytest.mark.parametrize(
    ("text", "done"), [("DONE", True), ("done!", True), ("រួចរាល់", True), ("not done yet", False)]
)
def test_done_replies_are_recognised(text: str, done: bool) -> None:
    from services.dispatcher.alerts import is_done

    assert is_done(text) is done


def test_a_sensitive_alert_in_chat_is_only_the_link() -> None:
    from datetime import UTC, datetime

    from shared.channels.texts import alert_text
    from shared.contracts.delivery import AlertRef, DeliveryRequestedData

    def delivery(sensitive: bool, kind: str = "alert") -> DeliveryRequestedData:
        alert = AlertRef(
            alert_id="al_1",
            number="UA 1/26",
            kind=kind,  # type: ignore[arg-type]
            sensitive=sensitive,
            title="Release Sok Vanna",
            summary="Sok Vanna was sentenced.",
            public_url="https://pledge.example.org/a/UA-1-26",
            action_url="https://pledge.example.org/a/done/t",
        )
        return DeliveryRequestedData(
            delivery_id="dl_1",
            channel="signal",
            purpose="alert",
            source_id="al_1#0",
            recipient=person(language="km"),
            alert=alert,
            requested_at=datetime.now(UTC),
        )

    assert alert_text(delivery(True)) == "សកម្មភាពបន្ទាន់ថ្មី UA 1/26៖ https://pledge.example.org/a/UA-1-26"
    assert "Sok Vanna" in alert_text(delivery(False))
    assert alert_text(delivery(False, "update")).startswith("ព័ត៌មានបន្ថែម — ")


def test_quiet_hours_are_read_in_the_members_time_zone_including_over_midnight() -> None:
    from datetime import UTC, datetime

    from services.dispatcher.alerts import quiet_until

    night = {"time_zone": "Asia/Phnom_Penh", "quiet_hours": {"start": "21:00", "end": "07:00"}}
    # 23:30 in Phnom Penh (UTC+7) -> quiet until 07:00 local = 00:00 UTC the next day
    assert quiet_until(night, datetime(2026, 11, 22, 16, 30, tzinfo=UTC)) == datetime(
        2026, 11, 23, 0, 0, tzinfo=UTC
    )
    # 05:00 local -> until 07:00 the same local day
    assert quiet_until(night, datetime(2026, 11, 22, 22, 0, tzinfo=UTC)) == datetime(
        2026, 11, 23, 0, 0, tzinfo=UTC
    )
    # noon local -> not quiet
    assert quiet_until(night, datetime(2026, 11, 22, 5, 0, tzinfo=UTC)) is None
    lunch = {"time_zone": "America/Los_Angeles", "quiet_hours": {"start": "12:00", "end": "13:00"}}
    assert quiet_until(lunch, datetime(2026, 11, 22, 20, 30, tzinfo=UTC)) == datetime(
        2026, 11, 22, 21, 0, tzinfo=UTC
    )
    assert quiet_until({}, datetime(2026, 11, 22, 20, 30, tzinfo=UTC)) is None
    assert (
        quiet_until({"time_zone": "Mars/Olympus", "quiet_hours": lunch["quiet_hours"]}, datetime.now(UTC))
        is None
    )
