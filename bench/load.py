"""The public API held at a fixed rate while alerts fan out and reminders fall due (issue #19, 3).

    .venv/bin/python bench/load.py [--rate 10] [--seconds 600] [--write docs/benchmarks.md]

On the stack as `make run` starts it (bench/e2e.py `start_stack`), open-loop: every request is
sent at its intended time whatever happened to the earlier ones, and its latency runs from that
intended time, so a stalled client or server counts against us. For `--seconds`:

- POST /api/v1/pledges at `--rate` (email channel, a partner key: no per-address limit);
- POST /api/v1/subscriptions at SUBSCRIBE_SHARE of it, with the real double opt-in: as each
  confirmation email reaches the SMTP sink, its /c/{token} link is followed as a person does
  (GET the page, POST its form with the page's CSRF field, in the person's own cookie jar);
- POST /api/v1/sessions/{id}/registrations at REGISTER_SHARE of it, for one session created
  through the console API whose reminders fall due at REMINDER_AT of the run;
- two alerts published through the console API at ALERT_AT of the run, so their fan-outs overlap
  the load; GET /a/{slug} (the latest alert whose page is up) and GET /sessions at PAGE_SHARE.

Afterwards the mail is drained: until every message expected has reached the sink, or until
nothing new has arrived for QUIET_SECONDS (a bound by progress, not by the clock: a busy machine
only makes it later). Everything downstream is counted at the SMTP sink, not from our own state:
certificates (expected: pledges answered 202; latency from the pledge's intended time),
subscription confirmations, alerts (expected: subscribers whose confirmation was answered at
least SETTLE_SECONDS before the publish), registration confirmations and reminders (expected:
registrations answered at least SETTLE_SECONDS before the due time; lateness from the due time).
A message that reaches someone twice is counted as a duplicate. CPU seconds per process over the
load and its drain come from /proc (bench/e2e.py `cpu_by_process`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import email
import email.policy
import json
import os
import platform
import re
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._stack import write_section
from bench.e2e import (
    cpu_by_process,
    letters,
    operator_token,
    partner_key,
    percentile,
    received_at,
    start_stack,
)
from shared.contracts.alert import slug
from tests.e2e.conftest import RunningStack
from tests.support.forms import TOKEN as CSRF_FIELD

SECTION = (
    "## Load: the public API at a steady rate while alerts fan out and reminders fall due (`bench/load.py`)"
)
SUBSCRIBE_SHARE = 0.2  # subscriptions per pledge
REGISTER_SHARE = 0.2  # registrations per pledge
PAGE_SHARE = 0.1  # reads of each public page per pledge
ALERT_AT = (0.25, 0.6)  # fractions of the run at which an alert is published
REMINDER_AT = (0.4, 0.8)  # fractions of the run at which the session's reminders fall due
SESSION_STARTS_AFTER = 600  # seconds after the run: reminders are stale once a session started
SETTLE_SECONDS = 5.0
"""A confirmation or registration answered less than this before an alert's publish or a
reminder's due time may reach the dispatcher or scheduler after it, and then rightly gets
nothing: such people are not counted as expected (what they did get is counted as extra)."""
QUIET_SECONDS = 60.0  # the drain ends after this long without a new message we still wait for
HTTP_TIMEOUT = 30.0
LIMITS = {  # the per-address abuse limits: every request here comes from 127.0.0.1
    "INTAKE_RATE_LIMIT_PER_MINUTE": "1000000",
    "INTAKE_RATE_LIMIT_LINKS_PER_MINUTE": "1000000",
    "INTAKE_RATE_LIMIT_VERIFY_PER_MINUTE": "1000000",
}
CONFIRM_LINK = re.compile(r"/c/([A-Za-z0-9_-]{16,64})")


@dataclass
class RouteStats:
    """One route's requests: latencies of those that were answered or timed out, errors by kind."""

    requests: int = 0
    latencies: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)


@dataclass(frozen=True)
class Mail:
    at: float  # the sink's receive time, epoch seconds
    to: str
    subject: str
    confirm_token: str | None


