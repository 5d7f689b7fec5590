"""Where the CLI's operator commands find the console's operator API, and with what token.

    --url    else SAMLENG_CONSOLE_URL, else http://127.0.0.1:8001
    --token  else SAMLENG_OPERATOR_TOKEN: an operator API token (`sk_op_…`, docs/operators.md)

Each is read from the environment, else from .env, else from .run/secrets.env (where `make run`
puts the local admin's token).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

from dotenv import dotenv_values

URL_VARIABLE = "SAMLENG_CONSOLE_URL"
TOKEN_VARIABLE = "SAMLENG_OPERATOR_TOKEN"  # noqa: S105 - the variable's name, not a secret
DEFAULT_URL = "http://127.0.0.1:8001"
PREFIX = "/api/v1/operator"
NO_TOKEN = (
    f"no operator API token: pass --token or set {TOKEN_VARIABLE} to an operator API token "
    "(sk_op_…). Create one with POST /api/v1/operator/tokens while signed in to the console, "
    "or `samleng operator token --email YOUR_EMAIL --name NAME` (docs/operators.md)."
)


def setting(name: str) -> str | None:
    return (
        os.environ.get(name) or dotenv_values(".env").get(name) or dotenv_values(".run/secrets.env").get(name)
    )


@dataclass(frozen=True)
class OperatorApi:
    base: str
    """The console's base URL, without a trailing slash."""
    token: str

    def url(self, path: str) -> str:
        """`path` under the operator API: `url("/imports/table")`."""
        return f"{self.base}{PREFIX}{path}"

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def operator_api(url: str | None, token: str | None) -> OperatorApi | None:
    """The console to talk to, or None (having said why) when there is no token."""
    token = token or setting(TOKEN_VARIABLE)
    if not token:
        print(NO_TOKEN, file=sys.stderr)
        return None
    base = (url or setting(URL_VARIABLE) or DEFAULT_URL).rstrip("/")
    return OperatorApi(base, token)


def refused(status: int, body: str) -> str:
    """What to tell the operator when the console refused a call."""
    if status == 401:
        return f"the console refused the token (401): is {TOKEN_VARIABLE} a live operator API token?"
    if status == 403:
        return f"your role may not do this (403): {body}"
    if status >= 500:
        return f"the console answered {status}; try again"
    return f"the console answered {status}: {body}"
