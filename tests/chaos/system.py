"""What a fault-injection scenario does to the running system, and how it counts the outcome.

    members = seed_members(stack, "broker")                 # straight into pledge-intake's store, sealed
    _, published_at = publish_alert(stack, "UA 901/26")     # through the console's operator API
    ... inject the fault (kill, stop, hold a port) ...
    got = settle(stack, members)                            # counted AT THE SMTP SINK
    figures = Figures.of("broker-sigkill", fault, load, members, got, published_at)
    figures.record(stack)                                   # printed, and a JSON line in the run dir
    figures.assert_exactly_once(got)

Counting: every figure a scenario asserts on comes from what the outside world received — the
SMTP sink's JSON API (Mailpit's shape) — never from our own database. Our database and the broker are read only to decide WHEN to inject a fault (e.g.
"a quarter of the deliveries exist") and whether the system has gone quiet.

Waiting: bounded by progress, not by a wall clock tuned on an idle machine. A wait fails only
when nothing moved (no new message at the sink, no change in the queues) for `STALL_SECONDS`,
and says what it saw last.
"""

from __future__ import annotations

import asyncio
import copy
import json
import os
import statistics
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from dotenv import dotenv_values
from pydantic import SecretStr
from pymongo import AsyncMongoClient, MongoClient

from shared.personal_data import BlindIndex, PersonalDataSettings, Vault, contact_key, seal_fields
from tests.support.stack import RunningStack

FULL = os.environ.get("CHAOS_SCALE", "").lower() == "full"
SIZE = 10_000 if FULL else 1_000
"""Members each fan-out scenario reaches: 10,000 in `make chaos`, 1,000 in `make test`."""
STALL_SECONDS = 180.0
"""A wait fails after this long without any progress. Longer than the longest pause the chaos
stack can make on purpose (the last retry tier before it, 60 s; a restart backoff, 30 s), with
room for a busy machine."""
CHAOS_SETTINGS = {
    # two replicas of every channel the scenarios kill, and of the scheduler
    "SCALE": "email=2,signal=2,whatsapp=2,event-scheduler=2",
    # shorter timers than the defaults, so a recovery takes a minute, not an hour; the mechanisms
    # are the same (.env.example documents each)
    "RETRY_DELAYS_MS": "[1000, 5000, 15000, 60000]",
    "CHANNEL_CLAIM_LEASE_SECONDS": "10",
    "CHANNEL_BREAKER_COOLDOWN_SECONDS": "5",
    "SCHEDULER_LEASE_SECONDS": "10",
}
DOMAIN = "chaos.example"
REMINDER_AHEAD_SECONDS = 300
PERSONAL = ("name", "email", "email_confirmed", "unsubscribe_token")
ALERT_TEXTS = {
    "en": {
        "title": "Release Sok Vanna",
        "summary": "Opposition activist Sok Vanna was sentenced in a mass trial.",
        "actions": ["Write to the Minister of Justice"],
        "letter": "{salutation},\n\nI am {name} and I call for the release of Sok Vanna.",
        "letter_subject": "Release Sok Vanna",
    },
    "km": {
        "title": "ដោះលែង សុខ វណ្ណា",
        "summary": "សកម្មជន សុខ វណ្ណា ត្រូវបានកាត់ទោសក្នុងការកាត់ក្តីជាក្រុម។",
        "actions": ["សរសេរទៅរដ្ឋមន្ត្រីក្រសួងយុត្តិធម៌"],
        "letter": "{salutation},\n\nខ្ញុំឈ្មោះ {name} សូមអំពាវនាវឱ្យដោះលែង សុខ វណ្ណា។",
        "letter_subject": "ដោះលែង សុខ វណ្ណា",
    },
}
OFFICIAL = {
    "name": "Minister of Justice",
    "title": "Minister",
    "organisation": "Ministry of Justice",
    "email": "minister@justice.example",
    "salutation": "Your Excellency",
}


# ---- the stack's own secrets and stores ---------------------------------------------------------


