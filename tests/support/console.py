"""Operators for tests of the operator API: an operator of a given role and an API token of
theirs, written through the console's own stores (as `samleng operator add` and `POST /tokens`
do), and the headers a script would send.

    token = await operator_token(db, Role.publisher, env=service_env)
    await client.post(f"{console}/api/v1/operator/alerts", headers=bearer(token), json=...)

`env` carries the vault keys of the console process under test (its TOTP secret is sealed with
them); without it the test process's own environment is used (in-process apps).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from services.console.credentials import Credentials
from services.console.operators import OperatorStore
from services.console.permissions import Role
from shared.personal_data import PersonalDataSettings, open_vault


async def operator_token(
    db: Any, role: Role = Role.admin, env: Mapping[str, str] | None = None, email: str | None = None
) -> str:
    """A new operator with `role` and a live API token of theirs (returned)."""
    keys = None
    if env is not None:
        keys = PersonalDataSettings.model_validate({k: v for k, v in env.items() if k.startswith("SAMLENG_")})
    vault = await open_vault(db, keys)
    try:
        created = await OperatorStore(db, vault).create(
            email or f"{role.value}-{uuid.uuid4().hex[:8]}@samleng.test", f"Test {role.value}", role
        )
    finally:
        if vault is not None:
            await vault.close()
    token, _ = await Credentials(db).create_token(created.operator.id, "tests", 1)
    return token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
