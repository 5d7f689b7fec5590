"""What encrypting personal data costs on the delivery path: the same work with encryption on
(SAMLENG_MASTER_KEY set: one data key per member, shared/personal_data.py) and off, in the same run.

    .venv/bin/python bench/crypto.py [--count 500] [--rounds 2] [--write docs/benchmarks.md]

Email channel: `count` delivery requests are queued while one email channel process is stopped,
then it starts and the clock runs from its first status to the last `sent` one (bench/delivery.py's
method). On: the requests are sealed for their members as the dispatcher seals them (one data key
per member, created beforehand) and the channel opens each one before composing the email; off:
the same requests in plain text, a channel without keys.
Dispatcher: `count` certificate.issued events (one member each, email chosen) are queued while
the dispatcher is stopped; the clock runs from its start to the `count`-th delivery request on the
exchange. On, each delivery also encrypts the request's personal fields with the member's data key
(read from `key_vault` once per member and process) before the delivery insert and publish. The
members' keys exist beforehand, as they will once pledge-intake encrypts members when it records
them; a third row has members with no key yet, so the dispatcher creates each one (first contact).
Pledge-intake: `count` pledge.submitted events (one new person each, email chosen) are queued while
pledge-intake is stopped; the clock runs from its start to the `count`-th pledge.recorded on the
exchange. On, the events are sealed as intake seals them (a data key per pledge, named for the
pledge and its own member, created by the publisher here, before the clock) and pledge-intake
opens each one, seals the member under the same key and publishes pledge.recorded sealed; off,
all of it plain.
Rounds alternate the order (off/on, then on/off) so a machine busy with other work weighs on both.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import platform
import secrets
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._stack import Stack, local_stack, write_section
from bench.delivery import CONNECTIONS, certificate_files, count_on, issued_events, request
from shared.contracts import utcnow
from shared.contracts.delivery import DeliveryRequested, DeliveryStatus
from shared.contracts.pledge import Consent, Contact, PledgeRecorded, PledgeSubmitted, PledgeSubmittedData
from shared.messaging.connection import connect
from shared.messaging.publisher import Publisher
from shared.personal_data import PersonalDataSettings, Vault
from tests.support.infra import MailSink
from tests.support.processes import ServiceProcess

KEYS = {
    "SAMLENG_MASTER_KEY": base64.b64encode(os.urandom(96)).decode(),
    "SAMLENG_BLIND_INDEX_KEY": secrets.token_urlsafe(32),
}


def env_for(stack: Stack, encrypted: bool, **extra: str) -> dict[str, str]:
    return stack.service_env(**extra, **(KEYS if encrypted else {}))


async def run_until_counted(
    stack: Stack,
    module: str,
    env: dict[str, str],
    binding: str,
    count: int,
    label: str,
    events: list[Any],
    sealing: Vault | None = None,
) -> float:
    """Queue `events` (sealed with `sealing`, as a process with keys publishes them) while `module`
    is stopped, start it, and return the rate of what it emits."""
    first = ServiceProcess(module, env, stack.tmp / f"{label}-setup.log", f"{label}.0").start()
    first.wait_ready()
    first.terminate()
    connection = await connect(stack.node.url, "bench")
    publisher = await Publisher.open(connection, "samleng")
    publisher.vault = sealing
    for start in range(0, len(events), 200):
        await publisher.publish_many(events[start : start + 200])
    ready = asyncio.Event()
    stamps: dict[str, float] = {}
    counter = asyncio.create_task(count_on(stack.node.url, binding, count, ready, stamps))
    await ready.wait()
    proc = ServiceProcess(module, env, stack.tmp / f"{label}.log", f"{label}.1").start()
    launched = time.perf_counter()
    await counter
    proc.terminate()
    await connection.close()
    end = stamps["last"]
    return count / (end - (stamps["first"] if module.startswith("services.channels") else launched))


async def email_rate(
    stack: Stack,
    db: Any,
    vault: Vault,
    sink: MailSink,
    files: tuple[str, str],
    count: int,
    encrypted: bool,
    tag: str,
) -> float:
    events = []
    for i in range(count):
        event = request(i, *files)
        data = event.data.model_copy(
            update={
                "delivery_id": f"dl_{tag}{i:012d}",
                "recipient": event.data.recipient.model_copy(update={"member_id": f"mb_{tag}{i}"}),
            }
        )
        if encrypted:
            personal, blank = data.split_personal()
            data = blank.model_copy(
                update={"encrypted": await vault.seal(data.recipient.member_id, personal)}
            )
        events.append(DeliveryRequested(correlation_id=f"pl_{tag}{i}", data=data))
    env = env_for(
        stack,
        encrypted,
        **sink.client_env(),
        EMAIL_SMTP_CONNECTIONS=str(CONNECTIONS),
        EMAIL_RATE_PER_SECOND="100000",
    )
    binding = f"{DeliveryStatus.event_type()}.email"
    return await run_until_counted(
        stack, "services.channels.email", env, binding, count, f"email-{tag}", events
    )


async def dispatcher_rate(
    stack: Stack, db: Any, vault: Vault, count: int, encrypted: bool, tag: str, new_members: bool = False
) -> float:
    await db.members.insert_many(
        [
            {
                "_id": f"mb_{tag}{i}",
                "name": "Sok Dara",
                "country": "US",
                "language": "en",
                "email": f"{tag}{i}@example.org",
                "channels": ["email"],
                "unsubscribe_token": f"tok{tag}{i:08d}" + "x" * 20,
            }
            for i in range(count)
        ]
    )
    events = issued_events(tag, count)
    if encrypted and not new_members:
        await vault.keys_for(f"mb_{tag}{i}" for i in range(count))
    env = env_for(stack, encrypted, DISPATCHER_PUBLIC_BASE_URL="http://127.0.0.1:8000")
    binding = f"{DeliveryRequested.event_type()}.#"
    rate = await run_until_counted(
        stack, "services.dispatcher", env, binding, count, f"dispatcher-{tag}", events
    )
    await purge(stack.node.url, "samleng.channel-email.low")  # nobody sends these
    return rate


def submitted_events(tag: str, count: int) -> list[PledgeSubmitted]:
    now = utcnow()
    return [
        PledgeSubmitted(
            correlation_id=f"pl_{tag}{i:08d}",
            data=PledgeSubmittedData(
                pledge_id=f"pl_{tag}{i:08d}",
                source="api",
                submitted_at=now,
                name=f"Sok Dara {tag} {i}",
                country="US",
                certificate_language="en",
                channels=["email"],
                contact=Contact(email=f"{tag}.{i}@example.org"),
                consent=Consent(text_version="bench", locale="en", accepted_at=now),
            ),
        )
        for i in range(count)
    ]


async def pledge_rate(stack: Stack, vault: Vault, count: int, encrypted: bool, tag: str) -> float:
    env = env_for(stack, encrypted)
    binding = PledgeRecorded.event_type()
    return await run_until_counted(
        stack,
        "services.pledge_intake",
        env,
        binding,
        count,
        f"pledge-intake-{tag}",
        submitted_events(tag, count),
        vault if encrypted else None,
    )


async def purge(url: str, name: str) -> None:
    import aio_pika

    connection = await aio_pika.connect(url)
    channel = await connection.channel()
    queue = await channel.declare_queue(name, passive=True)
    await queue.purge()
    await connection.close()


async def main() -> None:
    from gridfs import AsyncGridFSBucket
    from pydantic import SecretStr
    from pymongo import AsyncMongoClient

    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--write", type=Path, default=Path("docs/benchmarks.md"))
    args = parser.parse_args()
    pdf, png = certificate_files()
    email: dict[bool, list[float]] = {False: [], True: []}
    dispatch: dict[bool, list[float]] = {False: [], True: []}
    first_contact: list[float] = []
    pledges: dict[bool, list[float]] = {False: [], True: []}
    with local_stack() as stack:
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(
            stack.mongo_uri, tz_aware=True, uuidRepresentation="standard"
        )
        db = client["bench"]
        settings = PersonalDataSettings(
            _env_file=None,  # type: ignore[call-arg]
            master_key=SecretStr(KEYS["SAMLENG_MASTER_KEY"]),
            blind_index_key=SecretStr(KEYS["SAMLENG_BLIND_INDEX_KEY"]),
        )
        vault = await Vault.open(db, settings)
        bucket = AsyncGridFSBucket(db, bucket_name="certificate_files")
        files = (
            str(await bucket.upload_from_stream("c.pdf", pdf)),
            str(await bucket.upload_from_stream("c.png", png)),
        )
        sink = MailSink(stack.tmp / "mail").start()
        try:
            for round_ in range(args.rounds):
                order = (False, True) if round_ % 2 == 0 else (True, False)
                for encrypted in order:
                    tag = f"{'on' if encrypted else 'off'}{round_}"
                    email[encrypted].append(
                        await email_rate(stack, db, vault, sink, files, args.count, encrypted, f"e{tag}")
                    )
                for encrypted in order:
                    tag = f"{'on' if encrypted else 'off'}{round_}"
                    rate = await dispatcher_rate(stack, db, vault, args.count, encrypted, f"d{tag}")
                    dispatch[encrypted].append(rate)
                rate = await dispatcher_rate(
                    stack, db, vault, args.count, True, f"dnew{round_}", new_members=True
                )
                first_contact.append(rate)
                for encrypted in order:
                    tag = f"p{'on' if encrypted else 'off'}{round_}"
                    pledges[encrypted].append(await pledge_rate(stack, vault, args.count, encrypted, tag))
                print(
                    f"round {round_ + 1}: email {email}, dispatcher {dispatch}, new {first_contact}, "
                    f"pledges {pledges}",
                    flush=True,
                )
            delivered = len(sink.messages())
        finally:
            sink.stop()
            await vault.close()
            await client.close()
    machine = f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"

    def row(what: str, unit: str, rates: dict[bool, list[float]]) -> str:
        off, on = sum(rates[False]) / len(rates[False]), sum(rates[True]) / len(rates[True])
        each = ", ".join(f"{a:.0f}/{b:.0f}" for a, b in zip(rates[False], rates[True], strict=True))
        return f"| {what} | {off:.0f} {unit} | {on:.0f} {unit} | {on / off:.2f}x | {each} |"

    pairs = [on / off for off, on in zip(dispatch[False], dispatch[True], strict=True)]
    mean_ratio = (sum(dispatch[True]) / len(dispatch[True])) / (sum(dispatch[False]) / len(dispatch[False]))
    verdict = "meets" if mean_ratio >= 0.8 else "is just under" if mean_ratio >= 0.75 else "misses"
    section = f"""## Personal data encryption on vs off (`bench/crypto.py`)