def stack_secrets(stack: RunningStack) -> dict[str, str]:
    """What `make run` generated into .run/secrets.env (master key, blind-index key, the local
    operator's API token)."""
    found = dotenv_values(stack.run_dir / "secrets.env")
    return {k: v for k, v in found.items() if v is not None}


def mongodb_uri(stack: RunningStack) -> str:
    return f"mongodb://127.0.0.1:{stack.port('SAMLENG_MONGO_PORT')}/?retryWrites=false"


_clients: dict[str, MongoClient[Any]] = {}


def database(stack: RunningStack) -> Any:
    """The stack's database (one synchronous client per stack): for triggers, never for figures."""
    uri = mongodb_uri(stack)
    if uri not in _clients:
        _clients[uri] = MongoClient(uri, tz_aware=True)
    return _clients[uri][stack.env.get("MONGODB_DATABASE", "samleng")]


# ---- members -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Members:
    """The members a scenario seeded: their emails, all at `@<scenario>.chaos.example`."""

    scenario: str
    addresses: frozenset[str]

    @property
    def domain(self) -> str:
        return f"{self.scenario}.{DOMAIN}"


def seed_members(stack: RunningStack, scenario: str, count: int = SIZE) -> Members:
    """`count` members who opted in to alerts by email, written as pledge-intake stores them
    (personal fields sealed under each member's own data key, contact keys blinded). Members
    seeded by earlier scenarios are opted out first, so each fan-out reaches only its own."""
    return asyncio.run(_seed_members(stack, scenario, count))


async def _seed_members(stack: RunningStack, scenario: str, count: int) -> Members:
    blind = BlindIndex(SecretStr(stack_secrets(stack)["SAMLENG_BLIND_INDEX_KEY"]))
    client, db, vault = await _open(stack)
    try:
        await db.members.update_many({"alerts_opt_in": True}, {"$set": {"alerts_opt_in": False}})
        ids = [f"mb_chaos_{scenario}_{i:05d}" for i in range(count)]
        addresses = [f"m{i:05d}@{scenario}.{DOMAIN}" for i in range(count)]
        for start in range(0, count, 500):
            chunk = list(zip(ids[start : start + 500], addresses[start : start + 500], strict=True))
            await vault.keys_for(member_id for member_id, _ in chunk)
            docs = [
                await seal_fields(
                    vault,
                    member_id,
                    {
                        "_id": member_id,
                        "country": "US",
                        "language": "en",
                        "channels": ["email"],
                        "alerts_opt_in": True,
                        "discreet": False,
                        "personal_rev": 1,
                        "name": f"Member {member_id[-5:]}",
                        "email": address,
                        "email_confirmed": address,
                        "unsubscribe_token": f"tok_{member_id}_{'z' * 16}",
                    },
                    PERSONAL,
                )
                for member_id, address in chunk
            ]
            await db.members.insert_many(docs)
            await db.member_keys.insert_many(
                [{"_id": contact_key("email", a, blind), "member_id": m} for m, a in chunk]
            )
    finally:
        await vault.close()
        await client.close()
    return Members(scenario, frozenset(addresses))


def seed_registrants(
    stack: RunningStack, scenario: str, due: list[datetime], count: int = SIZE
) -> tuple[Members, dict[str, float]]:
    """One in-person session per entry of `due` (when its one reminder falls due; it starts
    REMINDER_AHEAD_SECONDS later) and `count` registrants spread over them, with unique emails at `@<scenario>.chaos.example`:
    written as the event-scheduler keeps them (registrations sealed under their own data keys,
    the reminder records it computed), as tests/support/sessions.py seeds them. Returns them and
    when each one's reminder falls due (epoch seconds)."""
    return asyncio.run(_seed_registrants(stack, scenario, due, count))


