"""Changes proposed with a contact that a member already holds, kept until that member confirms.

Nobody proves control of a contact by typing it into a form. So when a pledge or a subscription
names an email address or phone number that a member already holds, that member's record is not
touched and the contact joins no other record: the proposed change is kept in `pending_changes`
(with a random token), and a `notice.requested.v1` (kind `confirm-change`) goes to the contacts
that member has ON FILE, never to the submitted ones: "someone used your email/phone; if it was
you, confirm". The link (`/m/confirm/<token>` on intake) publishes `member_change.confirmed.v1`;
pledge-intake then applies the change (app.apply_pledge_change,
subscriptions.apply_subscription_change, app.apply_link_change) once. The submitter is told nothing of this: what they
see does not depend on whether a contact was known.

The change's `submission` (the pledge kept aside: name, contacts, address) is stored sealed under
the data key of the record it made (`own_member_id`), or of the pledge itself (`ref`) when it made
none (store.py); who it is for, its contact keys (blinded) and its token stay plain.

A chat account linked through a member's pledge reference when the member already has one
(source `contact-link`, app.on_contact_linked: e.g. a second Messenger account) is such a change
too: the first account stays until the member confirms, from their contacts on file (the first
account among them), that the new one is theirs. Its submission (the `contact.linked.v1` data) is
sealed under the member's own data key.
"""

from __future__ import annotations

import secrets
import uuid
from typing import Any, Literal

from services.pledge_intake.store import CHANGE_FIELDS, Store, find_member, opened
from shared.contracts import utcnow
from shared.contracts.member import NoticeRequested, NoticeRequestedData
from shared.contracts.pledge import Contact, Language
from shared.messaging.consumer import MessageContext
from shared.messaging.errors import UnroutableMessage
from shared.personal_data import contact_key_kind, seal_fields
from shared.storage import Document, insert_once

NAMESPACE = uuid.UUID("9c4f2b1d-7e3a-4d58-b6a1-3f8e2c5d7a90")
ChangeSource = Literal["pledge", "subscription", "contact-link"]

CONTACT_WORD: dict[str, dict[Language, str]] = {
    "email": {"en": "email address", "km": "អាសយដ្ឋានអ៊ីមែល"},
    "phone": {"en": "phone number", "km": "លេខទូរស័ព្ទ"},
    "psid": {"en": "Messenger account", "km": "គណនី Messenger"},
}

