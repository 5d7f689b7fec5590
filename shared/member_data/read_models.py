"""What a member's export reads, declared (shared/read_models.py). Both its readers — the public
site (a member's own download) and the operator console (an operator's export) — read through
these, with their own database role (deploy/access.yml lists every collection below for both).

A subject access export must show everything held about the person, including fields added
later, so the documents are read whole (`WholeDocument`); what they are looked up by is declared.

    collection         owner                  looked up by
    members            pledge-intake          _id, merged_into
    erasures           pledge-intake          _id
    member_keys        pledge-intake          member_id (their contact keys)
    pledges            pledge-intake          member_id
    consents           pledge-intake          member_id
    subscriptions      pledge-intake          member_id, contact_keys, request.contact.*
    inbound_messages   pledge-intake          member_id
    certificates       certificate-renderer   member_id
    deliveries         alert-dispatcher       member_id
    registrations      event-scheduler        contact_digests, registrant.contact.*
"""

from __future__ import annotations

from shared.read_models import ReadModel, View, WholeDocument


class MemberRecord(WholeDocument):
    pass


class MergedRecord(View):
    id: str
    merged_into: str | None = None


class ContactKey(View):
    id: str
    member_id: str


MEMBERS = ReadModel("members", MemberRecord, by=("merged_into",))
MERGED = ReadModel("members", MergedRecord)
ERASURES = ReadModel("erasures", WholeDocument)
MEMBER_KEYS = ReadModel("member_keys", ContactKey)
PLEDGES = ReadModel("pledges", WholeDocument, by=("member_id",))
CONSENTS = ReadModel("consents", WholeDocument, by=("member_id", "at"))
SUBSCRIPTIONS = ReadModel("subscriptions", WholeDocument, by=("member_id", "contact_keys", "request"))
INBOUND_MESSAGES = ReadModel("inbound_messages", WholeDocument, by=("member_id",))
CERTIFICATES = ReadModel("certificates", WholeDocument, by=("member_id",))
DELIVERIES = ReadModel("deliveries", WholeDocument, by=("member_id", "created_at"))
REGISTRATIONS = ReadModel("registrations", WholeDocument, by=("contact_digests", "registrant"))