async def _seed_registrants(
    stack: RunningStack, scenario: str, due: list[datetime], count: int
) -> tuple[Members, dict[str, float]]:
    from services.scheduler.schedule import normalized, upcoming
    from services.scheduler.store import PERSONAL as REGISTRATION_PERSONAL
    from services.scheduler.store import reminder_document
    from shared.contracts.erasure import contact_digests
    from shared.contracts.pledge import Contact
    from tests.support.sessions import make_session, registration

    client, db, vault = await _open(stack)
    try:
        now = datetime.now(UTC)
        sessions = [
            normalized(
                make_session(
                    f"ss_chaos_{scenario}_{n:02d}",
                    at + timedelta(seconds=REMINDER_AHEAD_SECONDS),
                    reminder_seconds=[REMINDER_AHEAD_SECONDS],
                    mode="in-person",
                )
            )
            for n, at in enumerate(due)
        ]
        addresses: list[str] = []
        due_at: dict[str, float] = {}
        registrations: list[dict[str, Any]] = []
        reminders: list[dict[str, Any]] = []
        for i in range(count):
            session = sessions[i % len(sessions)]
            address = f"r{i:05d}@{scenario}.{DOMAIN}"
            data = registration(session.session_id, i).data
            registrant = data.registrant.model_copy(update={"contact": Contact(email=address)})
            doc: dict[str, Any] = {
                "_id": data.registration_id,
                "session_id": data.session_id,
                "registrant": registrant.model_dump(mode="json"),
                "ideas": data.ideas,
                "consent": data.consent.model_dump(),
                "submitted_at": data.submitted_at,
                "state": "registered",
                "recorded_at": now,
                "event_id": "seeded",
                "contact_digests": contact_digests(registrant.contact, vault.blind),
            }
            addresses.append(address)
            due_at[address] = due[i % len(sessions)].timestamp()
            registrations.append(doc)
            reminders += [
                reminder_document(session.session_id, doc, due, "seeded", now)
                for due in upcoming(session, data.registration_id, now)
            ]
        for start in range(0, count, 500):
            chunk = registrations[start : start + 500]
            await vault.keys_for(str(d["_id"]) for d in chunk)
            sealed = [await seal_fields(vault, str(d["_id"]), d, REGISTRATION_PERSONAL) for d in chunk]
            await db.registrations.insert_many(sealed)
        for session in sessions:
            await db.sessions.insert_one({"_id": session.session_id, **session.model_dump()})
        for start in range(0, len(reminders), 2000):
            await db.reminders.insert_many(reminders[start : start + 2000])
        assert len(reminders) == count, f"{len(reminders)} reminder records for {count} registrants"
    finally:
        await vault.close()
        await client.close()
    return Members(scenario, frozenset(addresses)), due_at


async def _open(stack: RunningStack) -> tuple[AsyncMongoClient[Any], Any, Vault]:
    """A client on the stack's database and a vault on its keys (as its processes have them)."""
    keys = stack_secrets(stack)
    settings = PersonalDataSettings(
        _env_file=None,
        master_key=SecretStr(keys["SAMLENG_MASTER_KEY"]),
        blind_index_key=SecretStr(keys["SAMLENG_BLIND_INDEX_KEY"]),
    )
    client: AsyncMongoClient[Any] = AsyncMongoClient(mongodb_uri(stack), tz_aware=True)
    db = client[stack.env.get("MONGODB_DATABASE", "samleng")]
    return client, db, await Vault.open(db, settings)


# ---- the operator API ---------------------------------------------------------------------------


def operator_headers(stack: RunningStack) -> dict[str, str]:
    return {"Authorization": f"Bearer {stack_secrets(stack)['SAMLENG_OPERATOR_TOKEN']}"}


def publish_alert(stack: RunningStack, number: str) -> tuple[str, float]:
    """An ordinary (not urgent) alert for every topic, published through the console's operator
    API as an operator does; its id and the wall-clock time it was accepted."""
    body = {
        "number": number,
        "urgent": False,
        "topics": ["political-prisoners"],
        "texts": copy.deepcopy(ALERT_TEXTS),
        "officials": [OFFICIAL],
    }
    answer = httpx.post(
        f"{stack.console_url}/api/v1/operator/alerts", headers=operator_headers(stack), json=body, timeout=60
    )
    assert answer.status_code == 202, answer.text
    return str(answer.json()["alert_id"]), time.time()


