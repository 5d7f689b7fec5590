"""Every message Samleng sends, in one place (pydantic v2, versioned types).

Modules in this package define `Event[...]` subclasses; `all_events()` finds them by scanning the
package, so adding a contract module edits no list.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import Any

from shared.contracts.envelope import Event, EventT, Payload, utcnow

__all__ = ["Event", "EventT", "Payload", "all_events", "event_class", "utcnow"]


def _concrete_subclasses(cls: type[Event[Any]]) -> list[type[Event[Any]]]:
    found: list[type[Event[Any]]] = []
    for sub in cls.__subclasses__():
        default = sub.model_fields["type"].default if "type" in sub.model_fields else None
        if isinstance(default, str):
            found.append(sub)
        found.extend(_concrete_subclasses(sub))
    return found


def all_events() -> dict[str, type[Event[Any]]]:
    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")
    events: dict[str, type[Event[Any]]] = {}
    for cls in _concrete_subclasses(Event):
        if cls.__module__.startswith(__name__):
            existing = events.setdefault(cls.event_type(), cls)
            if existing is not cls:
                raise TypeError(f"two contracts declare type {cls.event_type()!r}")
    return events


def event_class(event_type: str) -> type[Event[Any]]:
    return all_events()[event_type]