@dataclass
class Run:
    """What one load run sent and what the sink received."""

    tag: str
    started: float
    seconds: float
    session_id: str
    due: list[float]  # the session's reminders' due times, epoch seconds
    routes: dict[str, RouteStats] = field(default_factory=lambda: defaultdict(RouteStats))
    pledged: dict[str, float] = field(default_factory=dict)  # address -> intended time, answered 202
    subscribed: dict[str, float] = field(default_factory=dict)  # address -> intended time, answered 202
    confirmed: dict[str, float] = field(default_factory=dict)  # address -> confirmation answered
    registered: dict[str, float] = field(default_factory=dict)  # address -> registration answered
    registering: dict[str, float] = field(default_factory=dict)  # address -> its intended time
    alerts: dict[str, tuple[float, set[str]]] = field(default_factory=dict)  # number -> publish, expected
    visible: list[str] = field(default_factory=list)  # slugs of alerts whose public page is up
    mail: list[Mail] = field(default_factory=list)
    files_read: set[str] = field(default_factory=set)
    following: set[str] = field(default_factory=set)  # confirmation tokens followed
    last_mail: float = 0.0
    problems: list[str] = field(default_factory=list)

    def address(self, kind: str, index: int) -> str:
        return f"load-{self.tag}-{kind}{index}@example.org"

    def kind_of(self, address: str) -> str:
        return address.removeprefix(f"load-{self.tag}-")[:1]


async def timed(
    run: Run, route: str, at: float, expected: int, call: Callable[[], Awaitable[httpx.Response]]
) -> httpx.Response | None:
    """The answer of one request, its latency from `at` and its outcome counted under `route`."""
    stats = run.routes[route]
    stats.requests += 1
    try:
        answer = await call()
    except httpx.TimeoutException:
        stats.latencies.append(time.time() - at)
        stats.errors["timeout"] += 1
        return None
    except httpx.TransportError as error:
        stats.errors["connection"] += 1
        note(run, f"{route}: {type(error).__name__}")
        return None
    stats.latencies.append(time.time() - at)
    if answer.status_code == expected:
        return answer
    stats.errors["5xx" if answer.status_code >= 500 else "unexpected"] += 1
    note(run, f"{route}: {answer.status_code} {answer.text[:200]}")
    return None


def note(run: Run, problem: str) -> None:
    """The first few problems are printed as they happen (the addresses here are made up)."""
    run.problems.append(problem)
    if len(run.problems) <= 10:
        print("problem:", problem, flush=True)


def read_mail(mail_dir: Path, run: Run) -> list[Mail]:
    """Messages to this run's people that reached the sink since the last call. The sink writes a
    message's sidecar after its .eml: a sidecar that is still being written is read next time."""
    found = []
    for sidecar in mail_dir.glob("*.json"):
        if sidecar.name in run.files_read:
            continue
        try:
            recipients = [str(r).lower() for r in json.loads(sidecar.read_text())["to"]]
        except (OSError, ValueError, KeyError):
            continue
        ours = [r for r in recipients if r.startswith(f"load-{run.tag}-")]
        subject, token = "", None
        if any(run.kind_of(r) != "p" for r in ours):  # a certificate's sidecar is all it takes
            try:
                raw = sidecar.with_suffix(".eml").read_bytes()
            except OSError:
                continue
            message = email.message_from_bytes(raw, policy=email.policy.default)
            subject = str(message["Subject"] or "")
            body = message.get_body(("plain",))
            link = CONFIRM_LINK.search(body.get_content() if body is not None else "")
            token = link.group(1) if link else None
        run.files_read.add(sidecar.name)
        found += [Mail(received_at(sidecar), to, subject, token) for to in ours]
    return found


async def confirm(run: Run, intake_url: str, address: str, token: str) -> None:
    """What a person does with the confirmation email: open the link, press the button."""
    async with httpx.AsyncClient(base_url=intake_url, timeout=HTTP_TIMEOUT) as person:  # own cookies
        at = time.time()
        page = await timed(run, "GET /c/{token}", at, 200, lambda: person.get(f"/c/{token}"))
        csrf = CSRF_FIELD.search(page.text) if page is not None else None
        if page is not None and csrf is None:
            note(run, "GET /c/{token}: the page has no form")
        if csrf is None:
            return
        at = time.time()
        form = {"csrf_token": csrf.group(1)}
        if (
            await timed(run, "POST /c/{token}", at, 200, lambda: person.post(f"/c/{token}", data=form))
            is not None
        ):
            run.confirmed[address] = time.time()


