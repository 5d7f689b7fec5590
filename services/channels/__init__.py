"""Delivery channels, one package each: `services/channels/<name>/adapter.py` defines one
`ChannelAdapter` subclass. `discover()` finds them by scanning this folder, so adding a channel
edits no list (see docs/adding-a-channel.md and `samleng channel new`)."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

from shared.channels.adapter import ChannelAdapter


def discover() -> dict[str, type[ChannelAdapter]]:
    """Every installed channel's adapter class, by channel name."""
    found: dict[str, type[ChannelAdapter]] = {}
    for module_info in pkgutil.iter_modules(__path__):
        if not module_info.ispkg or module_info.name.startswith("_"):
            continue
        try:
            module = importlib.import_module(f"{__name__}.{module_info.name}.adapter")
        except ModuleNotFoundError as error:
            if error.name == f"{__name__}.{module_info.name}.adapter":
                continue
            raise
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if (
                issubclass(cls, ChannelAdapter)
                and cls is not ChannelAdapter
                and cls.__module__ == module.__name__
            ):
                if cls.name != module_info.name:
                    raise TypeError(f"{cls.__qualname__}.name must be {module_info.name!r} (its folder)")
                found[cls.name] = cls
    return dict(sorted(found.items()))


def adapter(name: str) -> type[ChannelAdapter]:
    channels = discover()
    if name not in channels:
        raise SystemExit(f"no channel {name!r}; installed: {', '.join(channels) or 'none'}")
    return channels[name]


def run(package: str | None) -> None:
    """Entry point of `python -m services.channels.<name>` (each channel's `__main__.py`)."""
    from shared.channels.service import run_channel

    assert package is not None
    run_channel(adapter(package.rsplit(".", 1)[-1]))


def run_inbound(package: str | None) -> None:
    """Entry point of `python -m services.channels.<name>.inbound` (webhooks and polling)."""
    from shared.channels.inbound import run_inbound as serve

    assert package is not None
    serve(adapter(package.rsplit(".", 1)[-1]))
