"""An operator's answer to a chat reply, without I/O: its id, the windows the channels declare,
the recipient the dispatcher builds, and the WhatsApp adapter sending it as free text only
inside the 24-hour window (against the in-process sandbox)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.channels.messenger.tests.test_messenger import PSID, MessengerHarness
from services.channels.whatsapp.tests.test_whatsapp import WhatsAppHarness
from services.dispatcher.replies import answer_recipient
from shared.channels import OutboundMessage, PermanentDeliveryError
from shared.channels.catalogue import catalogue
from shared.contracts import utcnow
from shared.contracts.delivery import DeliveryRequestedData
from shared.contracts.reply import (
    ReplyAnswerRequested,
    ReplyAnswerRequestedData,
    answer_id,
    answer_text,
    reply_notice,
)
from shared.personal_data import contact_key
from tests.support.channel_contract import recipient

AT = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)


def requested(member_id: str | None, text: str = "At the temple, 3 pm.") -> ReplyAnswerRequested:
    return ReplyAnswerRequested(
        correlation_id="ev_1",
        data=ReplyAnswerRequestedData(
            answer_id=answer_id("ev_1", text),
            reply_id="ev_1",
            channel="whatsapp",
            member_id=member_id,
            sender_kind="phone",
            sender="+85512777001",
            text=text,
            last_message_at=AT,
            requested_at=AT,
        ),
    )


def test_the_same_answer_to_the_same_reply_has_one_id() -> None:
    assert answer_id("ev_1", "Yes ") == answer_id("ev_1", "Yes")
    assert answer_id("ev_1", "Yes") != answer_id("ev_2", "Yes") != answer_id("ev_1", "No")


def test_chat_channels_declare_their_windows_and_only_they_carry_answers() -> None:
    channels = catalogue()
    answering = {name for name, c in channels.items() if "reply" in c.purposes}
    assert {"messenger", "signal", "whatsapp"} <= answering and not {"email", "post"} & answering
    assert channels["whatsapp"].reply_window_closes(AT) == AT + timedelta(hours=24)
    assert channels["messenger"].reply_window_closes(AT) == AT + timedelta(hours=24)
    assert channels["signal"].reply_window_closes(AT) is None


def test_the_answer_goes_to_the_address_written_from_with_the_later_window() -> None:
    member = {"name": "Sok Dara", "language": "km", "country": "KH", "phone": "+85599999999",
              "last_inbound": {"whatsapp": AT - timedelta(hours=1), "signal": AT}}  # fmt: skip
    known = answer_recipient(requested("mb_1"), member)
    assert (known.member_id, known.name, known.language, known.phone) == (
        "mb_1",
        "Sok Dara",
        "km",
        "+85512777001",
    )
    assert known.last_inbound_at == {"whatsapp": AT, "signal": AT}
    stranger = answer_recipient(requested(None, "ជំរាបសួរ"), None)
    assert stranger.member_id == contact_key("phone", "+85512777001")
    assert (stranger.language, stranger.country, stranger.name) == ("km", "ZZ", "")
    assert answer_recipient(requested(None), None).language == "en"


def answer_for(hours_since_they_wrote: float, channel: str = "whatsapp") -> OutboundMessage:
    delivery = DeliveryRequestedData(
        delivery_id="dl_answer_0000000000000001",
        channel=channel,
        purpose="reply",
        source_id=answer_id("ev_1", "At the temple, 3 pm."),
        priority=8,
        recipient=recipient().model_copy(
            update={
                "psid": PSID,
                "last_inbound_at": {channel: utcnow() - timedelta(hours=hours_since_they_wrote)},
            }
        ),
        notice=reply_notice("At the temple, 3 pm."),
        requested_at=utcnow(),
    )
    assert answer_text(delivery) == "At the temple, 3 pm."
    return OutboundMessage(delivery, ())


async def test_whatsapp_sends_an_answer_as_plain_text_inside_the_window_only() -> None:
    harness = WhatsAppHarness()
    await harness.adapter.start()
    try:
        await harness.adapter.send(answer_for(hours_since_they_wrote=2))
        [sent] = harness.state.messages
        assert (sent["type"], sent["text"]) == ("text", "At the temple, 3 pm.")
        with pytest.raises(PermanentDeliveryError) as refused:
            await harness.adapter.send(answer_for(hours_since_they_wrote=25))
        assert refused.value.reason == "outside-24h-window"
        assert len(harness.state.messages) == 1, "no template or free text went out of the window"
    finally:
        await harness.adapter.close()


async def test_messenger_answers_inside_the_window_and_never_with_a_tag_outside_it() -> None:
    harness = MessengerHarness("ACCOUNT_UPDATE")
    await harness.opt_in()
    await harness.adapter.start()
    try:
        await harness.adapter.send(answer_for(2, "messenger"))
        [sent] = harness.state.messages
        assert sent["messaging_type"] == "RESPONSE" and "At the temple, 3 pm." in str(sent)
        with pytest.raises(PermanentDeliveryError) as refused:
            await harness.adapter.send(answer_for(25, "messenger"))
        assert refused.value.reason == "outside-24h-window" and harness.received() == 1
    finally:
        await harness.adapter.close()
