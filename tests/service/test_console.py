"""The operator console against the real Mongo-wire server, served on a real socket: the first
admin from `samleng operator add`, sign-in with password and TOTP, lockout, API tokens, the one
router-level auth dependency (every operator route: 401 before any body parsing, 403 for a role
without the permission), and the audit trail."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pyotp
import pytest
from fastapi.routing import APIRoute, iter_route_contexts

from devstack.broker import RabbitNode
from ops.cli import main as samleng
from services.console.app import create_app
from services.console.auth import authenticated
from services.console.permissions import ROLE_PERMISSIONS, Role
from shared.partner_keys import PartnerKey
from tests.service.conftest import console_settings
from tests.support.console import Account, signed_in
from tests.support.http import serve

PREFIX = "/api/v1/operator"
PUBLIC_ROUTES = {("POST", f"{PREFIX}/sign-in")}
MAX_FAILURES = 3


@pytest.fixture
def console_env(monkeypatch: pytest.MonkeyPatch, mongo_uri: str, db_name: str) -> None:
    """What both the CLI and the console read: the database and the vault's keys."""
    monkeypatch.setenv("MONGODB_URI", mongo_uri)
    monkeypatch.setenv("MONGODB_DATABASE", db_name)
    monkeypatch.setenv("SAMLENG_MASTER_KEY", base64.b64encode(os.urandom(96)).decode())
    monkeypatch.setenv("SAMLENG_BLIND_INDEX_KEY", os.urandom(32).hex())


@pytest.fixture
def console_app(console_env: None, rabbit: RabbitNode, mongo_uri: str, db_name: str) -> Any:
    return create_app(console_settings(rabbit.url, mongo_uri, db_name, max_failures=MAX_FAILURES))