Command: `.venv/bin/python bench/crypto.py --count {args.count} --rounds {args.rounds} --write docs/benchmarks.md`
({machine}; private RabbitMQ node, SecantusDB, the local SMTP sink; {CONNECTIONS} SMTP connections;
{args.count} deliveries per measurement, {args.rounds} rounds in alternating order, mean shown).

| Path | Off | On | On / off (goal >= 0.80x) | Each round (off/on) |
|---|---|---|---|---|
{row("Email channel: request -> sent (opens the sealed request)", "emails/s", email)}
{row("Dispatcher: certificate.issued -> delivery.requested (seals for the member)", "deliveries/s", dispatch)}
{row("Dispatcher, first contact: creates each member's key, then seals", "deliveries/s", {False: dispatch[False], True: first_contact})}
{row("Pledge-intake: pledge.submitted -> pledge.recorded (opens, seals member, pledge, consents)", "pledges/s", pledges)}

The email channel delivered {delivered} of {2 * args.rounds * args.count} messages to the sink.
On, the channel decrypts one value per request (the personal fields are sealed together: one
encryption per delivery). Each member's data key is read from `key_vault` and unwrapped once per
process (then libmongocrypt caches it for 60 s; ~40 us per decrypt after that), so a delivery costs
one more indexed read, next to the claim, the GridFS reads and the SMTP exchange. The dispatcher
seals once per delivery with the key of a member it has not seen yet read the same way; on first
contact it also creates the key (a key-vault read and a journaled insert: the price of one key per
member, paid once).

