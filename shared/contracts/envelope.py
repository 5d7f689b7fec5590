"""The envelope every Samleng message carries.

An event is `Event[Data]`: envelope fields plus a typed `data` payload. The `type` field is the
AMQP routing key and carries the major version (`pledge.recorded.v1`); additive changes keep the
version, breaking ones add a new type. `event_id` is also the AMQP `message_id`.

An event whose `data` is about a person names, in `sealed_by`, the data field whose value is the
subject of its data key (a member id, or a pledge/registration/subscription id before a member
exists; `seal_subject()` may compute it instead). With encryption on, the publisher sends such an
event with `data` replaced by `sealed` (the data encrypted under that subject's key,
shared/personal_data.py) and the consumer opens it before validating: a message resting in a
queue (retry tier, dead letter) holds nothing personal in plain text, and erasing the subject's
key makes every copy unreadable. The envelope fields stay plain: they carry ids only (`actor`
names the operator who acted, for the audit trail: an id, never a name or an email).
"""

from __future__ import annotations

import builtins
from datetime import UTC, datetime
from typing import Any, ClassVar, Generic, TypeVar
from uuid import UUID, uuid4

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

DataT = TypeVar("DataT", bound=BaseModel)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Payload(BaseModel):
    """Base of every event's `data`: immutable and strict about unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class Event(BaseModel, Generic[DataT]):
    model_config = ConfigDict(frozen=True, extra="forbid")

    summary: ClassVar[str] = ""
    sealed_by: ClassVar[str | None] = None

    event_id: UUID = Field(
        default_factory=uuid4,
        description="Unique id of this event; also the AMQP message_id. Consumers deduplicate on it "
        "or on a business key.",
        examples=["5b0e8a52-6c2f-4d55-9f0b-6a1f0f5f9a10"],
    )
    type: str = Field(description="Routing key with major version, e.g. `pledge.recorded.v1`.")
    occurred_at: AwareDatetime = Field(
        default_factory=utcnow, description="When it happened (UTC).", examples=["2026-11-22T10:00:00Z"]
    )
    correlation_id: str = Field(
        description="The pledge, alert or session this message belongs to.",
        examples=["pledge_3q9f2k7m1x"],
    )
    causation_id: UUID | None = Field(
        default=None, description="The event_id of the event that caused this one, if any."
    )
    actor: str | None = Field(
        default=None,
        description="The operator whose action this is (a console operator id, `op_…`); unset when "
        "a member or the system acted. An id only: who it is lives in the console's audit trail.",
        examples=["op_7d3f9a2c41e0b5d6"],
    )
    data: DataT

    @classmethod
    def event_type(cls) -> str:
        default = cls.model_fields["type"].default
        if not isinstance(default, str):
            raise TypeError(f"{cls.__name__} must declare `type: Literal[...] = ...`")
        return default

    @classmethod
    def routing_pattern(cls) -> str:
        """The routing key with its per-message parts as `{placeholders}` (AsyncAPI addresses);
        a contract that overrides `routing_key()` overrides this too."""
        return cls.event_type()

    def seal_subject(self) -> str | None:
        """Whose data key seals this event's data in queues, or None: nothing personal in it."""
        if self.sealed_by is None:
            return None
        subject = getattr(self.data, self.sealed_by)
        return str(subject) if subject else None

    def seal_aliases(self) -> tuple[str, ...]:
        """Other subjects that share the seal subject's data key when the publisher creates it
        (one key, several names: forgetting any of them forgets it)."""
        return ()

    def routing_key(self) -> str:
        """The AMQP routing key; contracts routed per target (e.g. per channel) override it."""
        return self.type

    def caused(self, event_cls: builtins.type[EventT], data: Any, **envelope: Any) -> EventT:
        """Build the next event in this chain: same correlation, causation = this event."""
        envelope.setdefault("correlation_id", self.correlation_id)
        return event_cls(causation_id=self.event_id, data=data, **envelope)


EventT = TypeVar("EventT", bound=Event[Any])