CHANGE_TEXT: dict[ChangeSource, dict[Language, dict[str, str]]] = {
    "pledge": {
        "en": {
            "subject": "Was it you? Someone signed the pledge with your {contact}",
            "body": "Someone signed the Khmer Community Advocacy Pledge with the {contact} you gave us "
            "before. We have changed nothing in your details.\n\nIf it was you, confirm with the "
            "button below: we will then update your details (name, channels, choices) with what you "
            "sent. If it was not you, ignore this message: nothing will change.",
            "label": "Yes, it was me: update my details",
        },
        "km": {
            "subject": "តើជាអ្នកទេ? មាននរណាម្នាក់បានចុះហត្ថលេខាលើការសន្យាដោយប្រើ{contact}របស់អ្នក",
            "body": "មាននរណាម្នាក់បានចុះហត្ថលេខាលើការសន្យាតស៊ូមតិសហគមន៍ខ្មែរ ដោយប្រើ{contact} "
            "ដែលអ្នកបានផ្តល់ឱ្យយើងពីមុន។ យើងមិនបានផ្លាស់ប្តូរព័ត៌មានរបស់អ្នកទេ។\n\n"
            "ប្រសិនបើជាអ្នក សូមបញ្ជាក់ដោយចុចប៊ូតុងខាងក្រោម៖ បន្ទាប់មកយើងនឹងធ្វើបច្ចុប្បន្នភាពព័ត៌មានរបស់អ្នក "
            "(ឈ្មោះ មធ្យោបាយ ជម្រើស) តាមអ្វីដែលអ្នកបានផ្ញើ។ ប្រសិនបើមិនមែនជាអ្នកទេ សូមកុំអើពើសារនេះ៖ "
            "គ្មានអ្វីនឹងផ្លាស់ប្តូរទេ។",
            "label": "បាទ/ចាស ជាខ្ញុំ៖ ធ្វើបច្ចុប្បន្នភាពព័ត៌មានរបស់ខ្ញុំ",
        },
    },
    "subscription": {
        "en": {
            "subject": "Was it you? Someone subscribed to alerts with your {contact}",
            "body": "Someone asked for Urgent Action alerts from the Khmer community advocacy network "
            "with the {contact} you gave us before. We have changed nothing in your details or in "
            "what you asked us not to send.\n\nIf it was you, confirm with the button below: the "
            "subscription then applies to you. If it was not you, ignore this message: nothing "
            "will change.",
            "label": "Yes, it was me: subscribe me",
        },
        "km": {
            "subject": "តើជាអ្នកទេ? មាននរណាម្នាក់បានចុះឈ្មោះទទួលការជូនដំណឹងដោយប្រើ{contact}របស់អ្នក",
            "body": "មាននរណាម្នាក់បានស្នើសុំទទួលការជូនដំណឹងសកម្មភាពបន្ទាន់ពីបណ្តាញតស៊ូមតិសហគមន៍ខ្មែរ "
            "ដោយប្រើ{contact} ដែលអ្នកបានផ្តល់ឱ្យយើងពីមុន។ យើងមិនបានផ្លាស់ប្តូរព័ត៌មានរបស់អ្នក "
            "ឬអ្វីដែលអ្នកបានសុំមិនឱ្យយើងផ្ញើនោះទេ។\n\nប្រសិនបើជាអ្នក សូមបញ្ជាក់ដោយចុចប៊ូតុងខាងក្រោម៖ "
            "បន្ទាប់មកការចុះឈ្មោះនឹងអនុវត្តចំពោះអ្នក។ ប្រសិនបើមិនមែនជាអ្នកទេ សូមកុំអើពើសារនេះ៖ "
            "គ្មានអ្វីនឹងផ្លាស់ប្តូរទេ។",
            "label": "បាទ/ចាស ជាខ្ញុំ៖ ចុះឈ្មោះខ្ញុំ",
        },
    },
    "contact-link": {
        "en": {
            "subject": "Was it you? Someone linked another {contact} to your pledge",
            "body": "Someone opened the link from your pledge page with another {contact} than the "
            "one you linked before. We have changed nothing: your messages still go to your first "
            "{contact}.\n\nIf it was you, confirm with the button below: your messages then go to "
            "the new {contact}. If it was not you, ignore this message: nothing will change.",
            "label": "Yes, it was me: use my new account",
        },
        "km": {
            "subject": "តើជាអ្នកទេ? មាននរណាម្នាក់បានភ្ជាប់{contact}ផ្សេងទៀតទៅនឹងការសន្យារបស់អ្នក",
            "body": "មាននរណាម្នាក់បានបើកតំណពីទំព័រការសន្យារបស់អ្នក ដោយប្រើ{contact}ផ្សេងពីគណនី "
            "ដែលអ្នកបានភ្ជាប់ពីមុន។ យើងមិនបានផ្លាស់ប្តូរអ្វីទេ៖ សាររបស់អ្នកនៅតែទៅកាន់{contact}ដំបូងរបស់អ្នក។\n\n"
            "ប្រសិនបើជាអ្នក សូមបញ្ជាក់ដោយចុចប៊ូតុងខាងក្រោម៖ បន្ទាប់មកសាររបស់អ្នកនឹងទៅកាន់{contact}ថ្មី។ "
            "ប្រសិនបើមិនមែនជាអ្នកទេ សូមកុំអើពើសារនេះ៖ គ្មានអ្វីនឹងផ្លាស់ប្តូរទេ។",
            "label": "បាទ/ចាស ជាខ្ញុំ៖ ប្រើគណនីថ្មីរបស់ខ្ញុំ",
        },
    },
}


def change_id(source: ChangeSource, ref: str, holder_id: str) -> str:
    return f"ch_{uuid.uuid5(NAMESPACE, f'{source}:{ref}:{holder_id}').hex}"


