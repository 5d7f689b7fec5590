"""Every setting a process reads is documented in .env.example."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import AliasChoices

from shared.settings import ServiceSettings

ROOT = Path(__file__).resolve().parents[2]


def documented(path: Path = ROOT / ".env.example") -> set[str]:
    names = set()
    for line in path.read_text().splitlines():
        match = re.match(r"^#?\s*([A-Z][A-Z0-9_]+)=", line)
        if match:
            names.add(match.group(1))
    return names


def test_every_shared_setting_is_in_env_example() -> None:
    missing = []
    for name, field in ServiceSettings.model_fields.items():
        alias = field.validation_alias
        names = (
            [c for c in alias.choices if isinstance(c, str)]
            if isinstance(alias, AliasChoices)
            else [name.upper()]
        )
        if not any(n in documented() for n in names):
            missing.append(name)
    assert missing == []


def env_names(cls: type[ServiceSettings]) -> dict[str, list[str]]:
    """Each own field of a settings class -> the environment names that set it."""
    prefix = cls.model_config.get("env_prefix", "")
    names = {}
    for name in set(cls.model_fields) - set(ServiceSettings.model_fields):
        alias = cls.model_fields[name].validation_alias
        names[name] = (
            [c for c in alias.choices if isinstance(c, str)]
            if isinstance(alias, AliasChoices)
            else [f"{prefix}{name}".upper()]
        )
    return names


def test_every_service_setting_is_in_env_example() -> None:
    from services.certificates.app import CertificateSettings
    from services.dispatcher.app import DispatcherSettings
    from services.intake.settings import IntakeSettings
    from services.scheduler.app import SchedulerSettings

    for cls in (IntakeSettings, CertificateSettings, DispatcherSettings, SchedulerSettings):
        missing = sorted(n[0] for n in env_names(cls).values() if not any(x in documented() for x in n))
        assert missing == [], cls.__name__


def test_every_channel_setting_is_documented_in_env_example_or_its_folder() -> None:
    from services.channels import discover
    from shared.channels.adapter import ChannelSettings

    shared = env_names(ChannelSettings)
    for name, adapter in discover().items():
        folder = ROOT / "services" / "channels" / name / ".env.example"
        known = documented() | (documented(folder) if folder.exists() else set())
        own = {k: v for k, v in env_names(adapter.settings_class).items() if k not in shared}
        missing = sorted(n[0] for n in own.values() if not any(x in known for x in n))
        assert missing == [], name


def test_settings_every_channel_has_are_documented_once_for_all() -> None:
    from shared.channels.adapter import ChannelSettings

    text = (ROOT / ".env.example").read_text()
    for field, names in env_names(ChannelSettings).items():
        generic = f"<NAME>_{field.upper()}"
        assert any(n in documented() for n in names) or generic in text, field


def test_every_local_stack_variable_is_in_env_example() -> None:
    source = "\n".join(p.read_text() for p in (ROOT / "devstack").rglob("*.py"))
    used = set(re.findall(r"\"(SAMLENG_[A-Z_]+)\"", source)) - {"SAMLENG_EXPECTED_SERVICES"}
    assert used - documented() == set()
