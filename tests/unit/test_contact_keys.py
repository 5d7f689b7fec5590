"""Contact lookup keys (shared/personal_data.py `contact_key`): blinded, normalised, versioned."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from shared.contracts.erasure import contact_digest
from shared.personal_data import (
    BlindIndex,
    EncryptionNotConfigured,
    PersonalDataSettings,
    contact_index,
    contact_key,
    contact_key_kind,
)

INDEX = BlindIndex(SecretStr("unit-test-index-key"))


def test_a_contact_key_is_the_keyed_index_of_the_normalised_value_never_the_value() -> None:
    key = contact_key("email", "Dara@Example.org", INDEX)
    assert key == contact_key("email", "dara@example.org", INDEX), "email is casefolded"
    assert key.startswith("bx:email:") and "dara" not in key.casefold()
    assert key != contact_key("email", "dara@example.org", BlindIndex(SecretStr("another key")))
    assert contact_key("phone", "+85512345678", INDEX).startswith("bx:phone:")
    assert contact_key("psid", "PSID123", INDEX) != contact_key("psid", "psid123", INDEX), "PSID as is"
    assert contact_key("email", "dara@example.org", INDEX) != contact_key("psid", "dara@example.org", INDEX)


def test_erasure_digests_share_the_contact_keys_hmac() -> None:
    key = contact_key("email", "Dara@Example.org", INDEX)
    assert key == "bx:" + contact_digest("email", "dara@example.org", INDEX)


def test_without_an_index_key_keys_stay_plain_unless_encryption_is_required() -> None:
    assert contact_key("email", "Dara@Example.org", None) == "email:dara@example.org"
    lenient = PersonalDataSettings(_env_file=None, blind_index_key=None, required=False)
    assert contact_index(lenient) is None
    strict = PersonalDataSettings(_env_file=None, blind_index_key=None, required=True)
    with pytest.raises(EncryptionNotConfigured):
        contact_index(strict)
    keyed = PersonalDataSettings(_env_file=None, blind_index_key=SecretStr("k"))
    assert contact_key("phone", "+1", contact_index(keyed)).startswith("bx:phone:")


@pytest.mark.parametrize(
    ("key", "kind"),
    [
        ("bx:email:ab12", "email"),
        ("email:dara@example.org", "email"),
        ("bx:psid:ff", "psid"),
        ("phone:+1", "phone"),
    ],
)
def test_the_kind_of_a_key_blinded_or_plain(key: str, kind: str) -> None:
    assert contact_key_kind(key) == kind
