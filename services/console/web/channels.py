"""Channels by the names operators know them by ("WhatsApp", not `whatsapp`).

A channel's name is the words entry `channel_<key>` (web/words/channels.py) in the page's
language; a channel without one is shown by its key, so a new channel package shows up at once
and gets its name by one words entry. There is no list of channels here.

    render(request, "replies/list.html", who=who, channel_name=channel_names(request), ...)
    {{ channel_name(reply.channel) }}
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Request

from services.console.web.rendering import language_of
from services.console.web.words import WORDS
from shared.contracts.languages import Lang

ChannelName = Callable[[str | None], str]


def channel_name(key: str | None, lang: Lang) -> str:
    """The channel's name in `lang`, or its key when it has none ('' for no channel)."""
    if not key:
        return ""
    texts = WORDS.get(f"channel_{key}")
    return texts[lang] if texts else key


def channel_names(request: Request) -> ChannelName:
    """`channel_name` in the page's language, for a template."""
    lang = language_of(request)
    return lambda key: channel_name(key, lang)
