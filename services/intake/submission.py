"""Handing a validated pledge to the broker, and reading its state back.

`SubmissionGateway.submit` returns only after the broker confirmed `pledge.submitted.v1`; if the
broker is unreachable it raises `Unavailable` within `INTAKE_SUBMIT_TIMEOUT_SECONDS`, so the API
answers 503 and never reports success for a pledge it did not hand over.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field
from pymongo import AsyncMongoClient

from services.intake.read_models import PLEDGES
from services.intake.settings import IntakeSettings
from shared.contracts.languages import Lang
from shared.contracts.pledge import Source
from shared.contracts.pledge_input import ValidPledge, build_submission
from shared.messaging.gateway import Gateway
from shared.observability import get_logger
from shared.personal_data import Vault, open_vault
from shared.storage import Document, create_client, database, ping

log = get_logger("samleng.intake")


class SubmissionGateway(Gateway):
    def __init__(self, settings: IntakeSettings) -> None:
        super().__init__(
            settings.amqp_url.get_secret_value(),
            settings.amqp_exchange,
            "intake",
            settings.submit_timeout_seconds,
        )

    async def submit(
        self,
        pledge_id: str,
        pledge: ValidPledge,
        source: Source,
        lang: Lang,
        consent_version: str,
    ) -> None:
        await self.publish(build_submission(pledge_id, pledge, source, lang, consent_version))
        log.info("pledge submitted", pledge_id=pledge_id, source=source)


class PledgeStatus(BaseModel):
    """What anyone holding a pledge's status URL may know: only what the submission itself decided.

    It never depends on whether its contacts were already known (no "already signed", no
    certificate number, no name): the certificate number reaches only the contact, in the
    certificate message."""

    pledge_id: str
    state: Literal["received", "recorded", "rejected"] = Field(
        description="received: handed over, being recorded; recorded: stored (a certificate, or a "
        "message about their details, goes to the contacts given); rejected: see reason."
    )
    reason: str | None = Field(default=None, description="Why the submission itself was rejected.")
    detail: str | None = None
    recorded_at: datetime | None = None


class StatusReader:
    """The site's database and key vault; reads a pledge's state from pledge-intake's `pledges`
    (read_models.py `PLEDGES`)."""

    def __init__(self, settings: IntakeSettings) -> None:
        self._settings = settings
        self._client: AsyncMongoClient[Document] | None = None
        self._vault: Vault | None = None
        self._vault_opened = False
        self._vault_lock = asyncio.Lock()

    async def start(self) -> None:
        self._client = create_client(self._settings)

    async def stop(self) -> None:
        if self._vault is not None:
            await self._vault.close()
        if self._client is not None:
            await self._client.close()

    def database(self) -> Any:
        assert self._client is not None
        return database(self._client, self._settings)

    async def vault(self) -> Vault | None:
        """The site's key vault (shared/personal_data.py), opened on first use: it seals what the
        site publishes about a person and opens what it shows of them. None: encryption off."""
        async with self._vault_lock:
            if not self._vault_opened:
                self._vault = await open_vault(self.database())
                self._vault_opened = True
        return self._vault

    async def ping(self) -> bool:
        try:
            assert self._client is not None
            await ping(self._client)
            return True
        except Exception:
            return False

    async def status(self, pledge_id: str) -> PledgeStatus:
        found = await PLEDGES.find_one(self.database(), {"_id": pledge_id})
        if found is None:
            return PledgeStatus(pledge_id=pledge_id, state="received")
        if found.state == "rejected":
            return PledgeStatus(
                pledge_id=pledge_id, state="rejected", reason=found.reason, detail=found.detail
            )
        return PledgeStatus(pledge_id=pledge_id, state="recorded", recorded_at=found.recorded_at)
