"""Short texts for chat channels (Signal, WhatsApp, Messenger, SMS-like channels), per purpose.

An alert marked sensitive names nobody: people in danger of reprisals may read over a member's
shoulder, so the chat text only says that there is a new Urgent Action and links to it.
"""

from __future__ import annotations

from shared.contracts.delivery import DeliveryRequestedData

ALERT = {
    "en": "Urgent Action {number}: {title}\n{summary}\nRead and act: {url}\nReply DONE when you have acted, or open {done}",
    "km": "សកម្មភាពបន្ទាន់ {number}៖ {title}\n{summary}\nអាន និងធ្វើសកម្មភាព៖ {url}\nឆ្លើយតប DONE (ឬ រួចរាល់) នៅពេលអ្នកបានធ្វើ ឬបើក {done}",
}
SENSITIVE = {
    "en": "New Urgent Action {number}: {url}",
    "km": "សកម្មភាពបន្ទាន់ថ្មី {number}៖ {url}",
}
PREFIX = {
    ("update", "en"): "Update — ",
    ("update", "km"): "ព័ត៌មានបន្ថែម — ",
    ("extension", "en"): "More time — ",
    ("extension", "km"): "ពន្យារពេល — ",
    ("closure", "en"): "Closed — ",
    ("closure", "km"): "បានបិទ — ",
}


def alert_text(delivery: DeliveryRequestedData) -> str:
    alert = delivery.alert
    assert alert is not None
    language = delivery.recipient.language
    prefix = PREFIX.get((alert.kind, language), "")
    if alert.sensitive:
        return prefix + SENSITIVE[language].format(number=alert.number, url=alert.public_url)
    summary = alert.summary if len(alert.summary) <= 400 else alert.summary[:399] + "…"
    return prefix + ALERT[language].format(
        number=alert.number, title=alert.title, summary=summary, url=alert.public_url, done=alert.action_url
    )
