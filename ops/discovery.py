"""Finding services without a list: every `services/**/app.py` that defines a `router`, and every
delivery channel in `services/channels/` (its router built from its declaration, the catalogue)."""

from __future__ import annotations

import importlib
import pkgutil

import services
from shared.channels.catalogue import catalogue
from shared.channels.queues import channel_router
from shared.service import Router


def discover_routers() -> dict[str, Router]:
    routers: dict[str, Router] = {}
    for module_info in pkgutil.walk_packages(services.__path__, prefix="services."):
        if not module_info.name.endswith(".app"):
            continue
        module = importlib.import_module(module_info.name)
        router = getattr(module, "router", None)
        if isinstance(router, Router):
            routers[router.name] = router
    for declared in catalogue().values():
        router = channel_router(declared)
        routers[router.name] = router
    return dict(sorted(routers.items()))
