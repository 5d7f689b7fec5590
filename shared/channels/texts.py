"""Short texts for chat channels (Signal, WhatsApp, Messenger, SMS-like channels), per purpose.

An alert marked sensitive names nobody: people in danger of reprisals may read over a member's
shoulder, so the chat text only says that there is a new Urgent Action and links to it.
"""

from __future__ import annotations

from shared.contracts.alert import AlertPublishedData, AlertText, letter_salutation
from shared.contracts.delivery import AlertRef, DeliveryRequestedData
from shared.message_details import DISCREET_KIND

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


def alert_ref(data: AlertPublishedData, language: str, name: str, action_url: str) -> AlertRef:
    """The alert as one member receives it (the dispatcher's fan-out; the console's preview): in
    their language (English when the alert lacks it), the letter with their name and the
    officials' salutation filled in, and their own "I took action" link."""
    texts: dict[str, AlertText] = {str(key): value for key, value in data.texts.items()}
    text = texts.get(language) or texts.get("en") or next(iter(texts.values()))
    return AlertRef(
        alert_id=data.alert_id,
        number=data.number,
        kind=data.kind,
        urgent=data.urgent,
        sensitive=data.sensitive,
        title=text.title,
        summary=text.summary,
        actions=list(text.actions),
        officials=list(data.officials),
        letter=text.letter.replace("{name}", name).replace(
            "{salutation}", letter_salutation([o.salutation for o in data.officials], language)
        ),
        letter_subject=text.letter_subject,
        deadline=data.deadline,
        public_url=data.public_url,
        action_url=action_url,
    )


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


REMINDER = {
    ("confirmation", "en"): "You are registered: {title}\n{when}{place}{join}\nDetails: {url}",
    ("confirmation", "km"): "អ្នកបានចុះឈ្មោះ៖ {title}\n{when}{place}{join}\nព័ត៌មានលម្អិត៖ {url}",
    ("waitlisted", "en"): "You are on the waiting list: {title}\n{when}\nDetails: {url}",
    ("waitlisted", "km"): "អ្នកស្ថិតក្នុងបញ្ជីរង់ចាំ៖ {title}\n{when}\nព័ត៌មានលម្អិត៖ {url}",
    ("reminder", "en"): "Reminder: {title}\n{when}{place}{join}\nDetails: {url}",
    ("reminder", "km"): "ការរំលឹក៖ {title}\n{when}{place}{join}\nព័ត៌មានលម្អិត៖ {url}",
    ("join-link", "en"): "How to join {title} ({when}): {join_link}",
    ("join-link", "km"): "របៀបចូលរួម {title} ({when})៖ {join_link}",
    ("rescheduled", "en"): "New time for {title}: {when} (was {previous}).\nDetails: {url}",
    ("rescheduled", "km"): "ពេលវេលាថ្មីសម្រាប់ {title}៖ {when} (ពីមុន {previous})។\nព័ត៌មានលម្អិត៖ {url}",
    ("cancelled", "en"): "Cancelled: {title} ({when}). We are sorry.\nDetails: {url}",
    ("cancelled", "km"): "បានលុបចោល៖ {title} ({when})។ យើងសុំទោស។\nព័ត៌មានលម្អិត៖ {url}",
    ("plan-of-action", "en"): "Plan of Action of {title}:\n{plan}\n{url}",
    ("plan-of-action", "km"): "ផែនការសកម្មភាពនៃ {title}៖\n{plan}\n{url}",
    (
        "promoted",
        "en",
    ): "A seat came free: you are now registered for {title}\n{when}{place}{join}\nDetails: {url}",
    (
        "promoted",
        "km",
    ): "មានកន្លែងទំនេរ៖ ឥឡូវនេះអ្នកបានចុះឈ្មោះសម្រាប់ {title}\n{when}{place}{join}\nព័ត៌មានលម្អិត៖ {url}",
}
REMINDER[("registration-cancelled", "en")] = (
    "Your registration for {title} ({when}) is cancelled. If you did not ask for this, register again: {url}"
)
REMINDER[("registration-cancelled", "km")] = (
    "ការចុះឈ្មោះរបស់អ្នកសម្រាប់ {title} ({when}) ត្រូវបានលុបចោល។ ប្រសិនបើអ្នកមិនបានស្នើសុំ សូមចុះឈ្មោះម្តងទៀត៖ {url}"
)
CANCEL = {"en": "\nCannot come? Cancel: {link}", "km": "\nមិនអាចមកបាន? លុបចោល៖ {link}"}
CANCEL_KINDS = frozenset({"confirmation", "promoted"})  # chat messages stay short: only these
JOIN = {"en": "\nJoin: {link}", "km": "\nចូលរួម៖ {link}"}
PLACE = {"en": "\nWhere: {place}", "km": "\nទីកន្លែង៖ {place}"}


def reminder_text(delivery: DeliveryRequestedData) -> str:
    """A session message for a chat: short, the registrant's language and local time."""
    reminder = delivery.reminder
    assert reminder is not None
    language = delivery.recipient.language
    kind = "waitlisted" if reminder.kind == "confirmation" and reminder.waitlisted else reminder.kind
    text = REMINDER[(kind, language)].format(
        title=reminder.title,
        when=reminder.when,
        previous=reminder.previous_when or "",
        place=PLACE[language].format(place=reminder.place) if reminder.place else "",
        join=JOIN[language].format(link=reminder.join_link) if reminder.join_link else "",
        join_link=reminder.join_link or reminder.public_url,
        url=reminder.public_url,
        plan=(reminder.plan_of_action or "")[:1500],
    )
    if reminder.cancel_url and reminder.kind in CANCEL_KINDS:
        text += CANCEL[language].format(link=reminder.cancel_url)
    return text


def is_discreet(delivery: DeliveryRequestedData) -> bool:
    """A discreet message (at-risk mode): only a neutral notice and its link
    (services/dispatcher/discreet.py); channels send nothing else of it."""
    return delivery.notice is not None and delivery.notice.kind == DISCREET_KIND


def notice_text(delivery: DeliveryRequestedData) -> str:
    """A service message (e.g. "was it you?"), already in the person's language: subject, body and
    the link with its label; a discreet message is its neutral line and link only."""
    notice = delivery.notice
    assert notice is not None
    if is_discreet(delivery):
        return f"{notice.body}\n{notice.link_url}"
    return f"{notice.subject}\n\n{notice.body}\n{notice.link_label}: {notice.link_url}"


def chat_text(delivery: DeliveryRequestedData) -> str | None:
    """The text of a message that is only text (an alert, a session message, a notice); None for a
    certificate (an image or a document with a caption)."""
    if delivery.alert is not None:
        return alert_text(delivery)
    if delivery.reminder is not None:
        return reminder_text(delivery)
    if delivery.notice is not None:
        return notice_text(delivery)
    return None