# ---- the SMTP sink -------------------------------------------------------------------------------


def sink_url(stack: RunningStack) -> str:
    return f"http://127.0.0.1:{stack.port('SAMLENG_MAIL_UI_PORT')}/api/v1"


def arrived_so_far(stack: RunningStack, members: Members) -> int:
    """A cheap progress reading while a scenario runs: the sink's stored envelopes for the
    scenario's domain (the sink keeps one JSON sidecar per message it accepted). The final
    figures come from the sink's JSON API (`received`)."""
    count = 0
    for sidecar in (stack.run_dir / "mail").glob("*.json"):
        try:
            recipients = json.loads(sidecar.read_text()).get("to", [])
        except (OSError, ValueError):
            continue  # being written
        count += sum(1 for r in recipients if r.endswith("@" + members.domain))
    return count


@dataclass(frozen=True)
class Received:
    """Messages the sink's JSON API lists for a scenario's members: how many each address got,
    and when each arrived (epoch seconds)."""

    per_address: Counter[str]
    arrivals: dict[str, list[float]]


def received(stack: RunningStack, members: Members) -> Received:
    """Read from the SMTP sink's JSON API (the list, as Mailpit answers it)."""
    listing = httpx.get(f"{sink_url(stack)}/messages", timeout=600).json()
    per_address: Counter[str] = Counter()
    arrivals: dict[str, list[float]] = {}
    for message in listing["messages"]:
        for to in message["To"]:
            if to["Address"].endswith("@" + members.domain):
                per_address[to["Address"]] += 1
                at = datetime.fromisoformat(message["Created"]).timestamp()
                arrivals.setdefault(to["Address"], []).append(at)
    return Received(per_address, arrivals)


# ---- the broker and the processes ---------------------------------------------------------------


def queue_depths(stack: RunningStack, contains: str) -> dict[str, int]:
    """Messages (ready + unacknowledged) in each queue whose name contains `contains` (retry and
    dead-letter queues included), from the management API; {} while the broker is down."""
    url = f"http://127.0.0.1:{stack.port('SAMLENG_RABBITMQ_MANAGEMENT_PORT')}/api/queues"
    try:
        answer = httpx.get(url, auth=("guest", "guest"), timeout=10)
    except httpx.HTTPError:
        return {}
    if answer.status_code != 200:
        return {}
    return {q["name"]: int(q.get("messages", 0)) for q in answer.json() if contains in q["name"]}


def registrations(stack: RunningStack) -> dict[str, dict[str, Any]]:
    """Each service replica's health registration (`email.1` -> its pid and URL)."""
    found = {}
    for path in (stack.run_dir / "health").glob("*.json"):
        try:
            found[path.stem] = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
    return found


def pid_of(stack: RunningStack, marker: str) -> int:
    """The pid of the stack's one live process whose command line contains `marker`."""
    found = [pid for pid, cmdline in stack.processes() if marker in cmdline]
    assert len(found) == 1, f"{marker!r}: {found}"
    return found[0]


def broker_vm_pid(stack: RunningStack) -> int:
    """The Erlang VM of the stack's RabbitMQ node: the broker itself."""
    return pid_of(stack, "beam.smp")


# ---- waiting and figures ------------------------------------------------------------------------


def wait_for(
    what: str, check: Callable[[], bool], progress: Callable[[], object], every: float = 0.5
) -> float:
    """Ask `check` until it holds; fail only when `progress()` (any reading that changes while
    the system works) has not changed for STALL_SECONDS. Returns the seconds it took."""
    started = last_change = time.monotonic()
    last = progress()
    while not check():
        time.sleep(every)
        now = progress()
        if now != last:
            last, last_change = now, time.monotonic()
        assert time.monotonic() - last_change < STALL_SECONDS, (
            f"{what}: no progress for {STALL_SECONDS:.0f}s; last reading: {last}"
        )
    return time.monotonic() - started