Two lookups of the local Mongo-wire server (SecantusDB) made "on" 0.10-0.48x in a first run: it
scans the whole key vault for libmongocrypt's `$or` key fetch (59 ms per fetch at 2,000 keys,
0.8 ms by `_id`) and for lookups that only the key vault's partial unique index on `keyAltNames`
could serve (28 ms, 0.6 ms with a plain index). The vault now answers the fetch from the two
indexes (`IndexedKeyLookups`) and adds a plain `keyAltNames` index (shared/personal_data.py);
MongoDB plans both on its indexes anyway.

The dispatcher rows vary from round to round on this shared 2-core machine (other test suites ran
alongside; the dispatcher is bound by the Mongo-wire server, one Python process): "on" was {min(pairs):.2f}x to
{max(pairs):.2f}x of the "off" run next to it; the mean {verdict} the 0.8x goal.
Pledge-intake, on: per pledge it opens the sealed submission (one key read: the pledge's key was
made by intake) and encrypts the member and the pledge.recorded event under that same key (the
pledge's own member shares it, a seal alias made with the key): profiled with py-spy, creating and
then fetching a second key per member was most of the cost (0.77x before, 0.9x after).
Alert fan-out (`bench/fanout.py`) still runs without keys: one extra key read per member applies there too.
"""
    print(section)
    if args.write:
        write_section(args.write, "## Personal data encryption on vs off", section)


if __name__ == "__main__":
    asyncio.run(main())
