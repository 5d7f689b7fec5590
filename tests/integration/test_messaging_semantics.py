"""The delivery semantics every service relies on, on the real broker and Mongo-wire server.

Each test names one mechanism and fails when it is removed: the unique-key effect, the retry
tiers, the dead-letter queue and its replay command, redelivery after a crash, and reconnection
after a broker restart.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import aio_pika
import httpx
import pytest

from devstack.broker import RabbitNode
from tests.support.processes import ServiceProcess, pid_alive, wait_until

pytestmark = pytest.mark.timeout(240)


def start_probe(
    service_env: dict[str, str], tmp_path: Path, group: str, replica: str = "probe.1", **extra: str
) -> ServiceProcess:
    env = dict(service_env, PROBE_GROUP=group, **extra)
    proc = ServiceProcess("tests.support.probe", env, tmp_path / f"{replica}.log", replica).start()
    proc.wait_ready()
    return proc


def publish(
    service_env: dict[str, str], tmp_path: Path, events: list[dict[str, Any]], **spec: Any
) -> subprocess.Popen[str]:
    spec_path = tmp_path / f"spec-{uuid.uuid4().hex[:6]}.json"
    spec_path.write_text(json.dumps({"events": events, **spec}))
    return subprocess.Popen(
        [sys.executable, "-m", "tests.support.publish_probe", str(spec_path)],
        env=service_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def samleng(service_env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ops.cli", *args],
        env=service_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def count(collection: Any, query: dict[str, Any] | None = None) -> int:
    return int(await collection.count_documents(query or {}))


async def eventually(predicate: Any, timeout: float = 20.0, message: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = await predicate()
        if value:
            return value
        await asyncio.sleep(0.1)
    raise AssertionError(f"{message} not met within {timeout}s")


def group_name() -> str:
    return f"probe-{uuid.uuid4().hex[:8]}"


async def test_event_published_by_one_process_is_consumed_by_another_and_persisted_exactly_once(
    service_env: dict[str, str], tmp_path: Path, db: Any
) -> None:
    worker = start_probe(service_env, tmp_path, group_name())
    try:
        publisher = publish(service_env, tmp_path, [{"key": "once"}, {"key": "other"}], repeat=2)
        out, err = publisher.communicate(timeout=60)
        assert publisher.returncode == 0, err
        assert out.count("confirmed") == 4
        await eventually(lambda: _gte(count(db.attempts), 4), message="all four deliveries handled")
        assert await count(db.attempts, {"key": "once"}) == 2, "the duplicate was delivered, not lost"
        assert await count(db.effects, {"_id": "once"}) == 1
        assert await count(db.effects) == 2
        assert {a["pid"] for a in await db.attempts.find().to_list(None)} == {worker.process.pid}  # type: ignore[union-attr]
    finally:
        worker.terminate()


async def _gte(value: Any, expected: int) -> bool:
    return bool(await value >= expected)


async def test_retryable_error_is_retried_with_growing_delays_through_the_tiers_then_succeeds(
    service_env: dict[str, str], tmp_path: Path, db: Any
) -> None:
    worker = start_probe(service_env, tmp_path, group_name())
    try:
        publish(service_env, tmp_path, [{"key": "flaky", "fail_until_attempt": 3}]).communicate(timeout=60)
        await eventually(lambda: db.effects.find_one({"_id": "flaky"}), message="effect after retries")
        attempts = await db.attempts.find({"key": "flaky"}).sort("at", 1).to_list(None)
        assert [a["attempt"] for a in attempts] == [1, 2, 3]
        first_gap = (attempts[1]["at"] - attempts[0]["at"]).total_seconds()
        second_gap = (attempts[2]["at"] - attempts[1]["at"]).total_seconds()
        assert first_gap >= 0.29, first_gap  # tier 1: 300 ms
        assert second_gap >= 0.89, second_gap  # tier 2: 900 ms
        assert second_gap > first_gap
        records = worker.log_records()
        retries = [r for r in records if r.get("event") == "retry scheduled"]
        assert [r["attempt"] for r in retries] == [1, 2]
        assert retries[0]["retry_queue"].endswith(".retry.300ms")
        assert retries[1]["retry_queue"].endswith(".retry.900ms")
        assert any(r.get("event") == "probe handled" and r.get("attempt") == 3 for r in records)
    finally:
        worker.terminate()


async def test_poison_message_lands_in_dead_letter_queue_with_reason_and_can_be_listed_and_replayed(
    service_env: dict[str, str], tmp_path: Path, db: Any
) -> None:
    group = group_name()
    dlq = f"samleng.{group}.dlq"
    worker = start_probe(service_env, tmp_path, group)
    try:
        publish(
            service_env, tmp_path, [{"key": "poison", "poison": True}, {"key": "doomed", "permanent": True}]
        ).communicate(timeout=60)
        await eventually(lambda: _gte(count(db.attempts, {"key": "poison"}), 3), message="three attempts")

        def listed() -> list[dict[str, Any]]:
            result = samleng(service_env, "dlq", "list", dlq, "--json")
            assert result.returncode == 0, result.stderr
            return [json.loads(line) for line in result.stdout.splitlines()]

        letters = wait_until(lambda: len(listed()) == 2 and listed(), message="two dead letters")
        by_reason = {letter["reason"]: letter for letter in letters}
        assert set(by_reason) == {"retries-exhausted", "probe-permanent"}
        assert by_reason["retries-exhausted"]["attempts"] == 3
        assert by_reason["retries-exhausted"]["error"] == "RuntimeError", "the type, never the text"
        assert by_reason["probe-permanent"]["attempts"] == 1
        assert await count(db.attempts, {"key": "poison"}) == 3, "no attempt beyond the configured three"
        assert await count(db.attempts, {"key": "doomed"}) == 1, "permanent errors are not retried"
        assert len(listed()) == 2, "listing does not consume"

        await db.fixes.insert_one({"_id": "poison"})
        poison_id = by_reason["retries-exhausted"]["message_id"]
        replayed = samleng(service_env, "dlq", "replay", dlq, "--id", poison_id)
        assert replayed.returncode == 0, replayed.stderr
        assert "replayed 1" in replayed.stdout
        await eventually(lambda: db.effects.find_one({"_id": "poison"}), message="replayed message handled")
        remaining = listed()
        assert [letter["reason"] for letter in remaining] == ["probe-permanent"]
        assert samleng(service_env, "dlq", "drop", dlq, "--all").returncode == 0
        assert listed() == []
    finally:
        worker.terminate()


async def test_invalid_payload_is_dead_lettered_at_once_with_the_field_that_failed(
    service_env: dict[str, str], tmp_path: Path, db: Any, rabbit: RabbitNode
) -> None:
    group = group_name()
    worker = start_probe(service_env, tmp_path, group)
    try:
        connection = await aio_pika.connect(rabbit.url)
        channel = await connection.channel()
        exchange = await channel.get_exchange("samleng")
        body = json.dumps({"type": "test.probe.v1", "correlation_id": "x", "data": {"kee": "typo"}}).encode()
        await exchange.publish(
            aio_pika.Message(body, type="test.probe.v1", message_id="bad-1"), "test.probe.v1"
        )
        await connection.close()
        letters = wait_until(
            lambda: [
                json.loads(x)
                for x in samleng(
                    service_env, "dlq", "list", f"samleng.{group}.dlq", "--json"
                ).stdout.splitlines()
            ],
            message="dead letter",
        )
        assert letters[0]["reason"] == "invalid-payload"
        assert "data.key: Field required" in letters[0]["error"]
        assert await count(db.attempts) == 0
    finally:
        worker.terminate()


async def test_consumer_sigkilled_mid_handling_gets_message_redelivered_and_effect_happens_once(
    service_env: dict[str, str], tmp_path: Path, db: Any
) -> None:
    group = group_name()
    first = start_probe(service_env, tmp_path, group, "probe.1")
    publish(service_env, tmp_path, [{"key": "crash", "sleep_after_effect_s": 60}]).communicate(timeout=60)
    await eventually(lambda: db.effects.find_one({"_id": "crash"}), message="effect done before the crash")
    first.kill()  # mid-handling: effect written, message not acknowledged

    second = start_probe(service_env, tmp_path, group, "probe.2")
    try:
        await eventually(lambda: _gte(count(db.attempts, {"key": "crash"}), 2), message="redelivery")
        attempts = await db.attempts.find({"key": "crash"}).sort("at", 1).to_list(None)
        assert attempts[1]["redelivered"] is True
        assert attempts[1]["pid"] == second.process.pid  # type: ignore[union-attr]
        assert await count(db.effects, {"_id": "crash"}) == 1
        url = second.wait_ready()
        metrics = (await asyncio.to_thread(httpx.get, url + "/metrics")).text
        assert (
            f'samleng_messages_consumed_total{{outcome="ack",queue="samleng.{group}",type="test.probe.v1"}} 1.0'
            in metrics
        )
    finally:
        second.terminate()


async def test_broker_restart_mid_stream_loses_no_persistent_message_and_services_reconnect_by_themselves(
    service_env: dict[str, str], tmp_path: Path, db: Any, rabbit: RabbitNode
) -> None:
    total = 300
    env = dict(service_env, PUBLISH_TIMEOUT_SECONDS="60")
    worker = start_probe(env, tmp_path, group_name())
    worker_pid = worker.process.pid  # type: ignore[union-attr]
    publisher = publish(env, tmp_path, [{"key": f"m{i}"} for i in range(total)], rate=100)
    try:
        await eventually(lambda: _gte(count(db.effects), 50), message="stream under way")
        await asyncio.to_thread(rabbit.stop_server_only)
        await asyncio.sleep(1)
        await asyncio.to_thread(rabbit.start_server_only)
        out, err = publisher.communicate(timeout=120)
        assert publisher.returncode == 0, err[-2000:]
        assert out.count("confirmed") == total
        await eventually(
            lambda: _gte(count(db.effects), total), timeout=60, message="every message persisted"
        )
        assert await count(db.effects) == total
        assert worker.process.poll() is None and worker.process.pid == worker_pid  # type: ignore[union-attr]
        assert pid_alive(worker_pid)
        worker.wait_ready(timeout=30)  # readiness green again without a restart
    finally:
        if publisher.poll() is None:
            publisher.kill()
        worker.terminate()


async def test_message_that_keeps_killing_its_consumers_is_dead_lettered_by_the_broker(
    service_env: dict[str, str], tmp_path: Path, db: Any
) -> None:
    group = group_name()
    env = dict(service_env, AMQP_DELIVERY_LIMIT="1", PROBE_GROUP=group)
    first = start_probe(env, tmp_path, group, "probe.1")
    publish(env, tmp_path, [{"key": "killer", "crash_process": True}]).communicate(timeout=60)
    assert first.process is not None
    assert first.process.wait(30) == 3, "the poison message crashed the first consumer"
    second = ServiceProcess("tests.support.probe", env, tmp_path / "probe.2.log", "probe.2").start()
    assert second.process is not None
    assert second.process.wait(30) == 3, "and the next one"
    survivor = start_probe(env, tmp_path, group, "probe.3")
    try:
        letters = wait_until(
            lambda: [
                json.loads(x)
                for x in samleng(env, "dlq", "list", f"samleng.{group}.dlq", "--json").stdout.splitlines()
            ],
            message="dead letter",
        )
        assert letters[0]["reason"] == "broker:delivery_limit"
        assert await count(db.attempts, {"key": "killer"}) == 2, "no third crash"
    finally:
        survivor.terminate()