DONE_QUIET_SECONDS = 10.0
"""With every email in, how long every queue must stay empty before the scenario ends: two of
the management API's 5 s statistics intervals, so a late copy still in a queue is seen."""
GIVE_UP_QUIET_SECONDS = 30.0
"""With some emails still missing, how long every queue must stay empty and the sink unchanged
before the scenario counts them as lost (nothing is in flight anywhere by then)."""


def settle(stack: RunningStack, members: Members) -> Received:
    """Wait until the system is done — every queue but the dead-letter ones empty, and either
    every member's email arrived (then DONE_QUIET_SECONDS more: a late duplicate would still be
    in a queue) or
    nothing moved for GIVE_UP_QUIET_SECONDS (the rest is lost) — then read the sink."""
    expected = len(members.addresses)
    quiet: list[tuple[float, int]] = []

    def done() -> bool:
        arrived = arrived_so_far(stack, members)
        depths = queue_depths(stack, "samleng.")
        if not depths or any(n for name, n in depths.items() if not name.endswith(".dlq")):
            quiet.clear()
            return False
        if quiet and quiet[0][1] != arrived:
            quiet.clear()
        quiet.append((time.monotonic(), arrived))
        enough = DONE_QUIET_SECONDS if arrived >= expected else GIVE_UP_QUIET_SECONDS
        return quiet[-1][0] - quiet[0][0] >= enough

    wait_for(
        f"{expected} emails to {members.domain}",
        done,
        lambda: (arrived_so_far(stack, members), queue_depths(stack, "samleng.")),
    )
    return received(stack, members)


def dead_lettered(stack: RunningStack) -> dict[str, int]:
    """The dead-letter queues that hold anything."""
    return {name: n for name, n in queue_depths(stack, "samleng.").items() if name.endswith(".dlq") and n}


@dataclass
class Figures:
    """One scenario's measured outcome, as docs/reliability.md tabulates it."""

    scenario: str
    fault: str
    load: str
    members: int
    delivered: int
    lost: int
    duplicated: int
    duration_s: float
    p50_s: float
    p99_s: float
    size: str = field(default_factory=lambda: "full" if FULL else "reduced")
    notes: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of(
        cls,
        scenario: str,
        fault: str,
        load: str,
        members: Members,
        got: Received,
        due: float | Mapping[str, float],
    ) -> Figures:
        """`due`: when the messages were asked for (an alert's publication, epoch seconds), or
        for each address when its message fell due (a reminder); latency is arrival minus that."""
        latencies = sorted(
            max(0.0, at - (due if isinstance(due, float) else due[address]))
            for address, times in got.arrivals.items()
            for at in times
        ) or [0.0]
        return cls(
            scenario=scenario,
            fault=fault,
            load=load,
            members=len(members.addresses),
            delivered=len(set(got.per_address) & members.addresses),
            lost=len(members.addresses - set(got.per_address)),
            duplicated=sum(n - 1 for n in got.per_address.values() if n > 1),
            duration_s=round(latencies[-1], 1),
            p50_s=round(statistics.median(latencies), 1),
            p99_s=round(latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))], 1),
        )

    def record(self, stack: RunningStack) -> None:
        """Print the figures and append them as one JSON line to <run dir>/chaos-results.jsonl
        (and to $CHAOS_RESULTS when set, so `make chaos` keeps them after the run dir is gone)."""
        line = json.dumps({**asdict(self), "at": datetime.now(UTC).isoformat(timespec="seconds")})
        print(f"\nCHAOS {line}")
        paths = [stack.run_dir / "chaos-results.jsonl"]
        if os.environ.get("CHAOS_RESULTS"):
            paths.append(Path(os.environ["CHAOS_RESULTS"]))
        for path in paths:
            with path.open("a") as out:
                out.write(line + "\n")

    def assert_exactly_once(self, got: Received) -> None:
        twice = sorted(a for a, n in got.per_address.items() if n > 1)
        assert self.lost == 0 and self.duplicated == 0, (
            f"{self.scenario}: {self.lost} of {self.members} members got nothing, "
            f"{self.duplicated} extra copies (e.g. {twice[:5]})"
        )
