"""The channel runner: written once, runs every delivery channel.

One channel = one consumer group per priority band, `channel-<name>.<band>` bound to
`delivery.requested.v1.<name>.<band>`, so a channel that is down or slow only grows its own
queues, and a backlog of certificates never delays an alert. For each delivery request the runner:

0. Waits for a SEND SLOT (`max_concurrent_sends()`, default 16) at the priority gate (gate.py):
   a freed slot goes to the oldest waiting request of the most urgent band, so while high-band
   requests wait no lower-band send starts. Nothing is claimed before a slot is held.
1. CLAIMS it in the channel's send log (`sends_<name>`, one document per delivery id): a new
   delivery is inserted as `sending` with a lease; a delivery already `sent` (redelivery,
   duplicate publish) is acked and its status re-announced, never sent again; one another worker
   holds (lease alive) is waited out, without a send slot, until that lease ends (the request
   was redelivered because its worker died mid-send: it is then reconciled at once instead of
   after the retry tiers, which are shorter than the lease and would end in the 10-minute one),
   and goes to a retry tier only if still held then; one whose worker died mid-send (lease
   expired) or whose last try ended `unknown` is RECONCILED first (see below).
2. Asks the circuit breaker and the rate limiter, loads the attachments the adapter declares
   (GridFS), and calls `adapter.send()` (in a CLIENT span `<channel> send`, the child of the
   request's CONSUMER span: shared/tracing.py). A worker stopped (SIGTERM, after its grace period)
   before calling the provider releases its claim, so the redelivered request is sent at once
   by another worker instead of waiting out the lease.
3. Maps the outcome (adapter.py draws the error tree):

       SendResult               -> send log `sent`, status `sent`, ack
       PermanentDeliveryError   -> `failed_permanent`, status `failed_permanent`, ack
                                   (the dispatcher falls back to the member's next channel)
       RetryableDeliveryError   -> `retry`, status `retrying`, next retry tier; after the last
       (or anything unexpected)    tier `dead_lettered`, status `dead_lettered`, dead-letter queue
       OutcomeUnknown           -> `unknown`, status `unknown`, next retry tier; the next attempt
                                   reconciles

Reconciling: if the adapter declares `resend_is_safe` (the provider dedupes on our idempotency
key, or the mail store on our Message-ID) the delivery is simply sent again; otherwise
`adapter.reconcile()` asks the provider (one that cannot be asked now raises OutcomeUnknown: the
request waits in a retry tier and asks again); if it cannot tell, the message is dead-lettered with
reason `outcome-unknown` and status `unknown` (reason `outcome-unresolved`, from which the
dispatcher falls back) for an operator, never resent blindly.

Status events have ids derived from (delivery, state, attempt), so re-announcing is harmless.

Personal data: a request arrives (and rests in the retry and dead-letter queues) with its personal
fields sealed for the member (`encrypted`, shared/contracts/delivery.py); the runner opens it with
the process's vault (shared/personal_data.py) after the claim, just before reconciling or sending,
so the adapter and the provider get plain data and nothing personal is written here. A request
whose member was forgotten (data key deleted) fails permanently, `personal-data-erased`. So does
one whose attachment is a file sealed for that member (GridFS `metadata.sealed`: certificate files)
that can no longer be opened; unmarked files are read as stored.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NoReturn

from bson import ObjectId
from gridfs import AsyncGridFSBucket
from gridfs.errors import NoFile
from opentelemetry.trace import SpanKind
from prometheus_client import Counter, Gauge, Histogram
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase

from shared import tracing
from shared.channels.adapter import (
    Attachment,
    ChannelAdapter,
    DeliveryError,
    OutboundMessage,
    OutcomeUnknown,
    PermanentDeliveryError,
    RetryableDeliveryError,
    SendResult,
)
from shared.channels.catalogue import AttachmentKind
from shared.channels.erasure import ErasedMembers, drop_if_erased
from shared.channels.gate import PriorityGate
from shared.channels.guards import CircuitBreaker, RateLimiter
from shared.contracts import utcnow
from shared.contracts.delivery import (
    BANDS,
    UNRESOLVED,
    DeliveryRequested,
    DeliveryRequestedData,
    DeliveryStatus,
    DeliveryStatusData,
)
from shared.messaging.consumer import MessageContext
from shared.messaging.errors import OutcomeUnknownError, PermanentError, RetryableError
from shared.observability import describe_error
from shared.personal_data import PersonalDataUnreadable, Vault, open_bytes
from shared.retention import RetentionRule, declare_retention
from shared.storage import Document, durable, insert_once

STATUS_NAMESPACE = uuid.UUID("c5d0f1e2-7a4b-4c8d-9e3f-1a2b3c4d5e6f")
FINAL_STATES = frozenset({"sent", "delivered", "failed_permanent", "dead_lettered"})
DEFAULT_SEND_SLOTS = 16
LEASE_MARGIN_SECONDS = 0.5  # after another worker's lease ends, before claiming again
BAND_RANK = {band: rank for rank, band in enumerate(BANDS)}

DELIVERIES = Counter(
    "samleng_channel_deliveries_total",
    "Delivery attempts a channel finished, by outcome (sent, failed, retried, unknown, dead_lettered, duplicate).",
    ["channel", "outcome"],
)
QUEUE_LAG = Histogram(
    "samleng_channel_queue_lag_seconds",
    "From the dispatcher's request to this channel starting the send, by priority band.",
    ["channel", "band"],
    buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600, 14400),
)
SEND_SECONDS = Histogram("samleng_channel_send_seconds", "Time a provider call took.", ["channel"])
BREAKER_OPEN = Gauge(
    "samleng_channel_circuit_open", "1 while the channel's circuit breaker is open.", ["channel"]
)
WAITING_FOR_SLOT = Gauge(
    "samleng_channel_waiting_for_slot",
    "Requests in this process waiting for a send slot, by priority band.",
    ["channel", "band"],
)


def provider_outcome(error: DeliveryError) -> str:
    """A provider call's failure as its send span records it (adapter.py's error tree)."""
    if isinstance(error, PermanentDeliveryError):
        return "failed_permanent"
    if isinstance(error, OutcomeUnknown):
        return "unknown"
    return "retry"


def status_event_id(delivery_id: str, state: str, attempt: int) -> uuid.UUID:
    return uuid.uuid5(STATUS_NAMESPACE, f"{delivery_id}:{state}:{attempt}")


@dataclass(frozen=True)
class Claim:
    kind: str  # claimed | reconcile | busy | done
    document: Document | None = None

    def held_for(self, longest: timedelta) -> float:
        """Seconds until another worker's lease on a busy delivery ends (at most `longest`)."""
        until = (self.document or {}).get("lease_until")
        if not isinstance(until, datetime):
            return 0.0
        if until.tzinfo is None:  # a client without tz_aware reads UTC as naive
            until = until.replace(tzinfo=UTC)
        return max(0.0, min((until - utcnow()).total_seconds(), longest.total_seconds()))


