"""Channels are shown by their names in the page's language, and a channel without a name in the
words by its key (a new channel needs no edit to show up)."""

from __future__ import annotations

import pytest

from services.console.web.channels import channel_name

pytestmark = pytest.mark.unit


def test_a_channel_is_shown_by_its_name_in_the_pages_language() -> None:
    assert channel_name("whatsapp", "en") == "WhatsApp"
    assert channel_name("email", "km") == "អ៊ីមែល"


def test_a_channel_without_a_name_is_shown_by_its_key() -> None:
    assert channel_name("carrier-pigeon", "en") == "carrier-pigeon"
    assert channel_name(None, "en") == "" and channel_name("", "km") == ""