async def watch_mail(run: Run, mail_dir: Path, intake_url: str, followers: set[asyncio.Task[None]]) -> None:
    while True:
        arrived = await asyncio.to_thread(read_mail, mail_dir, run)
        for mail in arrived:
            run.last_mail = time.time()
            run.mail.append(mail)
            token = mail.confirm_token
            if run.kind_of(mail.to) == "s" and token is not None and token not in run.following:
                run.following.add(token)
                task = asyncio.create_task(confirm(run, intake_url, mail.to, token))
                followers.add(task)
                task.add_done_callback(followers.discard)
        await asyncio.sleep(0.5)


def alert_body(number: str) -> dict[str, Any]:
    text = {
        "title": f"Release the detained land activists ({number})",
        "summary": "Land activists were detained after a peaceful protest.",
        "actions": ["Write to the Minister of Justice"],
        "letter": "{salutation},\n\nI am {name} and I call for the release of the land activists.",
        "letter_subject": "Release the land activists",
    }
    return {
        "number": number,
        "urgent": False,
        "topics": ["land-evictions"],
        "texts": {"en": text, "km": {**text, "title": f"ដោះលែងសកម្មជនដីធ្លី ({number})"}},
        "officials": [
            {
                "name": "Minister of Justice",
                "title": "Minister",
                "organisation": "Ministry of Justice",
                "email": "minister@justice.example",
                "salutation": "Your Excellency",
            }
        ],
    }


async def publish_alert(run: Run, console: httpx.AsyncClient, intake: httpx.AsyncClient, index: int) -> None:
    """At its time, the alert goes out to everyone confirmed by then; its page is read once it is up."""
    at = run.started + ALERT_AT[index] * run.seconds
    await asyncio.sleep(max(0.0, at - time.time()))
    number = f"UA {900 + index}/{datetime.now(UTC):%y}"
    now = time.time()
    expected = {a for a, confirmed in run.confirmed.items() if confirmed <= now - SETTLE_SECONDS}
    body = alert_body(number)
    answer = await timed(
        run,
        "POST /api/v1/operator/alerts",
        at,
        202,
        lambda: console.post("/api/v1/operator/alerts", json=body),
    )
    if answer is None:
        return
    run.alerts[number] = (now, expected)
    while time.time() < run.started + run.seconds:  # the dispatcher keeps it, then its page is up
        with contextlib.suppress(httpx.HTTPError):
            if (await intake.get(f"/a/{slug(number)}")).status_code == 200:
                run.visible.append(slug(number))
                return
        await asyncio.sleep(0.5)
    note(run, f"the page of alert {number} was not up before the end of the load")


def request_for(
    run: Run, intake: httpx.AsyncClient, key: str, route: str, index: int, at: float
) -> Coroutine[Any, Any, Any] | None:
    """The request a scheduled slot sends, or None (GET /a/ before any alert page is up)."""
    name = f"Load Person {letters(index)}"
    partner = {"X-Samleng-Key": key}
    if route == "POST /api/v1/pledges":
        address = run.address("p", index)

        async def pledge() -> None:
            body = {"name": name, "country": "US", "certificate_language": "en", "channels": ["email"],
                    "email": address, "consent": True}  # fmt: skip
            if (
                await timed(
                    run, route, at, 202, lambda: intake.post("/api/v1/pledges", headers=partner, json=body)
                )
                is not None
            ):
                run.pledged[address] = at

        return pledge()
    if route == "POST /api/v1/subscriptions":
        address = run.address("s", index)

        async def subscribe() -> None:
            body = {"name": name, "country": "US", "email": address, "channels": ["email"], "language": "en",
                    "time_zone": "UTC", "consent": True}  # fmt: skip
            if (
                await timed(run, route, at, 202, lambda: intake.post("/api/v1/subscriptions", json=body))
                is not None
            ):
                run.subscribed[address] = at

        return subscribe()
    if route == "POST /api/v1/sessions/{id}/registrations":
        address = run.address("r", index)
        path = f"/api/v1/sessions/{run.session_id}/registrations"

        async def register() -> None:
            body = {"name": name, "country": "US", "email": address, "channels": ["email"], "language": "en",
                    "time_zone": "UTC", "consent": True}  # fmt: skip
            if (
                await timed(run, route, at, 202, lambda: intake.post(path, headers=partner, json=body))
                is not None
            ):
                run.registered[address] = time.time()
                run.registering[address] = at

        return register()
    if route == "GET /sessions":
        return timed(run, route, at, 200, lambda: intake.get("/sessions"))
    if not run.visible:
        return None
    page = f"/a/{run.visible[-1]}"
    return timed(run, route, at, 200, lambda: intake.get(page))


