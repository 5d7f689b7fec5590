"""A channel the repository does not have, installed in the channel catalogue for one test.

    with with_channel(ChannelSpec(name="sms", labels={"en": "SMS"}, address_kind="phone")):
        ...  # contracts accept "sms", the dispatcher routes to it, forms offer it

`catalogue()` (shared/channels/catalogue.py) is read once per process and every reader gets the
same mapping, whichever way it imported the function; this changes that mapping in place for the
block (form order kept) and puts it back afterwards. It reaches this process only: a service
started as a process reads the folders.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from shared.channels.catalogue import ChannelSpec, catalogue


@contextmanager
def with_channel(*added: ChannelSpec) -> Iterator[dict[str, ChannelSpec]]:
    """The catalogue with `added` in it (replacing channels of the same names) inside the block."""
    table = catalogue()
    assert isinstance(table, dict), "the cached catalogue is a dict"
    before = dict(table)
    merged = {**before, **{spec.name: spec for spec in added}}
    table.clear()
    table.update(sorted(merged.items(), key=lambda item: (item[1].order, item[0])))
    try:
        yield table
    finally:
        table.clear()
        table.update(before)
