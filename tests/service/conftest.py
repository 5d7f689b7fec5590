from __future__ import annotations

import asyncio
import base64
import contextlib
import os
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from pymongo import AsyncMongoClient

from devstack.broker import RabbitNode
from services.console.app import create_app as create_console
from services.console.auth import COOKIE
from services.console.permissions import Role
from services.console.settings import ConsoleSettings
from services.intake.app import create_app
from services.intake.settings import IntakeSettings
from shared.personal_data import PersonalDataSettings, Vault
from tests.support.console import operator_token
from tests.support.console_browser import CHROMIUM, new_operator, session_token
from tests.support.handed_over import watched
from tests.support.http import serve
from tests.support.ports import free_port

SECRET = "test-secret-key-0123456789abcdefghijkl"


def intake_settings(rabbit_url: str, mongo_uri: str, db_name: str, **overrides: Any) -> IntakeSettings:
    values: dict[str, Any] = {
        "amqp_url": rabbit_url,
        "mongodb_uri": mongo_uri,
        "mongodb_database": db_name,
        "secret_key": SECRET,
        "rate_limit_per_minute": 100_000,
        "rate_limit_links_per_minute": 100_000,
        "rate_limit_verify_per_minute": 100_000,
        "messenger_page": "SamlengTest",
        "public_base_url": "http://intake.test",
    }
    values.update(overrides)
    return IntakeSettings(**values)


@pytest.fixture
async def submitted_queue(rabbit: RabbitNode) -> AsyncIterator[Any]:
    """pledge-intake's queue, declared but not consumed: what intake hands over stays readable."""
    async with watched(rabbit.url, "pledge-intake", ("pledge.submitted.v1",), keep=True) as queue:
        yield queue


async def until_ready(url: str, what: str, tries: int = 200) -> None:
    """Once the app at `url` answers /health/ready (it connects to the broker in the background),
    asking every 50 ms at most `tries` times."""
    async with httpx.AsyncClient(base_url=url) as client:
        for _ in range(tries):
            if (await client.get("/health/ready")).status_code == 200:
                return
            await asyncio.sleep(0.05)
    raise TimeoutError(f"{what} never became ready")


@pytest.fixture
def make_intake(rabbit: RabbitNode, mongo_uri: str, db_name: str) -> Callable[..., Any]:
    @contextlib.asynccontextmanager
    async def build(wait_ready: bool = True, **overrides: Any) -> AsyncIterator[str]:
        """The app on a real socket; by default only once its broker connection is up (it connects
        in the background so the site can answer 503 while the broker is away)."""
        async with serve(create_app(intake_settings(rabbit.url, mongo_uri, db_name, **overrides))) as url:
            if wait_ready:
                await until_ready(url, "intake")
            yield url

    return build


@pytest.fixture
async def intake(make_intake: Callable[..., Any], submitted_queue: Any) -> AsyncIterator[str]:
    async with make_intake() as url:
        yield url


def console_settings(rabbit_url: str, mongo_uri: str, db_name: str, **overrides: Any) -> ConsoleSettings:
    values: dict[str, Any] = {
        "amqp_url": rabbit_url,
        "mongodb_uri": mongo_uri,
        "mongodb_database": db_name,
        "secret_key": SECRET,
        "insecure_cookies": True,
        "public_site_url": "http://intake.test",
    }
    values.update(overrides)
    return ConsoleSettings(**values)


@pytest.fixture
def make_console(rabbit: RabbitNode, mongo_uri: str, db_name: str) -> Callable[..., Any]:
    @contextlib.asynccontextmanager
    async def build(wait_ready: bool = True, **overrides: Any) -> AsyncIterator[str]:
        """The operator console on a real socket, by default once its broker connection is up."""
        async with serve(
            create_console(console_settings(rabbit.url, mongo_uri, db_name, **overrides))
        ) as url:
            if wait_ready:
                await until_ready(url, "console", tries=400)
            yield url

    return build


@pytest.fixture
async def console(make_console: Callable[..., Any]) -> AsyncIterator[str]:
    """The console's base URL (operator routes under /api/v1/operator)."""
    async with make_console() as url:
        yield url


@pytest.fixture(scope="session")
async def chromium() -> AsyncIterator[Any]:
    """Debian's Chromium under Playwright's async API, one for the whole run."""
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, args=[])
        yield launched
        await launched.close()


@pytest.fixture
async def console_page(chromium: Any, console: str, db: Any) -> AsyncIterator[Callable[..., Any]]:
    """`await console_page(Role.editor, lang="km", javascript=False)`: a page of the console
    (relative URLs go to it) signed in as a new operator of that role; `page.operator` is who."""
    contexts: list[Any] = []

    async def open_page(
        role: Role = Role.admin, *, lang: str = "en", javascript: bool = True, email: str | None = None
    ) -> Any:
        created = await new_operator(db, role, email)
        token = await session_token(db, created.operator.id)
        context = await chromium.new_context(
            base_url=console, java_script_enabled=javascript, locale="km-KH" if lang == "km" else "en-GB"
        )
        contexts.append(context)
        await context.add_cookies([{"name": COOKIE, "value": token, "url": console}])
        page = await context.new_page()
        page.operator = created
        return page

    yield open_page
    for context in contexts:
        await context.close()


@pytest.fixture
async def admin_token(db: Any) -> str:
    """An admin's API token (tests/support/console.py makes other roles)."""
    return await operator_token(db, Role.admin)


@pytest.fixture
def dead_broker_url() -> str:
    return f"amqp://guest:guest@127.0.0.1:{free_port()}/"


@pytest.fixture
def keys(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Encryption on: services started in the test open their vaults from the environment."""
    values = {
        "SAMLENG_MASTER_KEY": base64.b64encode(os.urandom(96)).decode(),
        "SAMLENG_BLIND_INDEX_KEY": os.urandom(32).hex(),
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    return values


@pytest.fixture
async def vault(keys: dict[str, str], mongo_uri: str, db_name: str) -> AsyncIterator[Vault]:
    """A vault on the same keys with its own client: to seal what a test writes, or open what a
    service sealed."""
    client: AsyncMongoClient[Any] = AsyncMongoClient(mongo_uri, tz_aware=True, uuidRepresentation="standard")
    settings = PersonalDataSettings(
        _env_file=None,
        master_key=SecretStr(keys["SAMLENG_MASTER_KEY"]),
        blind_index_key=SecretStr(keys["SAMLENG_BLIND_INDEX_KEY"]),
    )
    opened = await Vault.open(client[db_name], settings)
    yield opened
    await opened.close()
    await client.close()


@pytest.fixture
async def site(keys: dict[str, str], make_intake: Callable[..., Any]) -> AsyncIterator[str]:
    """The public site (intake) with those keys."""
    async with make_intake() as url:
        yield url
