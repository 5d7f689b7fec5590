from __future__ import annotations

from typing import Literal
from uuid import UUID

import pytest
from pydantic import ValidationError

from shared.contracts import Event, Payload, all_events


class Thing(Payload):
    name: str


class ThingHappened(Event[Thing]):
    type: Literal["thing.happened.v1"] = "thing.happened.v1"


class NextThing(Event[Thing]):
    type: Literal["thing.next.v1"] = "thing.next.v1"


def test_envelope_fills_id_time_and_type() -> None:
    event = ThingHappened(correlation_id="pledge_1", data=Thing(name="x"))
    assert isinstance(event.event_id, UUID)
    assert event.occurred_at.tzinfo is not None
    assert event.type == ThingHappened.event_type() == "thing.happened.v1"


def test_envelope_rejects_a_wrong_type_unknown_fields_and_naive_times() -> None:
    with pytest.raises(ValidationError):
        ThingHappened(type="thing.other.v1", correlation_id="c", data=Thing(name="x"))  # type: ignore[arg-type]
    with pytest.raises(ValidationError):
        ThingHappened.model_validate({"correlation_id": "c", "data": {"name": "x", "extra": 1}})
    with pytest.raises(ValidationError):
        ThingHappened.model_validate(
            {"correlation_id": "c", "occurred_at": "2026-01-01T00:00:00", "data": {"name": "x"}}
        )


def test_json_round_trip_is_lossless() -> None:
    event = ThingHappened(correlation_id="c", data=Thing(name="សុខ ដារ៉ា"))
    assert ThingHappened.model_validate_json(event.model_dump_json()) == event


def test_caused_keeps_correlation_and_links_causation() -> None:
    first = ThingHappened(correlation_id="pledge_1", data=Thing(name="x"))
    second = first.caused(NextThing, Thing(name="y"))
    assert second.correlation_id == "pledge_1"
    assert second.causation_id == first.event_id
    assert second.type == "thing.next.v1"


def test_registry_holds_only_shared_contracts_each_type_once() -> None:
    events = all_events()
    assert "thing.happened.v1" not in events, "test contracts are not shared contracts"
    for event_type, cls in events.items():
        assert cls.event_type() == event_type
        assert event_type.rsplit(".", 1)[1].startswith("v"), "types carry their major version"
        assert cls.model_fields["data"].annotation is not None


def test_an_action_token_names_its_delivery_and_is_different_every_time() -> None:
    from shared.contracts.alert import action_token, delivery_of_action_token

    first, second = action_token("dl_abc"), action_token("dl_abc")
    assert first != second and first.startswith("dl_abc.") and len(first) <= 96
    assert delivery_of_action_token(first) == "dl_abc"
    for malformed in ("dl_abc", "dl_abc.", ".secretsecretsecret", "dl_abc.short", ""):
        assert delivery_of_action_token(malformed) is None
