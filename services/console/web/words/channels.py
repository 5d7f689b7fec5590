"""The names operators know the delivery channels by. A channel without an entry here is shown
by its key (services/console/web/channels.py): adding a channel works without editing this
file; its name in both languages is added here when it has one."""

from __future__ import annotations

from shared.contracts.languages import Lang

WORDS: dict[str, dict[Lang, str]] = {
    "channel_email": {"en": "Email", "km": "អ៊ីមែល"},
    "channel_messenger": {"en": "Messenger", "km": "Messenger"},
    "channel_post": {"en": "Post", "km": "ប្រៃសណីយ៍"},
    "channel_signal": {"en": "Signal", "km": "Signal"},
    "channel_whatsapp": {"en": "WhatsApp", "km": "WhatsApp"},
}
