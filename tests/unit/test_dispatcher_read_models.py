"""The dispatcher's view of pledge-intake's members (services/dispatcher/read_models.py)."""

from __future__ import annotations

from datetime import UTC, datetime

from bson.binary import Binary

from services.dispatcher.read_models import MEMBERS, Member


def test_a_member_reads_back_as_the_document_it_was_with_only_the_fields_it_has() -> None:
    linked = datetime(2026, 11, 22, 9, 30, tzinfo=UTC)
    stored = {
        "_id": "mb_1",
        "country": "KH",
        "channels": ["whatsapp", "email"],
        "last_inbound": {"whatsapp": linked},
        "sealed": Binary(b"\x01sealed", 6),
    }
    member = Member.from_document(stored)
    assert member.id == "mb_1" and member.language is None
    assert member.stored() == stored  # no `language: None`: `.get("language", "en")` still says en
    assert Member.from_document({"_id": "mb_2", "name": "Sok Dara"}).stored() == {
        "_id": "mb_2",
        "name": "Sok Dara",
    }


def test_the_member_view_declares_every_field_the_dispatcher_routes_by() -> None:
    routed_by = {"_id", "name", "language", "country", "email", "emails", "phone", "phones"}
    routed_by |= {"postal_address", "psid", "last_inbound", "unsubscribe_token", "unsubscribed"}
    routed_by |= {"channels", "email_confirmed", "topics", "quiet_hours", "time_zone", "alerts_opt_in"}
    routed_by |= {"discreet"}
    assert MEMBERS.fields == routed_by | {"sealed"}