class HeldElsewhere(Exception):
    """Another worker's lease on this delivery is alive for `seconds` more."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"held elsewhere for {seconds:.1f}s")
        self.seconds = seconds


class SendLog:
    """The channel's own record of every delivery it handled; the claim makes sends exactly-once."""

    def __init__(self, collection: AsyncCollection[Document], owner: str, lease_seconds: float) -> None:
        self.collection = durable(collection)
        self.owner = owner
        self.lease = timedelta(seconds=lease_seconds)

    async def claim(self, delivery_id: str) -> Claim:
        now = utcnow()
        taking = {"state": "sending", "owner": self.owner, "lease_until": now + self.lease, "updated_at": now}
        if await insert_once(self.collection, {"_id": delivery_id, **taking, "claims": 1, "created_at": now}):
            return Claim("claimed")
        update = {"$set": taking, "$inc": {"claims": 1}}
        again = {"_id": delivery_id, "state": {"$in": ["retry", "dead_lettered"]}}  # a replay sends again
        if (await self.collection.update_one(again, update)).modified_count:
            return Claim("claimed")
        stale = {"_id": delivery_id, "state": "sending", "lease_until": {"$lt": now}}
        if (await self.collection.update_one(stale, update)).modified_count:
            return Claim("reconcile")
        if (
            await self.collection.update_one({"_id": delivery_id, "state": "unknown"}, update)
        ).modified_count:
            return Claim("reconcile")
        current = await self.collection.find_one({"_id": delivery_id})
        if current is None or current["state"] == "sending":
            return Claim("busy", current)
        return Claim("done", current)

    async def ensure_retention(self, days: float) -> None:
        """A send log goes `days` after its final state (RETENTION_SEND_LOG_DAYS; shared/retention.py)."""
        await declare_retention(self.collection, RetentionRule.after_final_state(days, FINAL_STATES))

    async def finish(self, delivery_id: str, state: str, **fields: Any) -> None:
        await self.collection.update_one(
            {"_id": delivery_id}, {"$set": {"state": state, "updated_at": utcnow(), **fields}}
        )


def worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class ChannelRunner:
    def __init__(
        self,
        adapter: ChannelAdapter,
        send_log: SendLog,
        files_db: AsyncDatabase[Document] | None,
        limiter: RateLimiter | None = None,
        breaker: CircuitBreaker | None = None,
        vault: Vault | None = None,
        erased: ErasedMembers | None = None,
    ) -> None:
        self.adapter = adapter
        self.vault = vault
        self.erased = erased
        self.channel = adapter.name
        self.send_log = send_log
        self.files_db = files_db  # the database of the GridFS buckets requests name (None: attach nothing)
        self._buckets: dict[str, AsyncGridFSBucket] = {}
        self.limiter = limiter or RateLimiter(adapter.rate_per_second)
        self.gate = PriorityGate(adapter.max_concurrent_sends() or DEFAULT_SEND_SLOTS, len(BANDS))
        self.breaker = breaker or CircuitBreaker()
        self._outcomes = {
            outcome: DELIVERIES.labels(self.channel, outcome)
            for outcome in ("sent", "failed", "retried", "unknown", "dead_lettered", "duplicate")
        }
        self._lag = {band: QUEUE_LAG.labels(self.channel, band) for band in BANDS}
        self._waiting = {band: WAITING_FOR_SLOT.labels(self.channel, band) for band in BANDS}
        self._send_seconds = SEND_SECONDS.labels(self.channel)
        self._breaker_open = BREAKER_OPEN.labels(self.channel)

    async def handle(self, event: DeliveryRequested, ctx: MessageContext[Any]) -> None:
        if await drop_if_erased(self.erased, self.send_log, event.data, ctx.log):
            return  # the member was erased: their work waiting in queues is dropped, not sent
        try:
            await self._in_slot(event, ctx, wait_out_a_lease=True)
        except HeldElsewhere as held:  # its worker died mid-send, or is still sending: wait it out
            await asyncio.sleep(held.seconds + LEASE_MARGIN_SECONDS)
            await self._in_slot(event, ctx, wait_out_a_lease=False)

    async def _in_slot(
        self, event: DeliveryRequested, ctx: MessageContext[Any], wait_out_a_lease: bool
    ) -> None:
        band = event.data.band
        waiting = self._waiting[band]
        waiting.inc()
        try:
            await self.gate.acquire(BAND_RANK[band])
        finally:
            waiting.dec()
        try:
            await self._handle(event, ctx, wait_out_a_lease)
        finally:
            self.gate.release()

    async def _handle(
        self, event: DeliveryRequested, ctx: MessageContext[Any], wait_out_a_lease: bool
    ) -> None:
        delivery = event.data
        if delivery.channel != self.channel:
            raise PermanentError(
                f"request for channel {delivery.channel!r} reached {self.channel!r}", reason="wrong-channel"
            )
        claim = await self.send_log.claim(delivery.delivery_id)
        if claim.kind == "done":
            assert claim.document is not None
            self._outcomes["duplicate"].inc()
            await self._announce(
                ctx,
                event,
                claim.document["state"],
                claim.document.get("reason"),
                claim.document.get("provider_message_id"),
            )
            return
        if claim.kind == "busy":
            if wait_out_a_lease and claim.document is not None:
                raise HeldElsewhere(claim.held_for(self.send_log.lease))
            raise RetryableError("another worker holds this delivery", reason="claimed-elsewhere")
        try:
            delivery = await self._opened(delivery)
        except PersonalDataUnreadable:
            await self._failed(event, ctx, "personal-data-erased", "the member's data key is gone")
            return
        except RetryableError as error:
            await self.send_log.finish(delivery.delivery_id, "retry", reason=error.reason)
            await self._retry(event, ctx, error.reason, str(error))
        reconcile_first = claim.kind == "reconcile" and not self.adapter.resend_is_safe
        if reconcile_first and await self._reconciled(event, delivery, ctx):
            return
        if not self.breaker.allow():
            self._breaker_open.set(1)
            await self.send_log.finish(delivery.delivery_id, "retry", reason="circuit-open")
            await self._retry(event, ctx, "circuit-open", "circuit breaker open")
        self._lag[delivery.band].observe(max(0.0, (utcnow() - delivery.requested_at).total_seconds()))
        try:
            await self.limiter.acquire()
            message = OutboundMessage(delivery, await self._attachments(delivery))
        except asyncio.CancelledError:  # stopping before the provider was called: release the claim
            await asyncio.shield(self.send_log.finish(delivery.delivery_id, "retry", reason="worker-stopped"))
            raise
        except PersonalDataUnreadable:  # a sealed attachment whose member's key is gone
            await self._failed(event, ctx, "personal-data-erased", "the member's data key is gone")
            return
        except PermanentDeliveryError as error:  # a file it must carry is missing or too large
            await self._failed(event, ctx, error.reason, str(error))
            return
        except RetryableError as error:
            await self.send_log.finish(delivery.delivery_id, "retry", reason=error.reason)
            await self._retry(event, ctx, error.reason, str(error))
        started = time.perf_counter()
        try:
            result = await self._call_provider(message)
        except PermanentDeliveryError as error:
            self.breaker.neutral()
            await self._failed(event, ctx, error.reason, str(error))
            return
        except OutcomeUnknown as error:
            self.breaker.neutral()
            await self.send_log.finish(delivery.delivery_id, "unknown", reason=error.reason)
            self._outcomes["unknown"].inc()
            await self._announce(ctx, event, "unknown", error.reason)
            raise RetryableError(f"outcome unknown: {error}", reason="outcome-unknown") from error
        except RetryableDeliveryError as error:
            self._provider_failed()
            await self.send_log.finish(delivery.delivery_id, "retry", reason=error.reason)
            await self._retry(event, ctx, error.reason, str(error))
        except Exception as error:
            self._provider_failed()
            ctx.log.exception("adapter crashed", channel=self.channel)
            await self.send_log.finish(delivery.delivery_id, "retry", reason="adapter-error")
            await self._retry(event, ctx, "adapter-error", describe_error(error))
        finally:
            self._send_seconds.observe(time.perf_counter() - started)
        self.breaker.success()
        self._breaker_open.set(0)
        await self._sent(event, ctx, result)

    async def _call_provider(self, message: OutboundMessage) -> SendResult:
        """`adapter.send()` inside a CLIENT span `<channel> send`: channel, delivery id, outcome,
        and for a failure its reason and error type; never the address or the text."""
        with tracing.span(
            f"{self.channel} send",
            SpanKind.CLIENT,
            {"samleng.channel": self.channel, "samleng.delivery.id": message.delivery.delivery_id},
        ) as span:
            try:
                result = await self.adapter.send(message)
            except DeliveryError as error:
                span.set_attribute(tracing.OUTCOME, provider_outcome(error))
                span.set_attribute("samleng.reason", error.reason)
                raise
            except Exception:
                span.set_attribute(tracing.OUTCOME, "error")
                raise
            span.set_attribute(tracing.OUTCOME, result.state)
            return result

    async def _opened(self, delivery: DeliveryRequestedData) -> DeliveryRequestedData:
        """The request with its personal fields decrypted (see the module docstring)."""
        if delivery.encrypted is None:
            return delivery
        if self.vault is None:
            raise RetryableError("a sealed request but no master key here", reason="no-master-key")
        return delivery.with_personal(await self.vault.unseal(delivery.encrypted))

    async def _reconciled(
        self, event: DeliveryRequested, delivery: DeliveryRequestedData, ctx: MessageContext[Any]
    ) -> bool:
        """True if reconciliation settled the delivery; False if it may be sent (again)."""
        try:
            result = await self.adapter.reconcile(delivery)
        except RetryableDeliveryError:
            ctx.log.info("reconciled: not delivered, sending", delivery_id=delivery.delivery_id)
            return False
        except OutcomeUnknown as error:  # the provider cannot be asked now (it is down): ask later
            await self.send_log.finish(delivery.delivery_id, "unknown", reason=error.reason)
            raise RetryableError(f"cannot reconcile now: {error}", reason=error.reason) from error
        if result is not None:
            ctx.log.info("reconciled: already delivered", delivery_id=delivery.delivery_id)
            await self._sent(event, ctx, result)
            return True
        await self.send_log.finish(delivery.delivery_id, "unknown", reason="outcome-unknown")
        self._outcomes["unknown"].inc()
        await self._announce(ctx, event, "unknown", UNRESOLVED)
        raise OutcomeUnknownError(
            "the provider cannot tell whether it was delivered; an operator must decide",
            reason="outcome-unknown",
        )

    def _provider_failed(self) -> None:
        self.breaker.failure()
        self._breaker_open.set(1 if self.breaker.state != "closed" else 0)

    async def _sent(self, event: DeliveryRequested, ctx: MessageContext[Any], result: SendResult) -> None:
        await self.send_log.finish(
            event.data.delivery_id, result.state, provider_message_id=result.provider_message_id, reason=None
        )
        self._outcomes["sent"].inc()
        await self._announce(ctx, event, result.state, None, result.provider_message_id)
        ctx.log.info(
            "delivered", channel=self.channel, delivery_id=event.data.delivery_id, state=result.state
        )

    async def _failed(
        self, event: DeliveryRequested, ctx: MessageContext[Any], reason: str, detail: str
    ) -> None:
        await self.send_log.finish(event.data.delivery_id, "failed_permanent", reason=reason)
        self._outcomes["failed"].inc()
        await self._announce(ctx, event, "failed_permanent", reason)
        ctx.log.warning(
            "delivery failed permanently", channel=self.channel, reason=reason, detail=detail[:300]
        )

    async def _retry(
        self, event: DeliveryRequested, ctx: MessageContext[Any], reason: str, detail: str
    ) -> NoReturn:
        """Raise into the consumer's retry tiers, or after the last one dead-letter and say so."""
        if ctx.attempt >= ctx.max_attempts:
            await self.send_log.finish(event.data.delivery_id, "dead_lettered", reason=reason)
            self._outcomes["dead_lettered"].inc()
            await self._announce(ctx, event, "dead_lettered", reason)
            raise PermanentError(f"retries exhausted: {detail}", reason="retries-exhausted")
        self._outcomes["retried"].inc()
        await self._announce(ctx, event, "retrying", reason)
        raise RetryableError(detail, reason=reason)

    async def _announce(
        self,
        ctx: MessageContext[Any],
        event: DeliveryRequested,
        state: str,
        reason: str | None,
        provider_message_id: str | None = None,
    ) -> None:
        delivery = event.data
        await ctx.publish(
            DeliveryStatus(
                event_id=status_event_id(delivery.delivery_id, state, ctx.attempt),
                correlation_id=event.correlation_id,
                causation_id=event.event_id,
                data=DeliveryStatusData(
                    delivery_id=delivery.delivery_id,
                    channel=self.channel,
                    state=state,
                    attempt=ctx.attempt,
                    reason=reason,
                    provider_message_id=provider_message_id,
                    at=utcnow(),
                ),
            )
        )

    async def _plan_attachment(
        self, delivery: DeliveryRequestedData, wanted: tuple[AttachmentKind, ...]
    ) -> tuple[Attachment, ...]:
        """A Plan of Action's PDF, for channels that carry PDFs (others send the text and link)."""
        reminder = delivery.reminder
        assert reminder is not None
        file_id = reminder.plan_pdf_file_id
        if not file_id or "pdf" not in wanted or self.files_db is None:
            return ()
        data = await self._read_file(reminder.plan_pdf_bucket, file_id, "plan PDF")
        if len(data) > self.adapter.max_attachment_bytes:
            raise PermanentDeliveryError(f"plan is {len(data)} bytes", reason="attachment-too-large")
        return (Attachment("plan-of-action.pdf", "application/pdf", data),)

    def _bucket(self, name: str) -> AsyncGridFSBucket:
        """The GridFS bucket a request names (its file reference says where the file is)."""
        assert self.files_db is not None
        if name not in self._buckets:
            self._buckets[name] = AsyncGridFSBucket(self.files_db, bucket_name=name)
        return self._buckets[name]

    async def _read_file(self, bucket: str | None, file_id: str | None, what: str) -> bytes:
        """A stored file's bytes, opened with the vault when its metadata says `sealed` (certificate
        files are sealed for their member: services/certificates/app.py); others as stored. A file
        the request does not name, or that is gone, fails the delivery permanently (the dispatcher
        falls back to the member's next channel)."""
        if bucket is None or file_id is None:
            raise PermanentDeliveryError(f"the request names no {what} file", reason="attachment-missing")
        try:
            stream = await self._bucket(bucket).open_download_stream(ObjectId(file_id))
        except NoFile as error:
            raise PermanentDeliveryError(
                f"{what} file {file_id} not found", reason="attachment-missing"
            ) from error
        data = await stream.read()
        if not (stream.metadata or {}).get("sealed"):
            return data
        if self.vault is None:
            raise RetryableError("a sealed file but no master key here", reason="no-master-key")
        return await open_bytes(self.vault, data)

    async def _attachments(self, delivery: DeliveryRequestedData) -> tuple[Attachment, ...]:
        wanted: tuple[AttachmentKind, ...] = self.adapter.attachments
        certificate = delivery.certificate
        if delivery.reminder is not None:
            return await self._plan_attachment(delivery, wanted)
        if not wanted or certificate is None or self.files_db is None:
            return ()
        sources: dict[AttachmentKind, tuple[str | None, str, str]] = {
            "pdf": (certificate.pdf_file_id, f"{certificate.certificate_number}.pdf", "application/pdf"),
            "png": (certificate.png_file_id, f"{certificate.certificate_number}.png", "image/png"),
            "print_pdf": (
                certificate.print_pdf_file_id,
                f"{certificate.certificate_number}-print.pdf",
                "application/pdf",
            ),
        }
        loaded = []
        for kind in wanted:
            file_id, filename, content_type = sources[kind]
            data = await self._read_file(certificate.bucket, file_id, kind)
            if len(data) > self.adapter.max_attachment_bytes:
                raise PermanentDeliveryError(f"{kind} is {len(data)} bytes", reason="attachment-too-large")
            loaded.append(Attachment(filename, content_type, data))
        return tuple(loaded)
