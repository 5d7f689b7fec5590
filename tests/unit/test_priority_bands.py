"""Priority bands: which band a request goes to and the queues a channel consumes."""

from __future__ import annotations

import pytest

from services.channels import discover
from shared.channels.service import channel_router
from shared.contracts.delivery import BANDS, DeliveryRequested, band_of
from shared.settings import ServiceSettings
from tests.support.channel_contract import message_for


@pytest.mark.parametrize(
    ("priority", "band"),
    [(9, "high"), (7, "high"), (6, "normal"), (5, "normal"), (4, "normal"), (3, "low"), (0, "low")],
)
def test_alerts_reminders_and_certificates_fall_in_their_bands(priority: int, band: str) -> None:
    assert band_of(priority) == band


def test_the_routing_key_carries_channel_and_band() -> None:
    adapter = discover()["email"]
    delivery = message_for(adapter, "dl_band").delivery
    urgent = DeliveryRequested(correlation_id="c", data=delivery.model_copy(update={"priority": 9}))
    certificate = DeliveryRequested(correlation_id="c", data=delivery.model_copy(update={"priority": 3}))
    assert urgent.routing_key() == "delivery.requested.v1.email.high"
    assert certificate.routing_key() == "delivery.requested.v1.email.low"
    assert DeliveryRequested.routing_key_for("email", "#") == "delivery.requested.v1.email.#"


def test_a_channel_consumes_one_queue_per_band_and_retries_stay_in_the_band() -> None:
    router = channel_router(discover()["email"])
    settings = ServiceSettings(_env_file=None, retry_delays_ms=[10_000, 60_000])
    groups = router.consumer_groups(settings)
    assert [g.queue for g in groups] == [f"samleng.channel-email.{band}" for band in BANDS]
    high = groups[0]
    assert high.routing_keys == ("delivery.requested.v1.email.high",)
    assert high.retry_queue(1) == "samleng.channel-email.high.retry.10s"
    assert all(args["x-dead-letter-routing-key"] == high.queue for args in high.retry_queues().values())
    assert high.dead_letter_queue == "samleng.channel-email.high.dlq"
    with pytest.raises(ValueError, match="bands"):
        router.consumer_group(settings)
