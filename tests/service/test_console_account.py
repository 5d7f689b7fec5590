"""An operator's own account on the console API (real broker and Mongo-wire server, a vault):
changing their password ends their other sessions, wrong current passwords count like failed
sign-ins, and the second factor is re-enrolled in two steps (a new secret pending until a code of
it confirms it, then the old one stops working) — each step audited once as theirs."""

from __future__ import annotations

import base64
import os
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pyotp
import pytest

from services.console.credentials import Credentials
from services.console.operators import OperatorStore, password_matches
from services.console.permissions import Role
from shared.personal_data import open_vault
from tests.support.console import Account, signed_in

PREFIX = "/api/v1/operator"
MAX_FAILURES = 3


@pytest.fixture
def vault_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The vault's keys, for the console under test and the operators the test makes alike."""
    monkeypatch.setenv("SAMLENG_MASTER_KEY", base64.b64encode(os.urandom(96)).decode())
    monkeypatch.setenv("SAMLENG_BLIND_INDEX_KEY", os.urandom(32).hex())


@pytest.fixture
async def console(vault_env: None, make_console: Callable[..., Any]) -> AsyncIterator[httpx.AsyncClient]:
    async with make_console(max_failures=MAX_FAILURES) as url, httpx.AsyncClient(base_url=url) as client:
        yield client


async def new_operator(db: Any, role: Role = Role.editor) -> tuple[str, Account]:
    """An operator as `samleng operator add` makes one: their id, and what was shown once."""
    vault = await open_vault(db)
    try:
        made = await OperatorStore(db, vault).create(
            f"{role.value}-{uuid.uuid4().hex[:8]}@samleng.test", f"Test {role.value}", role
        )
    finally:
        if vault is not None:
            await vault.close()
    secret = pyotp.parse_uri(made.otpauth_uri).secret
    return made.operator.id, Account(made.operator.email, made.password, secret)


async def opened_session(db: Any, operator_id: str) -> dict[str, str]:
    """A session of theirs as a sign-in opens one (without spending a TOTP code)."""
    token, _, _ = await Credentials(db).open_session(operator_id, 1)
    return {"Authorization": f"Bearer {token}"}