@pytest.fixture
async def console(console_app: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with serve(console_app) as url, httpx.AsyncClient(base_url=url) as client:
        yield client


async def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = await asyncio.to_thread(samleng, list(argv))
    out, err = capsys.readouterr()
    return code, out, err


async def first_admin(capsys: pytest.CaptureFixture[str], email: str = "admin@samleng.test") -> Account:
    code, out, err = await cli(
        capsys, "operator", "add", "--email", email, "--name", "First", "--role", "admin"
    )
    assert code == 0, err
    password = re.search(r"^password: (\S+)$", out, re.M)
    uri = re.search(r"^totp: (otpauth://\S+)$", out, re.M)
    assert password and uri, out
    return Account(email, password.group(1), pyotp.parse_uri(uri.group(1)).secret)


async def add_operator(
    console: httpx.AsyncClient, admin: dict[str, str], role: Role, email: str | None = None
) -> tuple[str, Account]:
    email = email or f"{role.value}@samleng.test"
    answer = await console.post(
        f"{PREFIX}/operators", headers=admin, json={"email": email, "display_name": role.value, "role": role}
    )
    assert answer.status_code == 201, answer.text
    body = answer.json()
    return body["operator"]["id"], Account(
        email, body["password"], pyotp.parse_uri(body["otpauth_uri"]).secret
    )


async def audit(db: Any, **query: Any) -> list[dict[str, Any]]:
    return [e async for e in db.audit_events.find(query)]


async def test_the_first_admin_comes_from_the_cli_and_signs_in_with_password_and_totp(
    console: httpx.AsyncClient, capsys: pytest.CaptureFixture[str], db: Any
) -> None:
    admin = await first_admin(capsys)
    stored = await db.operators.find_one({"email": admin.email})
    assert "totp_secret" not in stored and "sealed" in stored  # sealed under the operator's key
    assert stored["password_hash"].startswith("$argon2id$")
    code, _, err = await cli(
        capsys, "operator", "add", "--email", "ADMIN@samleng.test", "--name", "X", "--role", "viewer"
    )
    assert code == 1 and "exists" in err
    code, out, _ = await cli(capsys, "operator", "list")
    assert code == 0 and admin.email in out and "admin" in out

    answer = await console.post(f"{PREFIX}/sign-in", json=admin.sign_in_body())
    console.cookies.clear()
    assert answer.status_code == 200, answer.text
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith("samleng_console=")
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie  # CONSOLE_INSECURE_COOKIES for local http only
    token = answer.json()["token"]
    assert token not in str(await db.operator_sessions.find_one({})), "sessions are stored hashed"

    me = await console.get(f"{PREFIX}/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200 and me.json()["operator"]["role"] == "admin"
    by_cookie = await console.get(f"{PREFIX}/me", headers={"Cookie": f"samleng_console={token}"})
    assert by_cookie.status_code == 200
    stored = await db.operators.find_one({"email": admin.email})
    assert stored["last_sign_in_at"] is not None and stored["last_sign_in_ip"] == "127.0.0.1"
    [event] = await audit(db, action="operator.sign_in", outcome="ok")
    assert event["operator_id"] == stored["_id"] and event["ip"] == "127.0.0.1" and event["session_id"]

    out_ = await console.post(f"{PREFIX}/sign-out", headers={"Cookie": f"samleng_console={token}"})
    assert out_.status_code == 204
    assert (
        await console.get(f"{PREFIX}/me", headers={"Cookie": f"samleng_console={token}"})
    ).status_code == 401
    assert len(await audit(db, action="operator.sign_out", operator_id=stored["_id"])) == 1


async def test_the_session_cookie_is_secure_by_default(
    console_env: None, rabbit: RabbitNode, mongo_uri: str, db_name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    admin = await first_admin(capsys)
    app = create_app(console_settings(rabbit.url, mongo_uri, db_name, insecure_cookies=False))
    async with serve(app) as url, httpx.AsyncClient(base_url=url) as client:
        answer = await client.post(f"{PREFIX}/sign-in", json=admin.sign_in_body())
    assert answer.status_code == 200 and "Secure" in answer.headers["set-cookie"]


async def test_a_wrong_password_code_or_email_fails_alike_and_is_audited(
    console: httpx.AsyncClient, capsys: pytest.CaptureFixture[str], db: Any
) -> None:
    admin = await first_admin(capsys)
    wrong_code = str((int(pyotp.TOTP(admin.secret).now()) + 500_000) % 1_000_000).zfill(6)
    answers = [
        await console.post(f"{PREFIX}/sign-in", json=admin.sign_in_body(password="not-it")),
        await console.post(f"{PREFIX}/sign-in", json=admin.sign_in_body(totp=wrong_code)),
        await console.post(
            f"{PREFIX}/sign-in", json={**admin.sign_in_body(), "email": "nobody@samleng.test"}
        ),
    ]
    assert [a.status_code for a in answers] == [401, 401, 401]
    assert len({a.text for a in answers}) == 1, "the answer never tells which part was wrong"
    failures = await audit(db, action="operator.sign_in", outcome="failed")
    assert sorted(e["detail"]["reason"] for e in failures) == ["password", "totp", "unknown_email"]
    assert "nobody@samleng.test" not in str(failures)


async def test_lockout_after_repeated_failures_takes_effect_at_once_and_is_audited(
    console: httpx.AsyncClient, capsys: pytest.CaptureFixture[str], db: Any
) -> None:
    admin = await first_admin(capsys)
    for _ in range(MAX_FAILURES):
        failed = await console.post(f"{PREFIX}/sign-in", json=admin.sign_in_body(password="wrong"))
        assert failed.status_code == 401
    refused = await console.post(f"{PREFIX}/sign-in", json=admin.sign_in_body())
    assert refused.status_code == 401 and refused.text == failed.text
    stored = await db.operators.find_one({"email": admin.email})
    assert stored["locked_until"] is not None
    [locked] = await audit(db, action="operator.locked")
    assert locked["operator_id"] == stored["_id"]
    [refusal] = [
        e for e in await audit(db, action="operator.sign_in") if e["detail"].get("reason") == "locked"
    ]
    assert refusal["operator_id"] == stored["_id"]

    await db.operators.update_one({"_id": stored["_id"]}, {"$set": {"locked_until": stored["created_at"]}})
    assert (await console.post(f"{PREFIX}/sign-in", json=admin.sign_in_body())).status_code == 200


async def test_an_api_token_works_until_it_is_revoked(
    console: httpx.AsyncClient, capsys: pytest.CaptureFixture[str], db: Any
) -> None:
    admin = await first_admin(capsys)
    session = await signed_in(console, admin)
    created = await console.post(
        f"{PREFIX}/tokens", headers=session, json={"name": "nightly", "expires_in_days": 7}
    )
    assert created.status_code == 201, created.text
    token, token_id = created.json()["token"], created.json()["id"]
    assert token.startswith("sk_op_")
    bearer = {"Authorization": f"Bearer {token}"}
    assert (await console.get(f"{PREFIX}/operators", headers=bearer)).status_code == 200
    listed = await console.get(f"{PREFIX}/tokens", headers=session)
    [entry] = listed.json()
    assert entry["id"] == token_id and entry["last_used_at"] and "token" not in entry
    assert token not in str(await db.api_tokens.find_one({}))

    assert (await console.delete(f"{PREFIX}/tokens/{token_id}", headers=session)).status_code == 204
    assert (await console.get(f"{PREFIX}/operators", headers=bearer)).status_code == 401
    assert (await console.get(f"{PREFIX}/tokens", headers=session)).json() == []
    admin_id = (await db.operators.find_one({}))["_id"]
    for action in ("token.created", "token.revoked"):
        [event] = await audit(db, action=action)
        assert event["operator_id"] == admin_id and event["object_id"] == token_id and event["session_id"]


def operator_routes(app: Any) -> list[tuple[str, str, Any]]:
    """Every operator route as the app serves it (an included router's routes with its prefix and
    dependencies), and nothing the OpenAPI document lists is missing from them."""
    found = []
    for route in iter_route_contexts(app.router.routes):
        if isinstance(route.original_route, APIRoute) and route.path.startswith(PREFIX):
            for method in sorted(route.methods):
                if (method, route.path) not in PUBLIC_ROUTES:
                    found.append((method, route.path, route))
    documented = {
        (method.upper(), path)
        for path, operations in app.openapi()["paths"].items()
        if path.startswith(PREFIX)
        for method in operations
    }
    assert documented == {(m, p) for m, p, _ in found} | PUBLIC_ROUTES
    return found


def required_permission(route: Any) -> Any:
    permissions = [getattr(d.call, "permission", None) for d in route.dependant.dependencies]
    return next((p for p in permissions if p is not None), None)


def filled(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "x_0", path) + "?limit=not-a-number&since=never"


async def test_every_operator_route_authenticates_before_parsing_and_checks_the_role(
    console_app: Any, console: httpx.AsyncClient, capsys: pytest.CaptureFixture[str]
) -> None:
    routes = operator_routes(console_app)
    assert len(routes) >= 9, routes
    for method, path, route in routes:
        assert route.dependant.dependencies[0].call is authenticated, path  # the router's, first
        assert not route.body_field, f"{method} {path} declares a body FastAPI would parse before auth"

    admin = await signed_in(console, await first_admin(capsys))
    _, viewer_account = await add_operator(console, admin, Role.viewer)
    viewer = await signed_in(console, viewer_account)
    invalid = {"content": b'{"role": "emperor", not json', "headers": {"Content-Type": "application/json"}}
    checked_403 = 0
    for method, path, route in routes:
        for headers in ({}, {"Authorization": "Bearer not-a-token"}, {"Authorization": "Bearer sk_op_nope"}):
            answer = await console.request(
                method, filled(path), **{**invalid, "headers": {**invalid["headers"], **headers}}
            )
            assert answer.status_code == 401, (method, path, answer.status_code, answer.text)
            assert "emperor" not in answer.text
        permission = required_permission(route)
        if permission is not None and permission not in ROLE_PERMISSIONS[Role.viewer]:
            answer = await console.request(
                method, filled(path), **{**invalid, "headers": {**invalid["headers"], **viewer}}
            )
            assert answer.status_code == 403, (method, path, answer.status_code, answer.text)
            checked_403 += 1
    assert checked_403 >= 4
    # after authentication the body is parsed and its errors answered (without echoing it)
    bad = await console.post(
        f"{PREFIX}/operators", headers={**admin, "Content-Type": "application/json"}, content=b"{nope"
    )
    assert bad.status_code == 422 and "nope" not in bad.text


async def test_an_editor_cannot_create_operators_and_each_action_is_audited_once(
    console: httpx.AsyncClient, capsys: pytest.CaptureFixture[str], db: Any
) -> None:
    admin_session = await signed_in(console, await first_admin(capsys))
    admin_id = (await db.operators.find_one({"role": "admin"}))["_id"]
    editor_id, editor_account = await add_operator(console, admin_session, Role.editor)
    editor = await signed_in(console, editor_account)
    refused = await console.post(
        f"{PREFIX}/operators",
        headers=editor,
        json={"email": "x@samleng.test", "display_name": "X", "role": "admin"},
    )
    assert refused.status_code == 403
    assert await db.operators.count_documents({"email": "x@samleng.test"}) == 0
    [denied] = await audit(db, action="permission.denied")
    assert denied["operator_id"] == editor_id and denied["object_id"] == "operators.manage"

    changed = await console.patch(
        f"{PREFIX}/operators/{editor_id}", headers=admin_session, json={"role": "publisher"}
    )
    assert changed.status_code == 200 and changed.json()["role"] == "publisher"
    assert (await console.get(f"{PREFIX}/me", headers=editor)).json()["operator"]["role"] == "publisher"
    disabled = await console.patch(
        f"{PREFIX}/operators/{editor_id}", headers=admin_session, json={"disabled": True}
    )
    assert disabled.status_code == 200
    assert (await console.get(f"{PREFIX}/me", headers=editor)).status_code == 401  # at once
    last_admin = await console.patch(
        f"{PREFIX}/operators/{admin_id}", headers=admin_session, json={"role": "viewer"}
    )
    assert last_admin.status_code == 409

    [created] = await audit(db, action="operator.created")
    assert created["operator_id"] == admin_id and created["object_id"] == editor_id
    updates = await audit(db, action="operator.updated")
    assert [(e["operator_id"], e["object_id"], e["detail"]) for e in updates] == [
        (admin_id, editor_id, {"role": "publisher"}),
        (admin_id, editor_id, {"disabled": True}),
    ]
    trail = await console.get(f"{PREFIX}/audit", headers=admin_session, params={"action": "operator.updated"})
    assert trail.status_code == 200 and len(trail.json()) == 2
    by_editor = await console.get(f"{PREFIX}/audit", headers=admin_session, params={"operator": editor_id})
    assert {e["action"] for e in by_editor.json()} == {"operator.sign_in", "permission.denied"}


async def test_admins_create_list_and_revoke_partner_keys_and_intake_can_check_them(
    console: httpx.AsyncClient, capsys: pytest.CaptureFixture[str], db: Any
) -> None:
    admin = await signed_in(console, await first_admin(capsys))
    viewer = await signed_in(console, (await add_operator(console, admin, Role.viewer))[1])
    assert (await console.get(f"{PREFIX}/partner-keys", headers=viewer)).status_code == 403
    bad = await console.post(
        f"{PREFIX}/partner-keys", headers=admin, json={"name": "Bad", "origins": ["https://x.org/form"]}
    )
    assert bad.status_code == 422 and await db.partner_keys.count_documents({}) == 0
    made = await console.post(
        f"{PREFIX}/partner-keys",
        headers=admin,
        json={"name": "Youth network form", "rate_per_minute": 200, "origins": ["https://youth.example.org"]},
    )
    assert made.status_code == 201, made.text
    secret, key_id = made.json()["secret"], made.json()["key"]["key_id"]
    stored = PartnerKey.model_validate(await db.partner_keys.find_one({"_id": key_id}))
    assert stored.accepts(secret) and stored.rate_per_minute == 200  # what intake checks
    listed = (await console.get(f"{PREFIX}/partner-keys", headers=admin)).json()
    assert [k["key_id"] for k in listed] == [key_id] and secret not in json.dumps(listed)
    assert "secret_hash" not in listed[0]
    assert (await console.delete(f"{PREFIX}/partner-keys/{key_id}", headers=admin)).status_code == 204
    assert (await console.delete(f"{PREFIX}/partner-keys/{key_id}", headers=admin)).status_code == 404
    assert (await db.partner_keys.find_one({"_id": key_id}))["revoked_at"] is not None
    assert [e["object_id"] for e in await audit(db, action="partner_key.created")] == [key_id]
    assert [e["object_id"] for e in await audit(db, action="partner_key.revoked")] == [key_id]


async def test_a_totp_code_signs_in_once(
    console: httpx.AsyncClient, capsys: pytest.CaptureFixture[str], db: Any
) -> None:
    admin = await first_admin(capsys)
    body = admin.sign_in_body()
    assert (await console.post(f"{PREFIX}/sign-in", json=body)).status_code == 200
    replayed = await console.post(f"{PREFIX}/sign-in", json=body)
    assert replayed.status_code == 401
    reasons = [e["detail"].get("reason") for e in await audit(db, action="operator.sign_in")]
    assert "totp_reused" in reasons
    assert (await console.post(f"{PREFIX}/sign-in", json=admin.sign_in_body())).status_code == 200


async def test_an_admin_unlocks_resets_and_disables_an_operator_at_once(
    console: httpx.AsyncClient, capsys: pytest.CaptureFixture[str], db: Any
) -> None:
    admin = await signed_in(console, await first_admin(capsys))
    editor_id, editor_account = await add_operator(console, admin, Role.editor)
    for _ in range(MAX_FAILURES):
        await console.post(f"{PREFIX}/sign-in", json=editor_account.sign_in_body(password="wrong"))
    locked = editor_account.sign_in_body(spend=False)  # refused before its code is looked at
    assert (await console.post(f"{PREFIX}/sign-in", json=locked)).status_code == 401
    unlocked = await console.patch(f"{PREFIX}/operators/{editor_id}", headers=admin, json={"unlock": True})
    assert unlocked.status_code == 200 and unlocked.json()["locked_until"] is None
    editor = await signed_in(console, editor_account)
    token = (await console.post(f"{PREFIX}/tokens", headers=editor, json={"name": "script"})).json()["token"]

    reset = await console.post(f"{PREFIX}/operators/{editor_id}/reset-credentials", headers=admin)
    assert reset.status_code == 200 and reset.json()["revoked"] == 2
    for old in (editor, {"Authorization": f"Bearer {token}"}):
        assert (await console.get(f"{PREFIX}/me", headers=old)).status_code == 401
    old_credentials = editor_account.sign_in_body(spend=False)
    assert (await console.post(f"{PREFIX}/sign-in", json=old_credentials)).status_code == 401
    renewed = Account(
        editor_account.email, reset.json()["password"], pyotp.parse_uri(reset.json()["otpauth_uri"]).secret
    )
    editor = await signed_in(console, renewed)
    assert (await console.get(f"{PREFIX}/me", headers=editor)).status_code == 200

    disabled = await console.patch(f"{PREFIX}/operators/{editor_id}", headers=admin, json={"disabled": True})
    assert disabled.status_code == 200
    assert (await console.get(f"{PREFIX}/me", headers=editor)).status_code == 401
    assert await db.operator_sessions.count_documents({"operator_id": editor_id, "revoked_at": None}) == 0
    actions = [e["action"] for e in await audit(db, object_id=editor_id) if e["operator_id"] != editor_id]
    assert actions.count("operator.credentials_reset") == 1 and actions.count("operator.updated") == 2
    own = await console.post(
        f"{PREFIX}/operators/{(await db.operators.find_one({'role': 'admin'}))['_id']}/reset-credentials",
        headers=admin,
    )
    assert own.status_code == 409


async def test_many_failed_sign_ins_from_one_address_are_throttled_whatever_the_accounts(
    console_env: None,
    rabbit: RabbitNode,
    mongo_uri: str,
    db_name: str,
    capsys: pytest.CaptureFixture[str],
    db: Any,
) -> None:
    admin = await first_admin(capsys)
    app = create_app(console_settings(rabbit.url, mongo_uri, db_name, sign_in_failures_per_address=4))
    async with serve(app) as url, httpx.AsyncClient(base_url=url) as client:
        for n in range(4):  # spraying: one try per account, never enough to lock any of them
            email = {**admin.sign_in_body(password="wrong"), "email": f"someone{n}@samleng.test"}
            assert (await client.post(f"{PREFIX}/sign-in", json=email)).status_code == 401
        refused = await client.post(f"{PREFIX}/sign-in", json=admin.sign_in_body())
        assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    stored = await db.operators.find_one({"email": admin.email})
    assert stored["locked_until"] is None and stored["failed_attempts"] == 0  # the account is not locked
    reasons = [e["detail"].get("reason") for e in await audit(db, action="operator.sign_in")]
    assert reasons.count("unknown_email") == 4 and reasons.count("throttled") == 1


PUBLIC_PAGES = {("GET", "/sign-in"), ("POST", "/sign-in")}


def page_routes(app: Any) -> list[tuple[str, str, Any]]:
    """Every web page route (the console's pages, outside /api), sign-in excepted."""
    found = []
    for route in iter_route_contexts(app.router.routes):
        if isinstance(route.original_route, APIRoute) and not route.path.startswith(("/api/", "/health")):
            for method in sorted(route.methods):
                if (method, route.path) not in PUBLIC_PAGES:
                    found.append((method, route.path, route))
    return found


async def test_every_page_authenticates_first_and_checks_the_role(
    console_app: Any, console: httpx.AsyncClient, capsys: pytest.CaptureFixture[str]
) -> None:
    """A page without a valid session sends the browser to sign in and does nothing; a role
    without the page's permission gets the 403 page. Pages take the same one dependency as the API."""
    routes = page_routes(console_app)
    assert {("GET", "/"), ("POST", "/sign-out")} <= {(m, p) for m, p, _ in routes}, routes
    for _method, path, route in routes:
        assert route.dependant.dependencies[0].call is authenticated, path
    admin = await signed_in(console, await first_admin(capsys))
    _, viewer_account = await add_operator(console, admin, Role.viewer)
    viewer = await signed_in(console, viewer_account)
    for method, path, route in routes:
        for headers in (
            {},
            {"Cookie": "samleng_console=not-a-token"},
            {"Authorization": "Bearer sk_op_nope"},
        ):
            answer = await console.request(method, filled(path), headers=headers, data={"x": "emperor"})
            assert answer.status_code == 303, (method, path, answer.status_code)
            assert answer.headers["location"].startswith("/sign-in?next="), (method, path)
        permission = required_permission(route)
        if permission is not None and permission not in ROLE_PERMISSIONS[Role.viewer]:
            answer = await console.request(method, filled(path), headers=viewer)
            assert answer.status_code == 403, (method, path, answer.status_code)
            assert "emperor" not in answer.text
