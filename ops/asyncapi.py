"""AsyncAPI 3.0 documents generated from the routers and contracts (`make docs`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic.json_schema import models_json_schema

from shared.channels.catalogue import catalogue, channels_folder
from shared.contracts import Event
from shared.contracts.delivery import BANDS
from shared.service import Router

REF = "#/components/schemas/{model}"
BAND = (
    "The priority band, from the request's priority: `high` (>= 7, alerts), `normal` (4-6, "
    "reminders), `low` (<= 3, certificates)."
)
PARAMETERS: dict[str, dict[str, Any]] = {
    "channel": {"description": "The delivery channel, e.g. `email`."},
    "band": {"description": BAND, "enum": list(BANDS)},
}


def _message_name(event_cls: type[Event[Any]]) -> str:
    return event_cls.__name__


SEALED = (
    "About a person: with encryption on (SAMLENG_MASTER_KEY) it travels sealed, as the envelope "
    "fields plus `sealed` (base64 of `data` encrypted under the data key named by `data.{subject}`, "
    "shared/personal_data.py) instead of `data`; consumers open it before reading. "
    "The payload below is the opened message."
)


def service_document(router: Router, exchange: str = "samleng") -> dict[str, Any]:
    received = [s.event_cls for s in router.subscriptions.values()]
    sent = list(router.publishes)
    addresses = {s.event_cls: s.routing_key for s in router.subscriptions.values()}
    for event_cls in sent:  # contracts routed per target (channel, band) carry it in the routing key
        addresses.setdefault(event_cls, event_cls.routing_pattern())
    queues = [f"{exchange}.{router.name}.{band}" for band in router.bands] or [f"{exchange}.{router.name}"]
    parameters = dict(PARAMETERS)
    if router.bands:
        parameters["band"] = {
            "description": f"{BAND} One queue each: {', '.join(f'`{q}`' for q in queues)}.",
            "enum": list(router.bands),
        }
    events = list(dict.fromkeys([*received, *sent]))
    _, schemas = models_json_schema([(e, "validation") for e in events], ref_template=REF)
    channels: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for event_cls in events:
        name = _message_name(event_cls)
        event_type = event_cls.event_type()
        messages[name] = {
            "name": event_type,
            "title": name,
            "summary": event_cls.summary or (event_cls.__doc__ or "").strip().split("\n")[0],
            "contentType": "application/json",
            "correlationId": {"location": "$message.payload#/correlation_id"},
            "payload": {"$ref": REF.format(model=name)},
            "bindings": {"amqp": {"deliveryMode": 2, "bindingVersion": "0.3.0"}},
        }
        if event_cls.sealed_by is not None:
            messages[name]["description"] = SEALED.format(subject=event_cls.sealed_by)
            messages[name]["x-samleng-sealed-by"] = event_cls.sealed_by
        address = addresses.get(event_cls, event_type)
        used = {name: value for name, value in parameters.items() if f"{{{name}}}" in address}
        channels[event_type] = {
            "address": address,
            **({"parameters": used} if used else {}),
            "messages": {name: {"$ref": f"#/components/messages/{name}"}},
            "bindings": {
                "amqp": {
                    "is": "routingKey",
                    "exchange": {"name": exchange, "type": "topic", "durable": True, "autoDelete": False},
                    "bindingVersion": "0.3.0",
                }
            },
        }
    operations: dict[str, Any] = {}
    for action, classes in (("receive", received), ("send", sent)):
        for event_cls in classes:
            event_type = event_cls.event_type()
            operation: dict[str, Any] = {
                "action": action,
                "channel": {"$ref": f"#/channels/{event_type}"},
                "messages": [{"$ref": f"#/channels/{event_type}/messages/{_message_name(event_cls)}"}],
            }
            if action == "receive":
                operation["bindings"] = {"amqp": {"ack": True, "bindingVersion": "0.3.0"}}
                operation["description"] = (
                    f"Consumed from queue{'s' if len(queues) > 1 else ''} {', '.join(queues)}"
                )
            operations[f"{action}_{event_type}"] = operation
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": f"Samleng {router.name}",
            "version": "1.0.0",
            "description": router.description or f"Messages of the {router.name} service.",
        },
        "defaultContentType": "application/json",
        "servers": {"rabbitmq": {"host": "127.0.0.1:5672", "protocol": "amqp", "protocolVersion": "0.9.1"}},
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": schemas.get("$defs", {})},
    }


def document_path(name: str, out_dir: Path) -> Path:
    """Where a service's AsyncAPI document lives: a channel's in its own folder
    (`services/channels/<name>/asyncapi.yaml`: adding a channel writes nothing outside it), every
    other service's in `out_dir`."""
    channel = name.removeprefix("channel-")
    if channel != name and channel in catalogue():
        return channels_folder() / channel / "asyncapi.yaml"
    return out_dir / f"{name}.yaml"


def write_documents(routers: dict[str, Router], out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, router in routers.items():
        path = document_path(name, out_dir)
        path.write_text(yaml.safe_dump(service_document(router), sort_keys=False, allow_unicode=True))
        written.append(path)
    return written