async def propose(
    store: Store,
    *,
    source: ChangeSource,
    ref: str,
    holder_id: str,
    keys: list[str],
    own_member_id: str | None,
    submission: dict[str, Any] | None = None,
    subject: str | None = None,
) -> Document:
    """Keep a change aside for `holder_id` (once per source, ref and holder); its submission is
    sealed under `subject`'s data key (default: `own_member_id`, else `ref`)."""
    document: Document = {
        "_id": change_id(source, ref, holder_id),
        "token": secrets.token_urlsafe(24),
        "state": "pending",
        "source": source,
        "ref": ref,
        "holder_id": holder_id,
        "keys": sorted(keys),
        "own_member_id": own_member_id,
        "submission": submission,
        "created_at": utcnow(),
    }
    stored = await seal_fields(store.vault, subject or own_member_id or ref, document, CHANGE_FIELDS)
    if await insert_once(store.pending_changes, stored):
        return document
    existing = await opened(store.vault, await store.pending_changes.find_one({"_id": document["_id"]}))
    assert existing is not None
    return existing


async def find_change(store: Store, change_id: str) -> Document | None:
    """The change with its submission opened; None when unknown or its subject was erased."""
    return await opened(store.vault, await store.pending_changes.find_one({"_id": change_id}))


def notice_text(source: ChangeSource, language: Language, keys: list[str]) -> dict[str, str]:
    kinds = sorted({contact_key_kind(key) for key in keys} & set(CONTACT_WORD))
    contact = " / ".join(CONTACT_WORD[kind][language] for kind in kinds) or CONTACT_WORD["email"][language]
    return {k: v.format(contact=contact) for k, v in CHANGE_TEXT[source][language].items()}


async def notify(ctx: MessageContext[Any], change: Document, cause: uuid.UUID | None) -> None:
    """Ask the dispatcher to send the confirmation link to the holder on file: by email, or on the
    first of their own channels that can reach them (Signal, WhatsApp, Messenger carry notices)."""
    store: Store = ctx.deps
    if change["state"] != "pending":
        return
    holder = await find_member(store, str(change["holder_id"]))
    if holder is None or not (holder.get("email") or holder.get("phone") or holder.get("psid")):
        ctx.log.warning("no contact on file to confirm a change", member_id=change["holder_id"])
        return
    language: Language = "km" if holder.get("language") == "km" else "en"
    text = notice_text(change["source"], language, list(change["keys"]))
    country = str(holder.get("country") or "")
    notice = NoticeRequested(
        event_id=uuid.uuid5(NAMESPACE, f"notice:{change['_id']}"),
        correlation_id=change["_id"],
        causation_id=cause,
        data=NoticeRequestedData(
            notice_id=f"change:{change['_id']}",
            member_id=change["holder_id"],
            name=str(holder.get("name") or ""),
            language=language,
            country=country if len(country) == 2 else "ZZ",
            contact=Contact(email=holder.get("email"), phone=holder.get("phone")),
            psid=holder.get("psid"),
            channels=list(dict.fromkeys(["email", *(holder.get("channels") or [])])),
            kind="confirm-change",
            subject=text["subject"],
            body=text["body"],
            link_path=f"/m/confirm/{change['token']}",
            link_label=text["label"],
        ),
    )
    try:
        await ctx.publish(notice)
    except UnroutableMessage:
        # Only before the dispatcher's first start (it declares its queue then): the change stays
        # pending, marked, and visible to operators.
        await store.pending_changes.update_one(
            {"_id": change["_id"]}, {"$set": {"notice": "unroutable", "notice_at": utcnow()}}
        )
        ctx.log.warning(
            "change confirmation not handed over: no dispatcher queue yet", change_id=change["_id"]
        )
        return
    ctx.log.info("change waits for its holder", change_id=change["_id"], member_id=change["holder_id"])


async def mark_applied(store: Store, change: Document, member_id: str) -> None:
    await store.pending_changes.update_one(
        {"_id": change["_id"], "state": "pending"},
        {"$set": {"state": "applied", "applied_at": utcnow(), "applied_to": member_id}},
    )
