"""The logic in intake's read models (services/intake/read_models.py): a sealed view is opened into
the same view (what it does not declare stays out; an erased subject reads as absent), and a
partner key checks a presented secret and origin as shared/partner_keys.py's `PartnerKey` does."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

from bson.binary import Binary

from services.intake.read_models import (
    CertificateCheck,
    MemberPreferences,
    PartnerKeyCheck,
)
from shared.partner_keys import hash_secret
from shared.personal_data import PersonalDataUnreadable, Vault
from shared.read_models import opened

SIGNED = datetime(2026, 11, 30, tzinfo=UTC)


class FakeVault:
    """Opens `sealed` values by looking them up (their bytes are the key); unknown: erased."""

    def __init__(self, held: dict[bytes, dict[str, Any]]) -> None:
        self.held = held

    async def decrypt(self, value: Binary) -> Any:
        if bytes(value) not in self.held:
            raise PersonalDataUnreadable("forgotten")
        return self.held[bytes(value)]


def vault(**held: dict[str, Any]) -> Vault:
    return cast(Vault, FakeVault({name.encode(): fields for name, fields in held.items()}))


async def test_a_sealed_view_is_opened_into_the_same_view_with_only_its_declared_fields() -> None:
    sealed = MemberPreferences.from_document(
        {"_id": "mb_1", "language": "km", "topics": ["elections"], "sealed": Binary(b"mb_1", 6)}
    )
    personal = {"email": "a@example.org", "psid": "99", "name": "Sok Dara", "unsubscribe_token": "t" * 32}
    found = await opened(vault(mb_1=personal), sealed)
    assert found == MemberPreferences(
        id="mb_1",
        language="km",
        topics=["elections"],
        email="a@example.org",
        psid="99",
        unsubscribe_token="t" * 32,
    )
    assert not hasattr(found, "name"), "a sealed field the view does not declare stays out"


async def test_a_plain_view_passes_and_an_erased_one_reads_as_absent() -> None:
    plain = CertificateCheck(number="KCAP-2026-000001", state="valid", signed_on=SIGNED, name="Sok Dara")
    assert await opened(None, plain) is plain, "a document stored plain needs no vault"
    sealed = plain.model_copy(update={"name": None, "sealed": Binary(b"gone", 6)})
    assert await opened(vault(), sealed) is None, "its subject was erased"
    assert await opened(None, sealed) is None, "sealed, and this process has no vault"


def test_a_partner_key_checks_its_secret_and_origins() -> None:
    secret = "pk_3f9c0a1b2d4e6f70.secret"
    key = PartnerKeyCheck.from_document(
        {
            "_id": "pk_3f9c0a1b2d4e6f70",
            "secret_hash": hash_secret(secret),
            "rate_per_minute": 200,
            "origins": ["https://partner.example.org"],
            "name": "Forum desk",
        }
    )
    assert key.id == "pk_3f9c0a1b2d4e6f70" and not key.revoked
    assert key.accepts(secret) and not key.accepts(secret + "x")
    assert key.allows_origin("https://partner.example.org")
    assert not key.allows_origin("https://other.example.org")
    assert key.model_copy(update={"revoked_at": SIGNED}).revoked
