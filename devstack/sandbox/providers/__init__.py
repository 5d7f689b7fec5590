"""Provider sandboxes, discovered by scanning this folder: each module defines `provider`."""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass

from fastapi import APIRouter


@dataclass(frozen=True)
class Provider:
    name: str
    router: APIRouter
    description: str = ""


def discover() -> list[Provider]:
    found = []
    for module_info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{module_info.name}")
        provider = getattr(module, "provider", None)
        if isinstance(provider, Provider):
            found.append(provider)
    return sorted(found, key=lambda p: p.name)