def timetable(rate: float, seconds: float, started: float) -> list[tuple[float, str, int]]:
    """Every request's intended time, route and index, in time order."""
    shares = {
        "POST /api/v1/pledges": 1.0,
        "POST /api/v1/subscriptions": SUBSCRIBE_SHARE,
        "POST /api/v1/sessions/{id}/registrations": REGISTER_SHARE,
        "GET /a/{slug}": PAGE_SHARE,
        "GET /sessions": PAGE_SHARE,
    }
    slots = []
    for route, share in shares.items():
        per_second = rate * share
        slots += [(started + i / per_second, route, i) for i in range(round(per_second * seconds))]
    return sorted(slots)


async def create_session(stack: RunningStack, console: httpx.AsyncClient, due: list[float]) -> str:
    """One online session starting well after the run, its reminders due at `due`."""
    starts = int(max(due)) + SESSION_STARTS_AFTER
    created = await console.post(
        "/api/v1/operator/sessions",
        json={
            "kind": "forum",
            "texts": {"en": {"title": "Forum under load"}, "km": {"title": "វេទិកា"}},
            "starts_at": datetime.fromtimestamp(starts, UTC).isoformat(),
            "ends_at": datetime.fromtimestamp(starts + 3600, UTC).isoformat(),
            "mode": "online",
            "join_link": "https://zoom.example/j/900?pwd=load",
            "reminder_seconds": [starts - int(d) for d in due],
        },
    )
    created.raise_for_status()
    session_id = str(created.json()["session_id"])
    async with httpx.AsyncClient(base_url=stack.intake_url, timeout=HTTP_TIMEOUT) as intake:
        waited = time.monotonic()
        while (await intake.get(f"/sessions/{session_id}")).status_code != 200:
            if time.monotonic() - waited > 120:  # nothing else runs yet: the scheduler is stuck
                raise RuntimeError("the event-scheduler never kept the session (is it running?)")
            await asyncio.sleep(0.5)
    return session_id


def outstanding(run: Run) -> int:
    """Messages still expected at the sink."""
    got = {(m.to, kind_of_mail(run, m)) for m in run.mail}
    missing = sum((a, "certificate") not in got for a in run.pledged)
    missing += sum((a, "confirmation") not in got for a in run.subscribed)
    missing += sum((a, "registered") not in got for a in run.registered)
    for number, (_, expected) in run.alerts.items():
        missing += sum((a, f"alert {number}") not in got for a in expected)
    reminders = {(m.to, reminder_due(run, m)) for m in run.mail if kind_of_mail(run, m) == "reminder"}
    for due in run.due:
        if due <= time.time():
            missing += sum(
                (a, due) not in reminders for a, at in run.registered.items() if at <= due - SETTLE_SECONDS
            )
    return missing


def kind_of_mail(run: Run, mail: Mail) -> str:
    kind = run.kind_of(mail.to)
    if kind == "p":
        return "certificate"
    if mail.subject.startswith("Please confirm"):
        return "confirmation"
    if mail.subject.startswith("Registered:"):
        return "registered"
    if mail.subject.startswith("Reminder:"):
        return "reminder"
    number = next((n for n in run.alerts if f"Urgent Action {n}:" in mail.subject), None)
    return f"alert {number}" if number else f"other: {mail.subject[:40]}"


def reminder_due(run: Run, mail: Mail) -> float | None:
    """The due time a reminder answers: the latest one before it arrived (they are far apart)."""
    return max((d for d in run.due if d <= mail.at + 1.0), default=None)


