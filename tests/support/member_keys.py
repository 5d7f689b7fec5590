"""Contact keys as the services compute them (shared/personal_data.py `contact_key`), under the
blind-index key a test's processes were given (`service_env`: a random one per test)."""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import SecretStr

from shared.personal_data import BlindIndex, contact_key


def member_key(env: Mapping[str, str], kind: str, value: str) -> str:
    secret = env.get("SAMLENG_BLIND_INDEX_KEY")
    return contact_key(kind, value, BlindIndex(SecretStr(secret)) if secret else None)
