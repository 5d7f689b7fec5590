"""The logic in the console's read models (services/console/read_models.py): a view reads back as
the document it was (an absent field stays absent, so operators see the same JSON); the alert list
cuts the texts to the English title as the drafts' projection does; a sealed view is opened into
the same view, an erased subject reads as absent; the session views are the `Session` contract."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

from bson.binary import Binary

from services.console.read_models import (
    ALERT_HEADLINES,
    SESSIONS,
    SESSIONS_LISTED,
    AlertHeadline,
    AlertShown,
    RegistrationRow,
    present,
)
from services.console.routes.alerts import LISTED
from shared.contracts.session import Session
from shared.personal_data import PersonalDataUnreadable, Vault
from shared.read_models import opened

AT = datetime(2026, 11, 30, tzinfo=UTC)


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


def test_a_view_reads_back_with_only_the_fields_its_document_has() -> None:
    stored = {"_id": "al_1", "number": "UA 1/26", "sequence": 2, "deadline": "2026-12-15T00:00:00Z"}
    shown = AlertShown.from_document({**stored, "first_published_at": AT})
    assert present(shown) == {"number": "UA 1/26", "sequence": 2, "deadline": "2026-12-15T00:00:00Z"}
    assert shown.state is None and "state" not in present(shown), "no `state: None` the alert lacked"
    kept = AlertShown.from_document({**stored, "deadline": AT, "officials": []})
    assert present(kept)["deadline"] is AT and present(kept)["officials"] == [], "stored as it is"


def test_the_alert_list_shows_what_a_drafts_row_shows_with_only_the_english_title() -> None:
    assert ALERT_HEADLINES.fields == {"_id", "updated_at", *(name.split(".")[0] for name in LISTED)}
    texts = {"en": {"title": "Free Sok Vanna", "summary": "..."}, "km": {"title": "..."}}
    row = AlertHeadline.from_document({"_id": "al_1", "number": "UA 1/26", "texts": texts}).listed()
    assert row == {"number": "UA 1/26", "texts": {"en": {"title": "Free Sok Vanna"}}}
    assert AlertHeadline(id="al_2", texts={"km": {"title": "..."}}).listed() == {"texts": {}}
    assert AlertHeadline(id="al_3", texts={"en": {}}).listed() == {"texts": {"en": {}}}
    assert AlertHeadline(id="al_4", updated_at=AT).listed() == {"updated_at": AT}


def test_the_session_views_are_the_contract_and_the_list_has_no_join_link() -> None:
    assert SESSIONS.fields == {"_id", *Session.model_fields}
    assert SESSIONS_LISTED.fields == SESSIONS.fields - {"join_link"}


async def test_a_sealed_view_is_opened_into_the_same_view_with_only_its_declared_fields() -> None:
    sealed = RegistrationRow.from_document(
        {"_id": "rg_1", "session_id": "ss_1", "submitted_at": AT, "sealed": Binary(b"rg_1", 6)}
    )
    personal = {"registrant": {"name": "Sok Dara"}, "ideas": "land", "cancel_url": "https://x/c/1"}
    found = await opened(vault(rg_1=personal), sealed)
    assert found == RegistrationRow(
        id="rg_1", session_id="ss_1", submitted_at=AT, registrant={"name": "Sok Dara"}, ideas="land"
    )
    assert found is not None and not hasattr(found, "cancel_url")
    assert present(found) == {
        "session_id": "ss_1",
        "registrant": {"name": "Sok Dara"},
        "ideas": "land",
        "submitted_at": AT,
    }, "what it had and what was sealed; no `state` it lacked, no `sealed`"


async def test_a_plain_view_passes_and_an_erased_one_reads_as_absent() -> None:
    plain = RegistrationRow(id="rg_1", registrant={"name": "Sok Dara"})
    assert await opened(None, plain) is plain, "a document stored plain needs no vault"
    absent: RegistrationRow | None = None
    assert await opened(None, absent) is None
    sealed = RegistrationRow(id="rg_2", sealed=Binary(b"gone", 6))
    assert await opened(vault(), sealed) is None, "its subject was erased"
    assert await opened(None, sealed) is None, "sealed, and the console has no vault"
