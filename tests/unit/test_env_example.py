"""Every setting a process reads is documented in .env.example."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import AliasChoices

from shared.settings import ServiceSettings

ROOT = Path(__file__).resolve().parents[2]


def documented() -> set[str]:
    names = set()
    for line in (ROOT / ".env.example").read_text().splitlines():
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


def test_every_service_setting_is_in_env_example() -> None:
    from services.certificates.app import CertificateSettings
    from services.intake.settings import IntakeSettings

    for cls in (IntakeSettings, CertificateSettings):
        prefix = cls.model_config.get("env_prefix", "")
        own = set(cls.model_fields) - set(ServiceSettings.model_fields)
        missing = sorted(
            f"{prefix}{name}".upper() for name in own if f"{prefix}{name}".upper() not in documented()
        )
        assert missing == [], cls.__name__


def test_every_local_stack_variable_is_in_env_example() -> None:
    source = "\n".join(p.read_text() for p in (ROOT / "devstack").rglob("*.py"))
    used = set(re.findall(r"\"(SAMLENG_[A-Z_]+)\"", source)) - {"SAMLENG_EXPECTED_SERVICES"}
    assert used - documented() == set()
