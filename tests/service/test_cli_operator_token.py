"""`samleng operator token`: an API token for an existing operator, made directly in the database
(for scripts and the dev stack) and audited as `POST /tokens` is; and the CLI's operator
commands talking to the console with it (real Mongo-wire server and broker, console on a socket)."""

from __future__ import annotations

import asyncio
import base64
import os
from pathlib import Path
from typing import Any

import httpx
import pytest

from ops.cli import main as samleng

PREFIX = "/api/v1/operator"


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, mongo_uri: str, db_name: str) -> None:
    """What both the CLI and the console read (the database, the vault's keys), and a working
    directory without a .env or .run/secrets.env of the checkout."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MONGODB_URI", mongo_uri)
    monkeypatch.setenv("MONGODB_DATABASE", db_name)
    monkeypatch.setenv("SAMLENG_MASTER_KEY", base64.b64encode(os.urandom(96)).decode())
    monkeypatch.setenv("SAMLENG_BLIND_INDEX_KEY", os.urandom(32).hex())
    for name in ("SAMLENG_OPERATOR_TOKEN", "SAMLENG_CONSOLE_URL"):
        monkeypatch.delenv(name, raising=False)


async def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    code = await asyncio.to_thread(samleng, list(argv))
    out, err = capsys.readouterr()
    return code, out, err


async def add(capsys: pytest.CaptureFixture[str], email: str, role: str) -> None:
    code, _, err = await cli(capsys, "operator", "add", "--email", email, "--name", "Sokha", "--role", role)
    assert code == 0, err


async def test_a_token_from_the_cli_works_at_once_and_is_audited_as_the_operator(
    cli_env: None, make_console: Any, capsys: pytest.CaptureFixture[str], db: Any
) -> None:
    await add(capsys, "ops@samleng.test", "publisher")
    code, out, err = await cli(
        capsys, "operator", "token", "--email", "OPS@samleng.test", "--name", "nightly import", "--days", "7"
    )
    assert code == 0, err
    [token] = [line for line in out.splitlines() if line.startswith("sk_op_")]
    operator = await db.operators.find_one({"email": "ops@samleng.test"})
    [stored] = await db.api_tokens.find({"operator_id": operator["_id"]}).to_list(None)
    assert token not in str(stored), "stored as its hash only"
    assert stored["name"] == "nightly import"
    assert (stored["expires_at"] - stored["created_at"]).days == 7
    [audited] = await db.audit_events.find({"action": "token.created"}).to_list(None)
    assert audited["operator_id"] == operator["_id"]
    assert audited["object_type"] == "api_token" and audited["object_id"] == stored["_id"]
    assert audited["detail"] == {"name": "nightly import", "via": "cli"}

    async with make_console() as url, httpx.AsyncClient(base_url=url) as client:
        me = await client.get(f"{PREFIX}/me", headers={"Authorization": f"Bearer {token}"})
        listed = await client.get(f"{PREFIX}/tokens", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200 and me.json()["operator"]["role"] == "publisher"
    assert [t["id"] for t in listed.json()] == [stored["_id"]]


async def test_no_token_for_an_unknown_or_disabled_operator_or_without_a_name(
    cli_env: None, capsys: pytest.CaptureFixture[str], db: Any
) -> None:
    code, _, err = await cli(capsys, "operator", "token", "--email", "nobody@samleng.test", "--name", "x")
    assert code == 1 and "no operator" in err
    await add(capsys, "gone@samleng.test", "viewer")
    await db.operators.update_one({"email": "gone@samleng.test"}, {"$set": {"disabled": True}})
    code, _, err = await cli(capsys, "operator", "token", "--email", "gone@samleng.test", "--name", "x")
    assert code == 1 and "disabled" in err
    code, _, err = await cli(capsys, "operator", "token", "--email", "gone@samleng.test")
    assert code == 2
    code, _, err = await cli(
        capsys, "operator", "token", "--email", "gone@samleng.test", "--name", "x", "--days", "400"
    )
    assert code == 2
    assert await db.api_tokens.count_documents({}) == 0
    assert await db.audit_events.count_documents({"action": "token.created"}) == 0


async def test_operator_commands_say_how_to_get_a_token_and_go_to_the_console(
    cli_env: None,
    make_console: Any,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sheet = tmp_path / "sheet.csv"
    sheet.write_text("name,country,channels,consent,email\nSok Dara,US,email,yes,dara@example.org\n")
    for argv in (
        ("import-pledges", str(sheet)),
        ("member", "export", "mb_0"),
        ("contact", "erase", "--email", "a@example.org"),
    ):
        code, _, err = await cli(capsys, *argv)
        assert code == 2, argv
        assert "SAMLENG_OPERATOR_TOKEN" in err and "POST /api/v1/operator/tokens" in err, argv

    await add(capsys, "viewer@samleng.test", "viewer")
    code, out, _ = await cli(capsys, "operator", "token", "--email", "viewer@samleng.test", "--name", "t")
    [token] = [line for line in out.splitlines() if line.startswith("sk_op_")]
    async with make_console() as url:
        monkeypatch.setenv("SAMLENG_CONSOLE_URL", url)
        monkeypatch.setenv("SAMLENG_OPERATOR_TOKEN", token)
        code, _, err = await cli(capsys, "import-pledges", str(sheet))
        assert code == 1 and "403" in err, "the viewer reached the console and was refused there"
        code, _, err = await cli(capsys, "import-pledges", str(sheet), "--token", "sk_op_nope")
        assert code == 1 and "401" in err