async def load(stack: RunningStack, rate: float, seconds: float) -> Run:
    key = partner_key(stack)
    operator = {"Authorization": f"Bearer {operator_token(stack)}"}
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=50)
    async with (
        httpx.AsyncClient(base_url=stack.console_url, headers=operator, timeout=HTTP_TIMEOUT) as console,
        httpx.AsyncClient(base_url=stack.intake_url, limits=limits, timeout=HTTP_TIMEOUT) as intake,
    ):
        started = time.time() + 10  # once the session is kept
        due = [float(int(started + f * seconds)) for f in REMINDER_AT]
        session_id = await create_session(stack, console, due)
        run = Run(uuid.uuid4().hex[:6], max(started, time.time() + 1), seconds, session_id, due)
        followers: set[asyncio.Task[None]] = set()
        watcher = asyncio.create_task(watch_mail(run, stack.run_dir / "mail", stack.intake_url, followers))
        alerts = [asyncio.create_task(publish_alert(run, console, intake, i)) for i in range(len(ALERT_AT))]
        sent: list[asyncio.Task[Any]] = []
        next_report = run.started + 10
        for at, route, index in timetable(rate, seconds, run.started):
            await asyncio.sleep(max(0.0, at - time.time()))
            request = request_for(run, intake, key, route, index, at)
            if request is not None:
                sent.append(asyncio.create_task(request))
            if at >= next_report:
                next_report += 10
                print(progress(run), flush=True)
        await asyncio.gather(*sent, *alerts)
        print("load done; draining the mail:", progress(run), flush=True)
        run.last_mail = time.time()
        while time.time() - run.last_mail < QUIET_SECONDS and (outstanding(run) or followers):  # noqa: ASYNC110
            await asyncio.sleep(1)  # the sink is files: polled, as watch_mail does
        if watcher.done():
            watcher.result()  # what stopped it: the figures would be wrong
        watcher.cancel()
        await asyncio.gather(*followers)
    return run


def progress(run: Run) -> str:
    requests = sum(s.requests for s in run.routes.values())
    errors = sum(sum(s.errors.values()) for s in run.routes.values())
    return (
        f"t={time.time() - run.started:.0f}s requests={requests} errors={errors} mail={len(run.mail)} "
        f"confirmed={len(run.confirmed)} outstanding={outstanding(run)}"
    )


def downstream(run: Run) -> list[dict[str, Any]]:
    """Per kind of message: expected, delivered, duplicates, extra, and latency figures."""
    by_kind: dict[str, list[Mail]] = defaultdict(list)
    for mail in run.mail:
        by_kind[kind_of_mail(run, mail)].append(mail)

    def row(name: str, kind: str, since: dict[str, float]) -> dict[str, Any]:
        """`since`: each expected recipient's start of the latency."""
        expected = set(since)
        first: dict[str, float] = {}
        copies: Counter[str] = Counter()
        for mail in by_kind.get(kind, []):
            copies[mail.to] += 1
            first[mail.to] = min(first.get(mail.to, mail.at), mail.at)
        latencies = [first[a] - since[a] for a in expected if a in first]
        return {
            "what": name,
            "expected": len(expected),
            "delivered": len(expected & set(first)),
            "duplicates": sum(n - 1 for n in copies.values()),
            "extra": len(set(first) - expected),
            "p50": percentile(latencies, 0.5),
            "p99": percentile(latencies, 0.99),
            "max": max(latencies) if latencies else None,
        }

    rows = [
        row("certificates (from the pledge's intended time)", "certificate", run.pledged),
        row("subscription confirmations (from the request's intended time)", "confirmation", run.subscribed),
        row("registration confirmations (from the request's intended time)", "registered", run.registering),
    ]
    for number, (published, expected) in run.alerts.items():
        rows.append(
            row(f"alert {number} (from the publish)", f"alert {number}", dict.fromkeys(expected, published))
        )
    reminders = by_kind.get("reminder", [])
    for due in run.due:
        by_kind[f"reminder {due}"] = [m for m in reminders if reminder_due(run, m) == due]
        expected = {a for a, at in run.registered.items() if at <= due - SETTLE_SECONDS}
        when = f"{due - run.started:.0f} s into the run"
        rows.append(
            row(
                f"reminders due {when} (lateness from the due time)",
                f"reminder {due}",
                dict.fromkeys(expected, due),
            )
        )
    return rows


def health(logged: str) -> str:
    """What the stack's log says about the run: services log warnings and errors only, and the
    supervisor says when it restarted a process that died."""
    lines = [line.split("| ", 1) for line in logged.splitlines() if "| " in line]
    restarts = sum(1 for who, said in lines if who.split()[-1] == "system" and " restarted " in said)
    complaints = Counter(who.split()[-1] for who, _ in lines if who.split()[-1] != "system")
    by_process = ", ".join(f"{name} {count}" for name, count in complaints.most_common()) or "none"
    return f"The stack's log over the run: {restarts} process restarts; warning or error lines by process: {by_process}."


