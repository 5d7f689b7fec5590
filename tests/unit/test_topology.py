from __future__ import annotations

from shared.messaging.topology import ConsumerGroup


def group(**kwargs: object) -> ConsumerGroup:
    return ConsumerGroup(
        exchange="samleng", name="email", routing_keys=("delivery.requested.email.v1",), **kwargs
    )  # type: ignore[arg-type]


def test_names_follow_the_group() -> None:
    g = group()
    assert g.queue == "samleng.email"
    assert g.dead_letter_queue == "samleng.email.dlq"


def test_retry_tiers_grow_and_are_named_by_delay() -> None:
    g = group(retry_delays_ms=(10_000, 60_000, 600_000, 3_600_000))
    assert g.max_attempts == 5
    assert [g.retry_queue(a) for a in (1, 2, 3, 4)] == [
        "samleng.email.retry.10s",
        "samleng.email.retry.1m",
        "samleng.email.retry.10m",
        "samleng.email.retry.1h",
    ]
    assert list(g.retry_queues()) == [g.retry_queue(a) for a in (1, 2, 3, 4)]
    for name, args in g.retry_queues().items():
        assert args["x-dead-letter-exchange"] == ""
        assert args["x-dead-letter-routing-key"] == "samleng.email", name
    assert [a["x-message-ttl"] for a in g.retry_queues().values()] == [10_000, 60_000, 600_000, 3_600_000]


def test_sub_second_tiers_keep_millisecond_names() -> None:
    assert group(retry_delays_ms=(300, 1500)).retry_queue(1) == "samleng.email.retry.300ms"
    assert group(retry_delays_ms=(300, 1500)).retry_queue(2) == "samleng.email.retry.1500ms"


def test_work_queue_is_quorum_with_delivery_limit_dead_lettering_to_its_dlq() -> None:
    args = group(delivery_limit=7).work_queue_arguments()
    assert args == {
        "x-queue-type": "quorum",
        "x-delivery-limit": 7,
        "x-dead-letter-exchange": "",
        "x-dead-letter-routing-key": "samleng.email.dlq",
    }


def test_classic_queues_where_quorum_is_not_supported() -> None:
    args = group(queue_type="classic").work_queue_arguments()
    assert "x-queue-type" not in args and "x-delivery-limit" not in args
