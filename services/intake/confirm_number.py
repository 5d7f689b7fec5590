"""Confirming a number: what the public site tells someone who chose a phone channel (Signal,
WhatsApp, ...: every channel whose declaration's address kind is `phone`).

Those channels send nothing to a phone number until its owner has written to us from it, on
any of them (services/dispatcher/numbers.py; the catalogue's `ineligibility`). So the pages a person lands on after choosing one
(a pledge's status page, a session's "you are registered", the subscribe page's "almost done")
and the member's own page, while their channels include one, show a box
(templates/_confirm_number.html): send any message from your phone to our number, with a link
that opens the app on a chat with us.

Our number on a channel is `INTAKE_<NAME>_NUMBER` (INTAKE_SIGNAL_NUMBER, INTAKE_WHATSAPP_NUMBER);
the link is the channel's declared `contact_link` with it filled in. Without a number, the box
names none ("the number the network gave you") and has no link. The box shows only our number and
the channel, never the person's own number: the status page is reachable by its address alone.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import phonenumbers

from services.intake.settings import IntakeSettings
from shared.channels.catalogue import channel_names, spec


@dataclass(frozen=True)
class NumberStep:
    """One chosen channel's step: our number as people read it and the link, or None when unset."""

    channel: str
    number: str | None
    link: str | None


def chat_channels(channels: Iterable[str]) -> list[str]:
    """Those of `channels` that wait for a confirmed number (phone channels), once each, in their order."""
    installed = channel_names()
    return [c for c in dict.fromkeys(channels) if c in installed and spec(c).address_kind == "phone"]


def contact_link(channel: str, number: str) -> str | None:
    """The channel's declared link that opens a chat with `number` (E.164), or None without one."""
    template = spec(channel).contact_link
    return template.format(number=number, digits=number.removeprefix("+")) if template else None


def readable(number: str) -> str:
    """+15550001234 as "+1 555 000 1234"."""
    try:
        parsed = phonenumbers.parse(number)
    except phonenumbers.NumberParseException:
        return number
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.INTERNATIONAL).replace("-", " ")


def number_steps(settings: IntakeSettings, channels: Iterable[str]) -> list[NumberStep]:
    """The steps for the chosen `channels` (none when no chosen channel needs one)."""
    steps = []
    for channel in chat_channels(channels):
        ours = settings.channel_numbers.get(channel)
        steps.append(
            NumberStep(
                channel, readable(ours) if ours else None, contact_link(channel, ours) if ours else None
            )
        )
    return steps
