"""Operators for tests of the operator API: an operator of a given role and an API token of
theirs, written through the console's own stores (as `samleng operator add` and `POST /tokens`
do), and the headers a script would send.

    token = await operator_token(db, Role.publisher, env=service_env)
    await client.post(f"{console}/api/v1/operator/alerts", headers=bearer(token), json=...)

`env` carries the vault keys of the console process under test (its TOTP secret is sealed with
them); without it the test process's own environment is used (in-process apps).

An `Account` is what was shown once (email, password, TOTP secret) and signs in on the API as a
person does: `headers = await signed_in(client, account)`.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import pyotp

from services.console.credentials import Credentials
from services.console.operators import OperatorStore
from services.console.permissions import Role
from shared.personal_data import PersonalDataSettings, open_vault

PREFIX = "/api/v1/operator"


@dataclass
class Account:
    email: str
    password: str
    secret: str
    last_step: int = -1
    """The last TOTP time step this operator signed in with (or confirmed): its code is spent."""

    def sign_in_body(
        self, password: str | None = None, totp: str | None = None, spend: bool = True
    ) -> dict[str, str]:
        """A sign-in as the operator would do it. A TOTP code signs in once, so each real attempt
        (right password, own code) takes a later time step than the last: the current one, else
        the next (the console accepts one step either side for clock drift), else it waits for
        the next step as a person would. `spend=False`: an attempt the console refuses before it
        looks at the code (a locked account, reset credentials), which spends nothing."""
        if totp is None:
            now = time.time()
            current = int(now // 30)
            step = max(current, self.last_step + 1)
            if step > current + 1:
                time.sleep((step - 1) * 30 - now + 0.1)
            totp = pyotp.TOTP(self.secret).at(step * 30)
            if password is None and spend:
                self.last_step = step
        return {
            "email": self.email,
            "password": self.password if password is None else password,
            "totp": totp,
        }


async def signed_in(console: httpx.AsyncClient, account: Account) -> dict[str, str]:
    """The headers of a session `account` opened on the sign-in route (its cookie cleared: each
    request says who it is)."""
    answer = await console.post(f"{PREFIX}/sign-in", json=account.sign_in_body())
    console.cookies.clear()
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['token']}"}


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
