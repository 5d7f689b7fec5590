"""The local run's operator: `make run` signs nobody in by itself, but a fresh local stack has
one admin (`admin@samleng.local`) and a live API token of theirs, so the operator API, the CLI
(`samleng member export …`) and the end-to-end tests work at once.

The token is written into .run/secrets.env as SAMLENG_OPERATOR_TOKEN (the CLI reads it there);
the admin's password and TOTP enrolment into .run/operator.txt (mode 600), once, for signing in.
Production never runs this: its first admin comes from `samleng operator add` (docs/operators.md).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from dotenv import dotenv_values

from services.console.credentials import Credentials
from services.console.operators import OperatorStore
from services.console.permissions import Role
from shared.personal_data import open_vault
from shared.settings import ServiceSettings
from shared.storage import create_client, database

EMAIL = "admin@samleng.local"
TOKEN_VARIABLE = "SAMLENG_OPERATOR_TOKEN"  # noqa: S105 - the name of the variable, not a secret


async def ensure_local_operator(run_dir: Path) -> str:
    """Make sure the local admin exists and SAMLENG_OPERATOR_TOKEN in .run/secrets.env is live;
    returns what to tell the person running the stack."""
    settings = ServiceSettings(_env_file=None)  # the stack's environment
    client = create_client(settings)
    try:
        db = database(client, settings)
        vault = await open_vault(db)
        try:
            operators = OperatorStore(db, vault)
            credentials = Credentials(db)
            await operators.ensure_indexes()
            await credentials.ensure_indexes()
            said = f"operator API: {TOKEN_VARIABLE} in {run_dir / 'secrets.env'}"
            operator = await operators.by_email(EMAIL)
            if operator is None:
                created = await operators.create(EMAIL, "Local admin", Role.admin)
                operator = created.operator
                sign_in = run_dir / "operator.txt"
                sign_in.write_text(
                    f"email: {EMAIL}\npassword: {created.password}\ntotp: {created.otpauth_uri}\n"
                )
                sign_in.chmod(0o600)
                said += f"; sign-in details in {sign_in}"
            secrets_file = run_dir / "secrets.env"
            current = dotenv_values(secrets_file).get(TOKEN_VARIABLE) if secrets_file.exists() else None
            live = current is not None and await credentials.resolve(current) is not None
            if not live:
                token, _ = await credentials.create_token(operator.id, "make run", 366)
                _set_variable(secrets_file, TOKEN_VARIABLE, token)
            return said
        finally:
            if vault is not None:
                await vault.close()
    finally:
        await client.close()


def _set_variable(path: Path, name: str, value: str) -> None:
    lines = path.read_text().splitlines() if path.exists() else []
    kept = [line for line in lines if not line.startswith(f"{name}=")]
    path.write_text("\n".join([*kept, f"{name}={value}"]) + "\n")
    path.chmod(0o600)


def ensure(run_dir: Path) -> str:
    return asyncio.run(ensure_local_operator(run_dir))