def markdown(run: Run, rate: float, cpu: dict[str, float], wall: float, logged: str, command: str) -> str:
    def ms(value: float | None) -> str:
        return "—" if value is None else f"{value * 1000:.0f}"

    def s(value: float | None) -> str:
        return "—" if value is None else f"{value:.2f}"

    lines = [
        SECTION,
        "",
        f"Command: `{command}`",
        f"Run: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}; the stack as `make run` starts it (one process each, everything "
        f"on this machine). Open-loop: pledges at {rate:g}/s (partner key, email channel), subscriptions "
        f"and registrations at {SUBSCRIBE_SHARE:g}× and {REGISTER_SHARE:g}× that, each confirmation email's "
        f"link followed as a person does (GET the page, POST its form); two alerts published at "
        f"{', '.join(f'{f:.0%}' for f in ALERT_AT)} of the run, the session's reminders due at "
        f"{', '.join(f'{f:.0%}' for f in REMINDER_AT)}; the public alert page and the calendar read at "
        f"{PAGE_SHARE:g}× the pledge rate. Latency from the intended send time; errors are 5xx, "
        f"connection errors, timeouts ({HTTP_TIMEOUT:g} s) and any other unexpected status.",
        "",
        "| route | requests | error rate | 5xx | connection | timeout | unexpected | p50 (ms) | p99 (ms) | max (ms) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for route, stats in sorted(run.routes.items()):
        errors = sum(stats.errors.values())
        lat = stats.latencies
        lines.append(
            f"| `{route}` | {stats.requests} | {errors / max(1, stats.requests):.2%} | {stats.errors['5xx']} | "
            f"{stats.errors['connection']} | {stats.errors['timeout']} | {stats.errors['unexpected']} | "
            f"{ms(percentile(lat, 0.5))} | {ms(percentile(lat, 0.99))} | {ms(max(lat) if lat else None)} |"
        )
    lines += [
        "",
        "Downstream, counted at the SMTP sink (expected: answered 202 / confirmed / registered at least "
        f"{SETTLE_SECONDS:g} s before the publish or due time; extra: reached but not expected, e.g. "
        "confirmed in the last seconds before the publish; delivered: at the sink when the drain ended, "
        f"once everything expected had arrived or nothing new had for {QUIET_SECONDS:g} s):",
        "",
        "| messages | delivered / expected | duplicates | extra | p50 (s) | p99 (s) | max (s) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in downstream(run):
        lines.append(
            f"| {r['what']} | {r['delivered']} / {r['expected']} | {r['duplicates']} | {r['extra']} | "
            f"{s(r['p50'])} | {s(r['p99'])} | {s(r['max'])} |"
        )
    lines += [
        "",
        f"CPU seconds by process over the load and its drain ({wall:.0f} s of wall time, "
        f"{sum(cpu.values()):.0f} CPU s in all):",
        "",
        "| process | CPU s | share of one core |",
        "|---|---|---|",
    ]
    lines += [
        f"| {name} | {used:.1f} | {used / wall:.0%} |"
        for name, used in sorted(cpu.items(), key=lambda c: -c[1])
    ]
    lines += ["", health(logged)]
    return "\n".join(lines) + "\n"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=10, help="pledges per second")
    parser.add_argument("--seconds", type=float, default=600)
    parser.add_argument("--write", type=Path, default=None, help="the docs/benchmarks.md to update")
    args = parser.parse_args()
    run_dir = Path(tempfile.mkdtemp(prefix="bench-load-")) / "run"
    run_dir.mkdir()
    stack = start_stack(run_dir, **LIMITS)
    try:
        cpu_before, logged_before = cpu_by_process(stack), len(stack.log())
        began = time.time()
        run = await load(stack, args.rate, args.seconds)
        wall = time.time() - began
        cpu_after, logged = cpu_by_process(stack), stack.log()[logged_before:]
    finally:
        stack.interrupt(timeout=60)
    cpu = {name: used - cpu_before.get(name, 0.0) for name, used in cpu_after.items()}
    command = ".venv/bin/python bench/load.py " + " ".join(sys.argv[1:])
    text = markdown(run, args.rate, cpu, wall, logged, command.strip())
    print(text)
    print(f"the stack's log: {stack.log_path}; problems: {len(run.problems)}")
    if args.write is not None:
        write_section(args.write, SECTION, text)


if __name__ == "__main__":
    asyncio.run(main())
