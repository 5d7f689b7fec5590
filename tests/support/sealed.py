"""Reading events as the services send them: an event about a person arrives sealed (its data
encrypted under the subject's key, shared/messaging/publisher.py `sealed_body`) when the
processes have keys (`service_env` gives them a random master key per test). A test that taps a
queue opens it with a vault on the same keys, as a consumer would."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import SecretStr
from pymongo import AsyncMongoClient

from shared.contracts import Event
from shared.messaging.publisher import SEALED_KEY
from shared.personal_data import PersonalDataSettings, Vault, open_fields

EventT = TypeVar("EventT", bound=Event[Any])


def is_sealed(body: bytes) -> bool:
    try:
        raw = json.loads(body)
    except ValueError:
        return False
    return isinstance(raw, dict) and SEALED_KEY in raw and "data" not in raw


class Opener:
    """Opens sealed bodies with the keys of `env` (a test's `service_env`), on its own client."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env
        self._client: AsyncMongoClient[Any] | None = None
        self._vault: Vault | None = None

    async def vault(self) -> Vault:
        if self._vault is None:
            self._client = AsyncMongoClient(
                self._env["MONGODB_URI"], tz_aware=True, uuidRepresentation="standard"
            )
            settings = PersonalDataSettings(
                _env_file=None,  # type: ignore[call-arg]
                master_key=SecretStr(self._env["SAMLENG_MASTER_KEY"]),
                blind_index_key=SecretStr(self._env["SAMLENG_BLIND_INDEX_KEY"]),
            )
            self._vault = await Vault.open(self._client[self._env["MONGODB_DATABASE"]], settings)
        return self._vault

    async def open(self, event_cls: type[EventT], body: bytes) -> EventT:
        if not is_sealed(body):
            return event_cls.model_validate_json(body)
        raw = json.loads(body)
        raw["data"] = await (await self.vault()).unseal(raw.pop(SEALED_KEY))
        return event_cls.model_validate(raw)

    async def aclose(self) -> None:
        if self._vault is not None:
            await self._vault.close()
        if self._client is not None:
            await self._client.close()


def opened_member(env: Mapping[str, str], **where: Any) -> dict[str, Any] | None:
    """From synchronous code (a browser test): the first member whose opened fields match `where`
    (e.g. `email_confirmed=...`), opened with the keys of `env`; None when there is none yet."""

    async def find() -> dict[str, Any] | None:
        opener = Opener(env)
        try:
            vault = await opener.vault()
            client = opener._client
            assert client is not None
            async for doc in client[env["MONGODB_DATABASE"]].members.find():
                member = await open_fields(vault, doc)
                if all(member.get(k) == v for k, v in where.items()):
                    return member
            return None
        finally:
            await opener.aclose()

    with concurrent.futures.ThreadPoolExecutor(1) as pool:  # the browser's own loop runs here
        return pool.submit(asyncio.run, find()).result()
