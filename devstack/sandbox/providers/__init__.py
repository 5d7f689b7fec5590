"""Provider sandboxes: each channel's fake of its provider lives beside it, in
`services/channels/<name>/sandbox.py`, and defines `provider = Provider(...)`; the local sandbox
finds them by scanning the channel folders, so adding a channel with a sandbox edits no list here.
A fake is served under `/<provider.name>`, the channel's declared `sandbox_provider`."""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from fastapi import APIRouter

from shared.channels.catalogue import catalogue, channels_folder

SANDBOX_MODULE = "sandbox"


@dataclass(frozen=True)
class Provider:
    name: str
    router: APIRouter
    description: str = ""


def discover() -> list[Provider]:
    """Every channel folder's sandbox `provider`, by name."""
    found = []
    declared = catalogue()
    for path in sorted(channels_folder().glob(f"*/{SANDBOX_MODULE}.py")):
        channel = path.parent.name
        module = importlib.import_module(f"services.channels.{channel}.{SANDBOX_MODULE}")
        provider = getattr(module, "provider", None)
        if not isinstance(provider, Provider):
            continue
        wanted = declared[channel].sandbox_provider if channel in declared else None
        if wanted is not None and provider.name != wanted:
            raise ValueError(
                f"services/channels/{channel}/{SANDBOX_MODULE}.py serves {provider.name!r}; "
                f"its channel.toml declares sandbox_provider = {wanted!r}"
            )
        found.append(provider)
    return sorted(found, key=lambda p: p.name)
