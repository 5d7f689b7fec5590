"""Every HTTP operation of intake, the console and each inbound channel's webhooks, fuzzed from the
app's own OpenAPI document with schemathesis over real HTTP; and what the APIs accepted, consumed
by the real services downstream.

Per operation: schemathesis draws requests that conform to the document (positive) and requests
that break it (negative), derandomized (the same cases every run: CI's verdict never depends on a
draw), FUZZ_EXAMPLES of each (`make fuzz` raises it). Each answer is checked: no 5xx, a documented
status code and content type, a body valid against the documented schema, and no HTML answer that
repeats markup it was sent. A request the HTTP client itself cannot send (e.g. a header value it
refuses) is not sent and not counted: it can never crash the run.

The webhooks are fuzzed as their provider would post: every case carrying the documented
signature header is signed over the very bytes sent (X-Hub-Signature-256 for Meta's, Twilio's
X-Twilio-Signature for SMS), and each GET handshake carrying a `hub.verify_token` gets ours, so
well-formed and malformed bodies reach the handlers (each webhook must accept some); a case
without the header tries the refusal.

Downstream, on an exchange of the test's own: pledge-intake, the scheduler, the dispatcher and the
certificate renderer run in-process as they run in production and consume what the fuzzed apps
published. Afterwards no handler crashed or retried and no dead-letter queue holds a message, and
every published message (a queue bound to `#` keeps a copy) is valid against its contract.

What is real: the broker, the Mongo-wire server, the apps on their sockets, the services. Nothing
reaches a provider: the channels' workers do not run (the `#` copy validates what the dispatcher
asks them to send).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import html
import json
import os
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import aio_pika
import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, reject, settings
from hypothesis.errors import Unsatisfiable
from prometheus_client import REGISTRY
from requests.auth import AuthBase
from requests.models import PreparedRequest
from schemathesis import APIOperation, Case, GenerationMode
from schemathesis.checks import CheckContext, not_a_server_error
from schemathesis.core.result import Err
from schemathesis.core.transport import Response as FuzzResponse
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from devstack.broker import RabbitNode
from services.certificates.app import CertificateSettings
from services.certificates.app import bootstrap as certificates_bootstrap
from services.certificates.app import router as certificates_router
from services.channels import discover
from services.channels.sms.signature import signature as twilio_signature
from services.dispatcher.app import DispatcherSettings
from services.dispatcher.app import bootstrap as dispatcher_bootstrap
from services.dispatcher.app import router as dispatcher_router
from services.pledge_intake.__main__ import PledgeIntakeSettings
from services.pledge_intake.app import bootstrap as pledge_intake_bootstrap
from services.pledge_intake.app import router as pledge_intake_router
from services.scheduler.app import SchedulerSettings
from services.scheduler.app import bootstrap as scheduler_bootstrap
from services.scheduler.app import router as scheduler_router
from shared.channels.adapter import ChannelAdapter
from shared.channels.catalogue import spec
from shared.channels.inbound import create_inbound_app
from shared.contracts import event_class
from shared.messaging.topology import ConsumerGroup
from shared.service import Router, Service
from shared.settings import ServiceSettings
from tests.service.conftest import until_ready
from tests.support.console import bearer, operator_token
from tests.support.http import serve

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "12"))
"""Cases per operation and mode (positive, negative); `make fuzz` runs many more."""
QUIET_POLLS = 10
"""Polls in a row (0.2 s apart) with nothing waiting anywhere before the downstream is called idle."""
STALL_SECONDS = 120.0
"""Downstream work must shrink at least once this often: generous for a busy 2-core machine."""
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
WEBHOOK_SECRET = "fuzz-webhook-secret"
"""Every webhook secret of the channels' settings (app secret, auth token, verify token, m.me
reference key): the test signs with it."""


def hub_signature(secret: str, url: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def twilio_form_signature(secret: str, url: str, body: bytes) -> str:
    return twilio_signature(secret, url, parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))


SIGNATURES: dict[str, Callable[[str, str, bytes], str]] = {
    "x-hub-signature-256": hub_signature,  # Meta's: WhatsApp, Messenger
    "x-twilio-signature": twilio_form_signature,  # Twilio's: SMS
    "x-signature": hub_signature,  # a scaffolded channel's (ops/channel_scaffold.py)
}
"""How a provider signs a webhook post, by the header its OpenAPI document names."""
SECRET_SETTINGS = ("app_secret", "api_token", "verify_token", "ref_secret")


class Signed(AuthBase):
    """Signs a request as its provider would, over the bytes it sends, when it carries a
    signature header (any value: the case's own is replaced); one without is sent unsigned.
    A GET handshake's `hub.verify_token` becomes ours."""

    def __call__(self, request: PreparedRequest) -> PreparedRequest:
        for header, sign in SIGNATURES.items():
            if header in request.headers:
                body = request.body or b""
                raw = body.encode() if isinstance(body, str) else body
                assert isinstance(raw, bytes), "a streamed body cannot be signed"
                request.headers[header] = sign(WEBHOOK_SECRET, str(request.url), raw)
        parts = urlsplit(str(request.url))
        query = parse_qsl(parts.query, keep_blank_values=True)
        if any(name == "hub.verify_token" for name, _ in query):
            ours = [(name, WEBHOOK_SECRET if name == "hub.verify_token" else value) for name, value in query]
            request.url = urlunsplit(parts._replace(query=urlencode(ours)))
        return request


DOWNSTREAM: tuple[tuple[Router, type[ServiceSettings], Any], ...] = (
    (pledge_intake_router, PledgeIntakeSettings, pledge_intake_bootstrap),
    (scheduler_router, SchedulerSettings, scheduler_bootstrap),
    (dispatcher_router, DispatcherSettings, dispatcher_bootstrap),
    (certificates_router, CertificateSettings, certificates_bootstrap),
)


def webhook_channels() -> list[str]:
    """Every channel whose inbound process serves webhooks (the others, e.g. Signal, poll)."""
    return [
        name
        for name, adapter in discover().items()
        if spec(name).inbound and adapter.inbound_router is not ChannelAdapter.inbound_router
    ]


@dataclass
class Findings:
    """What fuzzing one app found."""

    documented: set[str] = field(default_factory=set)
    fuzzed: set[str] = field(default_factory=set)
    failures: dict[str, list[str]] = field(default_factory=dict)
    statuses: Counter[int] = field(default_factory=Counter)
    accepted: Counter[str] = field(default_factory=Counter)
    unsendable: int = 0

    def fail(self, operation: str, what: str) -> None:
        found = self.failures.setdefault(operation, [])
        if what not in found and len(found) < 3:
            found.append(what)

    def report(self) -> str:
        return "\n".join(
            f"{operation}:\n" + "\n".join(f"  - {what}" for what in found)
            for operation, found in sorted(self.failures.items())
        )


def strings_in(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from strings_in(key)
            yield from strings_in(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from strings_in(item)


def markup_not_echoed(ctx: CheckContext, response: FuzzResponse, case: Case[Any]) -> bool | None:
    """An HTML answer never repeats markup the request carried as it was sent (unescaped)."""
    if "html" not in response.headers.get("content-type", [""])[0]:
        return None
    page = response.text
    sent = [case.path_parameters, case.query, case.headers, case.cookies, case.body]
    for text in strings_in(sent):
        if "<" in text and len(text) >= 3 and text in page and html.escape(text) != text:
            raise AssertionError(f"the HTML answer repeats {text[:80]!r} unescaped")
    return True


def summary(error: BaseException) -> str:
    """One line per failed check (schemathesis's own texts are pages long)."""
    found = error.exceptions if isinstance(error, BaseExceptionGroup) else (error,)
    return "; ".join(" ".join(str(one).split())[:300] for one in found)


def fuzz(url: str, headers_for: Callable[[str], dict[str, str]], auth: AuthBase | None = None) -> Findings:
    """Fuzz every operation of the OpenAPI document the app at `url` serves (blocking: run it in a
    thread beside the app's event loop)."""
    document = requests.get(f"{url}/openapi.json", timeout=30).json()
    schema = schemathesis.openapi.from_dict(document)
    findings = Findings()
    with requests.Session() as session:
        for result in schema.get_all_operations():
            if isinstance(result, Err):
                raise result.err()  # a document schemathesis cannot read is a failure, not a skip
            operation = result.ok()
            findings.documented.add(operation.label)
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                fuzz_operation(operation, mode, url, headers_for(operation.label), session, findings, auth)
    return findings


def fuzz_operation(
    operation: APIOperation[Any, Any, Any, Any],
    mode: GenerationMode,
    url: str,
    headers: dict[str, str],
    session: requests.Session,
    findings: Findings,
    auth: AuthBase | None = None,
) -> None:
    label = operation.label
    signing: dict[str, Any] = {} if auth is None else {"auth": auth}

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],  # no shrinking: every failure is reported as drawn
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def one(case: Case[Any]) -> None:
        try:
            response = case.call(base_url=url, session=session, headers=headers, timeout=60, **signing)
        except (requests.exceptions.InvalidHeader, requests.exceptions.InvalidURL, UnicodeError):
            findings.unsendable += 1
            reject()  # the client cannot send it: not a case at all
        except requests.exceptions.RequestException as error:
            findings.fail(label, f"no answer ({type(error).__name__}): {case.as_curl_command(headers={})}")
            return
        findings.fuzzed.add(label)
        findings.statuses[response.status_code] += 1
        if response.status_code < 300:
            findings.accepted[label] += 1
        try:
            case.validate_response(
                response, checks=CHECKS, additional_checks=[markup_not_echoed], headers=headers
            )
        except (AssertionError, BaseExceptionGroup) as failed:
            for one_failure in failed.exceptions if isinstance(failed, BaseExceptionGroup) else (failed,):
                code = getattr(one_failure, "code", "markup-echoed")
                findings.fail(
                    label,
                    f"{mode.value} {response.status_code} {code}: {summary(one_failure)} "
                    f"[{case.as_curl_command(headers={})}]",
                )

    try:
        one()
    except Unsatisfiable:
        # nothing breaks the document here (e.g. a plain string in the path): no negative case
        if mode is GenerationMode.POSITIVE:
            findings.fail(label, "schemathesis could not draw a single conforming request")


def problems_of(app: str, findings: Findings) -> list[str]:
    """Every operation of the document exercised, and nothing found."""
    print(
        f"{app}: {sum(findings.statuses.values())} requests, statuses {dict(sorted(findings.statuses.items()))}, "
        f"accepted {dict(findings.accepted)}, {findings.unsendable} unsendable"
    )
    problems = [] if findings.documented else [f"{app} documents no operation"]
    missed = findings.documented - findings.fuzzed
    if missed:
        problems.append(f"{app}: operations in its OpenAPI never exercised: {sorted(missed)}")
    if findings.failures:
        problems.append(f"{app}: fuzzing found\n{findings.report()}")
    return problems


class Downstream:
    """The consuming services on the test's own exchange, a copy of everything published to it,
    and the verdict on both once the work is done."""

    def __init__(self, rabbit: RabbitNode, mongo_uri: str, db_name: str) -> None:
        self.rabbit = rabbit
        self.exchange = f"fuzz{uuid.uuid4().hex[:8]}"
        self.common: dict[str, Any] = {
            "_env_file": None,
            "amqp_url": rabbit.url,
            "amqp_exchange": self.exchange,
            "mongodb_uri": mongo_uri,
            "mongodb_database": db_name,
            "retry_delays_ms": [200],  # a crash shows as a retry at once; nothing waits an hour
        }
        self.services: list[Service[Any]] = []
        self.groups: list[ConsumerGroup] = []
        self.counted: dict[tuple[str, str, str], float] = {}

    def settings(self, settings_class: type[ServiceSettings]) -> ServiceSettings:
        return settings_class(**self.common)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        connection = await aio_pika.connect(self.rabbit.url)
        channel = await connection.channel()
        exchange = await channel.declare_exchange(self.exchange, aio_pika.ExchangeType.TOPIC, durable=True)
        self.copy = await channel.declare_queue(f"{self.exchange}.everything", exclusive=True)
        await self.copy.bind(exchange, "#")  # every publish is routable and kept for its contract check
        self.channel = channel
        for router, settings_class, bootstrap in DOWNSTREAM:
            settings = self.settings(settings_class)
            service: Service[Any] = Service(router, settings, bootstrap)
            await service.start()
            self.services.append(service)
            self.groups.extend(router.consumer_groups(settings))
        self.counted = self.outcomes()
        try:
            yield
        finally:
            for service in reversed(self.services):
                await service.stop()
            for group in self.groups:
                for name in (group.queue, group.dead_letter_queue, *group.retry_queues()):
                    await channel.queue_delete(name)
            await channel.exchange_delete(self.exchange)
            await connection.close()

    def outcomes(self) -> dict[tuple[str, str, str], float]:
        """samleng_messages_consumed_total of this test's queues, by (queue, type, outcome)."""
        queues = {group.queue for group in self.groups}
        found: dict[tuple[str, str, str], float] = {}
        for metric in REGISTRY.collect():
            if metric.name != "samleng_messages_consumed":
                continue
            for sample in metric.samples:
                labels = sample.labels
                if sample.name.endswith("_total") and labels.get("queue") in queues:
                    found[(labels["queue"], labels["type"], labels["outcome"])] = sample.value
        return found

    async def waiting(self) -> int:
        """Messages waiting in any of the services' work or retry queues (and unacked ones)."""
        total = 0
        for group in self.groups:
            for name in (group.queue, *group.retry_queues()):
                queue = await self.channel.declare_queue(name, passive=True)
                total += queue.declaration_result.message_count or 0
        return total

    async def settle(self) -> None:
        """Until nothing waits anywhere for QUIET_POLLS polls in a row; fails only when the work
        stops shrinking for STALL_SECONDS (a stuck consumer), never on a wall-clock budget."""
        loop = asyncio.get_running_loop()
        quiet, lowest, progress_at = 0, None, loop.time()
        while quiet < QUIET_POLLS:
            pending = await self.waiting()
            handled = sum(self.outcomes().values())
            quiet = quiet + 1 if pending == 0 else 0
            if lowest is None or pending < lowest[0] or handled > lowest[1]:
                lowest, progress_at = (pending, handled), loop.time()
            if loop.time() - progress_at > STALL_SECONDS:
                raise AssertionError(f"{pending} messages still waiting and no progress for {STALL_SECONDS}s")
            await asyncio.sleep(0.2)

    async def verdict(self) -> tuple[Counter[str], list[str]]:
        """What was published (by type) and every problem downstream."""
        await self.settle()
        problems: list[str] = []
        after = self.outcomes()
        for (queue, event_type, outcome), value in sorted(after.items()):
            grew = value - self.counted.get((queue, event_type, outcome), 0.0)
            if outcome in {"retry", "dead_letter"} and grew:
                problems.append(f"{queue}: {int(grew)} {event_type} ended in {outcome}")
        for group in self.groups:
            dead = await self.channel.declare_queue(group.dead_letter_queue, passive=True)
            if dead.declaration_result.message_count:
                problems.append(f"{group.dead_letter_queue} holds {dead.declaration_result.message_count}")
        published: Counter[str] = Counter()
        while (message := await self.copy.get(no_ack=True, fail=False)) is not None:
            event_type = message.type or json.loads(message.body).get("type", "?")
            published[event_type] += 1
            try:
                event_class(event_type).model_validate_json(message.body)
            except Exception as invalid:
                problems.append(f"{event_type} published against its contract: {summary(invalid)}")
        return published, problems


@pytest.fixture
async def downstream(rabbit: RabbitNode, mongo_uri: str, db_name: str, db: Any) -> AsyncIterator[Downstream]:
    """The services, stopped before their database is dropped (`db`: torn down after this)."""
    services = Downstream(rabbit, mongo_uri, db_name)
    async with services.running():
        yield services


async def assert_clean(app: str, findings: Findings, downstream: Downstream) -> None:
    """The app's findings and the downstream verdict, reported together."""
    problems = problems_of(app, findings)
    published, broken = await downstream.verdict()
    print(f"{app}: published downstream {dict(sorted(published.items()))}")
    if broken:
        problems.append("downstream of what the API accepted:\n" + "\n".join(broken))
    assert not problems, "\n".join(problems)


async def test_intake_every_operation_fuzzed_nothing_accepted_breaks_downstream(
    make_intake: Callable[..., Any], downstream: Downstream
) -> None:
    async with make_intake(amqp_exchange=downstream.exchange) as intake:
        findings = await asyncio.to_thread(fuzz, intake, lambda _: {})
    await assert_clean("intake", findings, downstream)


async def test_console_every_operation_fuzzed_nothing_accepted_breaks_downstream(
    make_console: Callable[..., Any], downstream: Downstream, db: Any
) -> None:
    async with make_console(amqp_exchange=downstream.exchange) as console:
        async with httpx.AsyncClient() as client:
            document = (await client.get(f"{console}/openapi.json")).json()
        # an admin of their own per operation: signing out, a password change or a revoked token
        # in one operation leaves the others signed in
        tokens = {
            f"{method.upper()} {path}": await operator_token(db)
            for path, item in document["paths"].items()
            for method in item
        }
        findings = await asyncio.to_thread(fuzz, console, lambda label: bearer(tokens[label]))
    await assert_clean("console", findings, downstream)


@pytest.mark.parametrize("channel", webhook_channels())
async def test_inbound_webhooks_every_operation_fuzzed_nothing_accepted_breaks_downstream(
    channel: str, downstream: Downstream
) -> None:
    adapter = discover()[channel]
    secrets: dict[str, Any] = {
        name: WEBHOOK_SECRET for name in SECRET_SETTINGS if name in adapter.settings_class.model_fields
    }
    settings = adapter.settings_class(
        **downstream.common, **secrets, api_url="http://127.0.0.1:9"
    )  # the provider's API is never called
    async with serve(create_inbound_app(adapter, settings)) as inbound:
        await until_ready(inbound, f"{channel}-inbound", tries=400)
        findings = await asyncio.to_thread(fuzz, inbound, lambda _: {}, Signed())
    # signed as the provider signs: each webhook took some posts (else only its refusal was fuzzed)
    never_taken = sorted(findings.fuzzed - set(findings.accepted))
    assert not never_taken, (
        f"{channel}: no request signed as its provider would was accepted by {never_taken}"
    )
    await assert_clean(f"{channel}-inbound", findings, downstream)


async def test_a_table_import_that_is_not_a_readable_csv_is_refused_whole(
    console: str, admin_token: str
) -> None:
    """Found by the fuzzing above: a stray carriage return inside a field made the CSV reader raise
    and the console answer 500."""
    async with httpx.AsyncClient(base_url=console, headers=bearer(admin_token)) as client:
        answer = await client.post(
            "/api/v1/operator/imports/table",
            content="&Wl²g)öø\r\x1e'𪲁".encode(),
            headers={"content-type": "text/csv"},
        )
    assert answer.status_code == 422, answer.text
    assert answer.json()["detail"][0]["field"] in {"header", "body"}


AWKWARD_BODIES = (
    b"[]",
    b"{}",
    b"null",
    b"not json",
    b"\xff\xfe\x00",
    b'{"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [{"field": "messages", '
    b'"value": {"statuses": [{"status": "delivered", "timestamp": "soon"}], "messages": [{"from": 855}]}}]}]}',
    b'{"object": "page", "entry": [{"id": "1", "messaging": [{"sender": {}, "timestamp": "soon", '
    b'"message": {"text": ["STOP"]}}]}]}',
)


@pytest.mark.parametrize("channel", webhook_channels())
async def test_a_signed_webhook_body_the_handler_cannot_read_is_refused_by_field_never_a_crash(
    channel: str, downstream: Downstream
) -> None:
    """Found by signing the fuzzed posts: a signed body that was a JSON list, lacked a status's
    `id` or had a timestamp that is no number made the WhatsApp and Messenger handlers raise (500,
    and the provider retries it for days)."""
    adapter = discover()[channel]
    secrets: dict[str, Any] = {
        name: WEBHOOK_SECRET for name in SECRET_SETTINGS if name in adapter.settings_class.model_fields
    }
    settings = adapter.settings_class(**downstream.common, **secrets, api_url="http://127.0.0.1:9")
    async with serve(create_inbound_app(adapter, settings)) as inbound:
        await until_ready(inbound, f"{channel}-inbound", tries=400)
        async with httpx.AsyncClient(base_url=inbound) as client:
            document = (await client.get("/openapi.json")).json()
            answers = []
            for path, item in document["paths"].items():
                post = item.get("post")
                if post is None:
                    continue
                media_type = next(iter(post["requestBody"]["content"]))
                header = next(p["name"] for p in post["parameters"] if p["in"] == "header")
                sign = SIGNATURES[header.lower()]
                for body in AWKWARD_BODIES:
                    signature = sign(WEBHOOK_SECRET, f"{inbound}{path}", body)
                    answer = await client.post(
                        path, content=body, headers={"content-type": media_type, header: signature}
                    )
                    answers.append((path, body[:40], answer.status_code, answer.text))
    crashed = [one for one in answers if one[2] >= 500]
    assert not crashed, crashed
    for path, body, status, text in answers:
        if status == 422:
            assert all(problem["field"] for problem in json.loads(text)["detail"]), (path, body, text)
    _, broken = await downstream.verdict()
    assert not broken, broken


async def test_every_refusal_about_input_is_a_422_naming_its_field(
    intake: str, console: str, admin_token: str
) -> None:
    """Found by the fuzzing above: refusals FastAPI gave itself (a header too long, a query value
    out of range) and some of the console's own had no `field`, against their documents."""
    async with httpx.AsyncClient(base_url=intake) as client:
        long_key = await client.post(
            "/api/v1/pledges", json={"name": "Sok Dara"}, headers={"Idempotency-Key": "k" * 201}
        )
    async with httpx.AsyncClient(base_url=console, headers=bearer(admin_token)) as client:
        out_of_range = await client.get("/api/v1/operator/audit", params={"limit": 0})
        unknown_cursor = await client.get("/api/v1/operator/audit", params={"before_id": "nothing"})
        cursor_alone = await client.get("/api/v1/operator/replies", params={"before_id": "r1"})
        me = (await client.get("/api/v1/operator/me")).json()["operator"]["id"]
        nothing_to_change = await client.patch(f"/api/v1/operator/operators/{me}", json={})
        not_json = await client.post("/api/v1/operator/tokens", content=b"{")
        template = await client.get("/api/v1/operator/imports/table/template")
    fields = {}
    for name, answer in {
        "long_key": long_key,
        "out_of_range": out_of_range,
        "unknown_cursor": unknown_cursor,
        "cursor_alone": cursor_alone,
        "not_json": not_json,
        "nothing_to_change": nothing_to_change,
    }.items():
        assert answer.status_code == 422, (name, answer.text)
        fields[name] = [problem["field"] for problem in answer.json()["detail"]]
    assert fields == {
        "long_key": ["idempotency-key"],
        "out_of_range": ["limit"],
        "unknown_cursor": ["before_id"],
        "cursor_alone": ["before_id"],
        "not_json": ["body"],
        "nothing_to_change": ["body"],
    }
    assert "k" * 201 not in long_key.text  # never the input
    assert template.headers["content-type"].startswith("text/csv")
