"""Confirming a number: what the public site tells someone who chose Signal or WhatsApp.

Those channels send nothing to a phone number until its owner has written to us from it, on
either app (services/dispatcher/numbers.py). So the pages a person lands on after choosing one
(a pledge's status page, a session's "you are registered", the subscribe page's "almost done")
and the member's own page, while their channels include one, show a box
(templates/_confirm_number.html): send any message from your phone to our number, with a link
that opens the app on a chat with us.

Our numbers are `INTAKE_SIGNAL_NUMBER` and `INTAKE_WHATSAPP_NUMBER`; without one, the box names no
number ("the number the network gave you") and has no link. The box shows only our number and
the channel, never the person's own number: the status page is reachable by its address alone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import phonenumbers

from services.intake.settings import IntakeSettings

APP_LINKS: dict[str, Callable[[str], str]] = {
    "signal": lambda number: f"https://signal.me/#p/{number}",
    "whatsapp": lambda number: f"https://wa.me/{number.removeprefix('+')}?text=Hello",
}
"""The channels that need a confirmed number, and the link that opens a chat with `number` (E.164)."""


@dataclass(frozen=True)
class NumberStep:
    """One chosen channel's step: our number as people read it and the link, or None when unset."""

    channel: str
    number: str | None
    link: str | None


def chat_channels(channels: Iterable[str]) -> list[str]:
    """Those of `channels` that wait for a confirmed number, once each, in their order."""
    return [channel for channel in dict.fromkeys(channels) if channel in APP_LINKS]


def readable(number: str) -> str:
    """+15550001234 as "+1 555 000 1234"."""
    try:
        parsed = phonenumbers.parse(number)
    except phonenumbers.NumberParseException:
        return number
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL).replace("-", " ")


def number_steps(settings: IntakeSettings, channels: Iterable[str]) -> list[NumberStep]:
    """The steps for the chosen `channels` (none when no chosen channel needs one)."""
    ours = {"signal": settings.signal_number, "whatsapp": settings.whatsapp_number}
    return [
        NumberStep(
            channel,
            readable(ours[channel]) if ours[channel] else None,
            APP_LINKS[channel](ours[channel]) if ours[channel] else None,
        )
        for channel in chat_channels(channels)
    ]
