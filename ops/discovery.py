"""Finding services without a list: every `services/**/app.py` that defines a `router`, and every
delivery channel in `services/channels/` (whose router the channel runner builds)."""

from __future__ import annotations

import importlib
import pkgutil

import services
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
    from services.channels import discover
    from shared.channels.service import channel_router

    for adapter in discover().values():
        router = channel_router(adapter)
        routers[router.name] = router
    return dict(sorted(routers.items()))
