"""Handing a validated pledge to the broker, and reading its state back.

`SubmissionGateway.submit` returns only after the broker confirmed `pledge.submitted.v1`; if the
broker is unreachable it raises `Unavailable` within `INTAKE_SUBMIT_TIMEOUT_SECONDS`, so the API
answers 503 and never reports success for a pledge it did not hand over.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime
from typing import Any, Literal

from aio_pika.abc import AbstractRobustConnection
from pydantic import BaseModel, Field
from pymongo import AsyncMongoClient

from services.intake.delivery_status import DeliveryView, deliveries_of_pledge
from services.intake.i18n import Lang
from services.intake.settings import IntakeSettings
from services.intake.validation import ValidPledge
from shared.contracts import utcnow
from shared.contracts.pledge import Consent, PledgeSubmitted, PledgeSubmittedData, Source, TableImportRef
from shared.messaging.connection import close, connect
from shared.messaging.errors import PublishFailed
from shared.messaging.publisher import Publisher
from shared.observability import get_logger
from shared.storage import Document, create_client, database, ping

log = get_logger("samleng.intake")


class Unavailable(Exception):
    """The pledge was not handed over; nothing was stored. Retry later."""


class SubmissionGateway:
    def __init__(self, settings: IntakeSettings) -> None:
        self._settings = settings
        self._connection: AbstractRobustConnection | None = None
        self._publisher: Publisher | None = None
        self._connecting: asyncio.Task[None] | None = None

    @property
    def ready(self) -> bool:
        return self._publisher is not None and self._connection is not None and not self._connection.is_closed

    async def start(self) -> None:
        """Connect in the background: the site serves (and answers 503) while the broker is away."""
        self._connecting = asyncio.create_task(self._connect())

    async def _connect(self) -> None:
        while True:
            try:
                self._connection = await connect(
                    self._settings.amqp_url.get_secret_value(), "intake", timeout=3600
                )
                self._publisher = await Publisher.open(
                    self._connection, self._settings.amqp_exchange, self._settings.submit_timeout_seconds
                )
                return
            except Exception as error:  # keep serving; readiness stays red until this succeeds
                log.warning("broker connection failed; retrying", error=repr(error))
                await asyncio.sleep(2)

    async def stop(self) -> None:
        if self._connecting is not None:
            self._connecting.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._connecting
        if self._connection is not None:
            await close(self._connection)

    async def publish(self, event: Any) -> None:
        """Hand a contract to the broker within the submit timeout; Unavailable if it cannot."""
        if self._publisher is None:
            raise Unavailable("broker not connected")
        try:
            await asyncio.wait_for(
                self._publisher.publish(event), timeout=self._settings.submit_timeout_seconds + 1
            )
        except (PublishFailed, TimeoutError) as error:
            log.error(
                "not handed over",
                event_type=event.type,
                correlation_id=event.correlation_id,
                error=type(error).__name__,
            )
            raise Unavailable(str(error)) from error

    async def submit(
        self,
        pledge_id: str,
        pledge: ValidPledge,
        source: Source,
        lang: Lang,
        consent_version: str,
        table: TableImportRef | None = None,
    ) -> None:
        await self.publish(build_submission(pledge_id, pledge, source, lang, consent_version, table))
        log.info("pledge submitted", pledge_id=pledge_id, source=source)


def build_submission(
    pledge_id: str,
    pledge: ValidPledge,
    source: Source,
    lang: Lang,
    consent_version: str,
    table: TableImportRef | None = None,
) -> PledgeSubmitted:
    now = utcnow()
    return PledgeSubmitted(
        correlation_id=pledge_id,
        data=PledgeSubmittedData(
            pledge_id=pledge_id,
            source=source,
            submitted_at=now,
            name=pledge.name,
            show_name_publicly=pledge.show_name_publicly,
            country=pledge.country,
            certificate_language=pledge.certificate_language,
            interface_language=lang,
            channels=pledge.channels,
            contact=pledge.contact,
            alerts_opt_in=pledge.alerts_opt_in,
            sessions_opt_in=pledge.sessions_opt_in,
            consent=Consent(text_version=consent_version, locale=lang, accepted_at=now),
            table=table,
        ),
    )


class PledgeStatus(BaseModel):
    pledge_id: str
    state: Literal["received", "recorded", "rejected"] = Field(
        description="received: handed over, being recorded; recorded: stored (certificate follows); "
        "rejected: see reason."
    )
    reason: str | None = None
    detail: str | None = None
    recorded_at: datetime | None = None
    already_signed: bool = Field(
        default=False, description="The same person had already signed; no second certificate."
    )
    certificate_number: str | None = Field(default=None, description="Once the certificate is issued.")
    deliveries: list[DeliveryView] = Field(
        default_factory=list, description="How the certificate is travelling, one entry per channel."
    )


class StatusReader:
    """Reads pledge-intake's `pledges` collection (its documented read model); never writes."""

    def __init__(self, settings: IntakeSettings) -> None:
        self._settings = settings
        self._client: AsyncMongoClient[Document] | None = None

    async def start(self) -> None:
        self._client = create_client(self._settings)

    async def stop(self) -> None:
        if self._client is not None:
            await self._client.close()

    def database(self) -> Any:
        assert self._client is not None
        return database(self._client, self._settings)

    async def ping(self) -> bool:
        try:
            assert self._client is not None
            await ping(self._client)
            return True
        except Exception:
            return False

    async def status(self, pledge_id: str) -> PledgeStatus:
        assert self._client is not None
        doc: dict[str, Any] | None = await database(self._client, self._settings).pledges.find_one(
            {"_id": pledge_id}, {"state": 1, "reason": 1, "detail": 1, "recorded_at": 1, "duplicate_of": 1}
        )
        if doc is None:
            return PledgeStatus(pledge_id=pledge_id, state="received")
        state = "rejected" if doc["state"] == "rejected" else "recorded"
        certificate = await database(self._client, self._settings).certificates.find_one(
            {"pledge_id": doc.get("duplicate_of") or pledge_id, "state": "valid"}, {"number": 1}
        )
        deliveries = await deliveries_of_pledge(database(self._client, self._settings), pledge_id)
        return PledgeStatus(
            deliveries=deliveries,
            certificate_number=certificate["number"] if certificate else None,
            pledge_id=pledge_id,
            state=state,
            reason=doc.get("reason"),
            detail=doc.get("detail"),
            recorded_at=doc.get("recorded_at"),
            already_signed=bool(doc.get("duplicate_of")),
        )
