"""The steps of "send us any message from your phone" (services/intake/confirm_number.py), the
settings that give our numbers, and the numbers `make run` gives the local site."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from devstack.run import public_numbers
from services.intake.confirm_number import NumberStep, chat_channels, number_steps, readable
from services.intake.settings import IntakeSettings
from shared.channels.catalogue import ChannelSpec
from tests.support.catalogue import with_channel


def settings(**numbers: str) -> IntakeSettings:
    return IntakeSettings(secret_key="x" * 32, **numbers)  # type: ignore[arg-type]


def test_only_the_chat_channels_chosen_get_a_step_with_our_number_and_the_app_link() -> None:
    ours = settings(signal_number="+15550001234", whatsapp_number="+85512345678")
    assert number_steps(ours, ["email", "post", "messenger"]) == []
    assert number_steps(ours, ["whatsapp", "email", "signal", "whatsapp"]) == [
        NumberStep("whatsapp", "+855 12 345 678", "https://wa.me/85512345678?text=Hello"),
        NumberStep("signal", "+1 555 000 1234", "https://signal.me/#p/+15550001234"),
    ]
    assert chat_channels(["signal", "signal", "sms?"]) == ["signal"]


def test_without_our_number_a_step_names_none_and_links_nowhere() -> None:
    assert number_steps(settings(), ["signal"]) == [NumberStep("signal", None, None)]
    assert readable("+15550001234") == "+1 555 000 1234"


@pytest.mark.parametrize("number", ["15550001234", "+1 555 000 1234", "+0123456789", "+1"])
def test_a_number_not_in_e164_form_fails_at_start(number: str) -> None:
    with pytest.raises(ValidationError, match=r"INTAKE_SIGNAL_NUMBER: .*E\.164"):
        settings(signal_number=number)


def test_any_phone_channel_has_its_number_from_intake_name_number_and_its_declared_link(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sms = ChannelSpec(
        name="sms", labels={"en": "SMS"}, order=45, address_kind="phone", contact_link="sms:{number}"
    )
    monkeypatch.setenv("INTAKE_SMS_NUMBER", "+15550002222")
    monkeypatch.setenv("INTAKE_WHATSAPP_NUMBER", "+85512345678")
    with with_channel(sms):
        ours = settings()
        assert ours.channel_numbers == {"whatsapp": "+85512345678", "sms": "+15550002222"}
        assert chat_channels(["email", "sms", "messenger", "sms"]) == ["sms"]
        assert number_steps(ours, ["sms", "whatsapp"]) == [
            NumberStep("sms", "+1 555 000 2222", "sms:+15550002222"),
            NumberStep("whatsapp", "+855 12 345 678", "https://wa.me/85512345678?text=Hello"),
        ]
        quiet = sms.model_copy(update={"contact_link": None})
        with with_channel(quiet):
            assert number_steps(ours, ["sms"]) == [NumberStep("sms", "+1 555 000 2222", None)], (
                "no link declared"
            )
    monkeypatch.setenv("INTAKE_PAGER_NUMBER", "+15550003333")
    assert "pager" not in settings().channel_numbers, "a channel not installed has no number"


def test_make_run_gives_the_site_the_sandbox_numbers_unless_set() -> None:
    assert public_numbers({}) == {
        "INTAKE_SIGNAL_NUMBER": "+15550001234",
        "INTAKE_SMS_NUMBER": "+15550002222",
        "INTAKE_WHATSAPP_NUMBER": "+15550001111",
    }
    chosen = public_numbers({"SIGNAL_NUMBER": "+15559990000", "INTAKE_WHATSAPP_NUMBER": "+15558880000"})
    assert chosen["INTAKE_SIGNAL_NUMBER"] == "+15559990000"
    assert chosen["INTAKE_WHATSAPP_NUMBER"] == "+15558880000"
    assert public_numbers({"INTAKE_SIGNAL_NUMBER": ""})["INTAKE_SIGNAL_NUMBER"] == "+15550001234"
