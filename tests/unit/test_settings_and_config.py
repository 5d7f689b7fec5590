from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import Field
from pydantic_settings import SettingsConfigDict

from devstack.config import LocalStack, parse_scale
from shared.messaging.consumer import describe_validation_error
from shared.settings import ServiceSettings


class EmailSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="EMAIL_")
    smtp_host: str = "127.0.0.1"
    smtp_password: str = Field(default="")


def test_shared_settings_ignore_the_prefix_and_service_settings_use_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AMQP_URL", "amqp://u:hunter2@h:5672/")
    monkeypatch.setenv("EMAIL_SMTP_HOST", "mail.example.org")
    settings = EmailSettings()
    assert settings.amqp_url.get_secret_value() == "amqp://u:hunter2@h:5672/"
    assert settings.smtp_host == "mail.example.org"
    assert "hunter2" not in repr(settings) and "hunter2" not in str(settings.model_dump())


def test_retry_delays_come_from_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RETRY_DELAYS_MS", "[100, 200]")
    assert ServiceSettings().retry_delays_ms == [100, 200]


def test_scale_syntax() -> None:
    assert parse_scale("email=3, signal=2") == {"email": 3, "signal": 2}
    assert parse_scale("") == {}
    with pytest.raises(ValueError, match="name=N"):
        parse_scale("email")


def test_local_stack_validates_ports_and_detects_an_external_mongodb(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="SAMLENG_AMQP_PORT"):
        LocalStack.from_env({"SAMLENG_AMQP_PORT": "99999"})
    local = LocalStack.from_env({"SAMLENG_RUN_DIR": str(tmp_path)})
    assert local.external_mongodb_uri is None
    assert "MongoDB-wire server" in [p.label for p in local.ports()]
    same = LocalStack.from_env({"MONGODB_URI": local.mongodb_uri})
    assert same.external_mongodb_uri is None, "our own child env must not look external"
    external = LocalStack.from_env({"MONGODB_URI": "mongodb://db.internal:27017/"})
    assert external.external_mongodb_uri == "mongodb://db.internal:27017/"
    assert "MongoDB-wire server" not in [p.label for p in external.ports()]


def test_every_channel_with_an_inbound_process_gets_its_own_local_webhook_receiver() -> None:
    from shared.channels.catalogue import catalogue

    local = LocalStack.from_env({"SAMLENG_SMS_WEBHOOK_PORT": "9135"})
    inbound = {name for name, spec in catalogue().items() if spec.inbound}
    assert set(local.webhook_ports) == inbound and local.webhook_ports["sms"] == 9135
    env = local.child_env()
    for name in inbound:
        port = local.webhook_ports[name]
        assert env[f"{name.upper()}_WEBHOOK_PORT"] == str(port)
        assert env[f"SANDBOX_{name.upper()}_WEBHOOK_URL"] == f"http://127.0.0.1:{port}/webhooks/{name}"
    assert len(set(local.webhook_ports.values())) == len(inbound)
    with pytest.raises(ValueError, match="two channels' webhooks on port 9000"):
        LocalStack.from_env({"SAMLENG_SMS_WEBHOOK_PORT": "9000", "SAMLENG_SIGNAL_WEBHOOK_PORT": "9000"})


def test_validation_errors_name_fields_but_never_echo_values() -> None:
    from pydantic import BaseModel, ValidationError

    class Member(BaseModel):
        email: int

    with pytest.raises(ValidationError) as caught:
        Member.model_validate({"email": "dara@example.org"})
    text = describe_validation_error(caught.value)
    assert text.startswith("email:")
    assert "dara@example.org" not in text
