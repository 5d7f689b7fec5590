"""The channel catalogue: each folder's channel.toml is the one place a channel is declared."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import TypeAdapter, ValidationError

from services.channels import discover
from shared.channels.adapter import DECLARATIONS
from shared.channels.catalogue import CatalogueError, catalogue, channels_folder, load
from shared.contracts.pledge import Channel

ROOT = Path(__file__).resolve().parents[2]


def test_every_channel_folder_declares_itself_and_its_adapter_declares_nothing_of_its_own() -> None:
    folders = {p.parent.name for p in channels_folder().glob("*/adapter.py")}
    assert set(catalogue()) == folders == set(discover())
    for name, adapter in discover().items():
        assert adapter.spec is catalogue()[name]
        assert all(getattr(adapter, a) == getattr(adapter.spec, a) for a in DECLARATIONS)
        source = (channels_folder() / name / "adapter.py").read_text()
        for attribute in DECLARATIONS:
            assert f"\n    {attribute} = " not in source and f"\n    {attribute}: " not in source, (
                name,
                attribute,
            )


def test_the_catalogue_loads_without_importing_any_provider_library() -> None:
    code = (
        "import sys\n"
        "from shared.channels.catalogue import catalogue\n"
        "assert catalogue()\n"
        "loaded = [m for m in sys.modules if m.startswith('services.channels.') or m in ('aiosmtplib', 'jinja2')]\n"
        "print(loaded)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout


def test_a_contract_accepts_only_channel_names_the_catalogue_lists() -> None:
    channels = TypeAdapter(list[Channel])
    assert channels.validate_python(list(catalogue())) == list(catalogue())
    with pytest.raises(ValidationError, match="unknown channel 'carrier_pigeon'"):
        channels.validate_python(["email", "carrier_pigeon"])


def test_a_wrong_declaration_is_refused_with_the_file_and_the_field(tmp_path: Path) -> None:
    folder = tmp_path / "sms"
    folder.mkdir()
    declaration = folder / "channel.toml"
    declaration.write_text('name = "sms"\naddress_kind = "pager"\n[labels]\nen = "SMS"\n')
    with pytest.raises(CatalogueError, match=r"(?s)sms/channel.toml.*address_kind"):
        load(tmp_path)
    declaration.write_text('name = "text"\naddress_kind = "phone"\n[labels]\nen = "SMS"\n')
    with pytest.raises(CatalogueError, match="name must be 'sms'"):
        load(tmp_path)
    declaration.write_text('name = "sms"\naddress_kind = "phone"\nlabels = {en = "SMS"}\n')
    assert load(tmp_path)["sms"].person_fields == ("phone",)


def test_overrides_of_the_waits_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    whatsapp, email = catalogue()["whatsapp"], catalogue()["email"]
    assert whatsapp.configured("receipt_wait_seconds") == whatsapp.receipt_wait_seconds
    monkeypatch.setenv("WHATSAPP_RECEIPT_WAIT_SECONDS", "60")
    monkeypatch.setenv("EMAIL_RECEIPT_WAIT_SECONDS", "60")
    assert whatsapp.configured("receipt_wait_seconds") == 60
    assert email.configured("receipt_wait_seconds") is None, "no receipts: nothing to wait for"