async def audited(db: Any, action: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = await db.audit_events.find({"action": action}).sort("at", 1).to_list(None)
    return found


def fields(answer: httpx.Response) -> dict[str, str]:
    """field -> code of a 422 answer's problems."""
    assert answer.status_code == 422, answer.text
    found = {}
    for problem in answer.json()["detail"]:
        field = problem.get("field") or ".".join(str(p) for p in problem["loc"][1:])
        found[field] = problem.get("code") or problem["type"]
    return found


async def test_an_operator_changes_their_password_and_their_other_sessions_end(
    console: httpx.AsyncClient, db: Any
) -> None:
    operator_id, account = await new_operator(db)
    here = await signed_in(console, account)
    elsewhere = await opened_session(db, operator_id)
    made = await console.post(f"{PREFIX}/tokens", headers=here, json={"name": "script"})
    script = {"Authorization": f"Bearer {made.json()['token']}"}
    before = (await db.operators.find_one({"_id": operator_id}))["password_hash"]
    change = f"{PREFIX}/me/password"

    wrong = await console.post(
        change, headers=here, json={"current_password": "not-it", "new_password": "a long new password"}
    )
    short = await console.post(
        change, headers=here, json={"current_password": account.password, "new_password": "short pass"}
    )
    email = await console.post(
        change,
        headers=here,
        json={"current_password": account.password, "new_password": account.email.upper()},
    )
    same = await console.post(
        change, headers=here, json={"current_password": account.password, "new_password": account.password}
    )
    assert fields(wrong) == {"current_password": "wrong"}
    assert fields(short) == {"new_password": "string_too_short"}
    assert fields(email) == {"new_password": "is_email"}
    assert fields(same) == {"new_password": "unchanged"}
    assert "not-it" not in wrong.text and account.email.upper() not in email.text
    assert (await db.operators.find_one({"_id": operator_id}))["password_hash"] == before

    changed = await console.post(
        change,
        headers=here,
        json={"current_password": account.password, "new_password": "correct horse battery staple"},
    )
    assert changed.status_code == 200, changed.text
    assert changed.json() == {"sessions_ended": 1}
    assert (await console.get(f"{PREFIX}/me", headers=here)).status_code == 200
    assert (await console.get(f"{PREFIX}/me", headers=elsewhere)).status_code == 401
    assert (await console.get(f"{PREFIX}/me", headers=script)).status_code == 200  # tokens stay
    stored = await db.operators.find_one({"_id": operator_id})
    assert stored["password_hash"].startswith("$argon2id$") and "correct horse" not in str(stored)
    assert not password_matches(stored["password_hash"], account.password)
    assert stored["failed_attempts"] == 0  # the wrong try before no longer counts
    account.password = "correct horse battery staple"
    await signed_in(console, account)

    outcomes = [
        (e["operator_id"], e["outcome"], e["detail"]) for e in await audited(db, "operator.password_changed")
    ]
    assert outcomes == [
        (operator_id, "failed", {"reason": "current_password"}),
        (operator_id, "ok", {"sessions_ended": 1}),
    ]
    [ok] = [e for e in await audited(db, "operator.password_changed") if e["outcome"] == "ok"]
    assert ok["session_id"] and "correct horse" not in str(ok)


async def test_wrong_current_passwords_lock_the_change_as_they_would_a_sign_in(
    console: httpx.AsyncClient, db: Any
) -> None:
    operator_id, account = await new_operator(db)
    here = await opened_session(db, operator_id)
    for _ in range(MAX_FAILURES):
        wrong = await console.post(
            f"{PREFIX}/me/totp", headers=here, json={"current_password": "guess-again"}
        )
        assert fields(wrong) == {"current_password": "wrong"}
    right = await console.post(f"{PREFIX}/me/totp", headers=here, json={"current_password": account.password})
    assert fields(right) == {"current_password": "locked"}
    [locked] = await audited(db, "operator.locked")
    assert locked["operator_id"] == operator_id
    assert (await db.operators.find_one({"_id": operator_id}))["locked_until"] is not None
    assert (await console.post(f"{PREFIX}/sign-in", json=account.sign_in_body())).status_code == 401


async def test_an_operator_re_enrols_their_second_factor_in_two_steps(
    console: httpx.AsyncClient, db: Any
) -> None:
    operator_id, account = await new_operator(db)
    here = await opened_session(db, operator_id)
    start, confirm = f"{PREFIX}/me/totp", f"{PREFIX}/me/totp/confirm"

    refused = await console.post(start, headers=here, json={"current_password": "wrong"})
    assert fields(refused) == {"current_password": "wrong"}
    nothing_pending = await console.post(
        confirm, headers=here, json={"code": pyotp.TOTP(account.secret).now()}
    )
    assert fields(nothing_pending) == {"code": "wrong"}

    started = await console.post(start, headers=here, json={"current_password": account.password})
    assert started.status_code == 201, started.text
    uri = started.json()["otpauth_uri"]
    new_secret = pyotp.parse_uri(uri).secret
    assert new_secret != account.secret and account.email in uri.replace("%40", "@")
    stored = await db.operators.find_one({"_id": operator_id})
    assert new_secret not in str(stored) and "totp_pending_secret" not in stored  # sealed
    await signed_in(console, account)  # until confirmed, the old factor still signs in

    old_code = await console.post(confirm, headers=here, json={"code": pyotp.TOTP(account.secret).now()})
    assert fields(old_code) == {"code": "wrong"}
    step = int(time.time() // 30)
    confirmed = await console.post(confirm, headers=here, json={"code": pyotp.TOTP(new_secret).at(step * 30)})
    assert confirmed.status_code == 204, confirmed.text
    again = await console.post(confirm, headers=here, json={"code": pyotp.TOTP(new_secret).at(step * 30)})
    assert fields(again) == {"code": "wrong"}

    old_factor = await console.post(f"{PREFIX}/sign-in", json=account.sign_in_body(spend=False))  # refused
    assert old_factor.status_code == 401
    renewed = Account(account.email, account.password, new_secret, last_step=max(step, account.last_step))
    await signed_in(console, renewed)

    events = [
        (e["action"], e["outcome"])
        for e in await db.audit_events.find(
            {"operator_id": operator_id, "action": {"$regex": "^operator.totp"}}
        )
        .sort("at", 1)
        .to_list(None)
    ]
    assert events == [
        ("operator.totp_enrolment_started", "failed"),
        ("operator.totp_changed", "failed"),
        ("operator.totp_enrolment_started", "ok"),
        ("operator.totp_changed", "failed"),
        ("operator.totp_changed", "ok"),
        ("operator.totp_changed", "failed"),
    ]
    assert new_secret not in str(await db.audit_events.find({}).to_list(None))


async def test_an_enrolment_not_confirmed_in_time_lapses_and_a_reset_ends_it(
    console: httpx.AsyncClient, db: Any
) -> None:
    operator_id, account = await new_operator(db)
    here = await opened_session(db, operator_id)
    started = await console.post(
        f"{PREFIX}/me/totp", headers=here, json={"current_password": account.password}
    )
    new_secret = pyotp.parse_uri(started.json()["otpauth_uri"]).secret
    stored = await db.operators.find_one({"_id": operator_id})
    await db.operators.update_one(
        {"_id": operator_id}, {"$set": {"totp_pending_until": stored["created_at"]}}
    )
    late = await console.post(
        f"{PREFIX}/me/totp/confirm", headers=here, json={"code": pyotp.TOTP(new_secret).now()}
    )
    assert fields(late) == {"code": "wrong"}
    await signed_in(console, account)  # the old factor is still the one

    await console.post(f"{PREFIX}/me/totp", headers=here, json={"current_password": account.password})
    _, admin = await new_operator(db, Role.admin)
    reset = await console.post(
        f"{PREFIX}/operators/{operator_id}/reset-credentials", headers=await signed_in(console, admin)
    )
    assert reset.status_code == 200
    stored = await db.operators.find_one({"_id": operator_id})
    assert (
        stored["totp_pending_until"] is None and set(stored) & {"totp_secret", "totp_pending_secret"} == set()
    )
