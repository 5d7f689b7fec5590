"""Each process's own RabbitMQ user, on a real broker: the permissions in deploy/access.yml suffice,
and they are not broader than what the process needs from another process's share.

The users are created by the very script compose's `rabbitmq-init` runs (deploy/rabbitmq/
init-users.sh, generated from access.yml), in a vhost of their own on the session's private
RabbitMQ node. Every Samleng process of the Procfile then runs as a real OS process with AMQP_URL
on its own user and must get ready; a pledge submitted to intake must travel intake ->
pledge-intake -> certificate-renderer -> alert-dispatcher -> email channel (each publishing with its
own user), the email channel's retries and dead letter (default exchange) must work, and the
operators' user must read that dead letter with `samleng dlq list`. A process started with another
process's user must be refused.

MongoDB users cannot be tried here: the local Mongo-wire server (SecantusDB) has no
authentication. tests/deploy/test_mongodb_access.py checks their roles against the code instead.
"""

from __future__ import annotations

import importlib.util
import json
import os
import secrets
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
from pymongo import MongoClient

from devstack.broker import RABBIT_BIN, RabbitNode
from devstack.config import read_procfile
from tests.support.ports import free_port
from tests.support.processes import ServiceProcess, wait_until

pytestmark = pytest.mark.timeout(600)

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "deploy" / "rabbitmq" / "init-users.sh"
SECRET = "access-test-secret-key-0123456789abcdef"
REFUSED = "ACCESS_REFUSED"


def load_access() -> ModuleType:
    spec = importlib.util.spec_from_file_location("deploy_access", ROOT / "deploy" / "access.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


ACCESS = load_access().load()


class Broker:
    def __init__(self, node: RabbitNode, vhost: str, passwords: dict[str, str]) -> None:
        self.node, self.vhost, self.passwords = node, vhost, passwords

    def url(self, user: str) -> str:
        return f"amqp://{user}:{self.passwords[user]}@127.0.0.1:{self.node.amqp_port}/{self.vhost}"


@pytest.fixture(scope="module")
def broker(rabbit: RabbitNode) -> Iterator[Broker]:
    """A fresh vhost with every process's user, made by the generated init script."""
    vhost = f"access-{uuid.uuid4().hex[:8]}"
    passwords = {name: secrets.token_hex(16) for name in ACCESS.processes}
    env = dict(
        rabbit.env(),
        PATH=f"{RABBIT_BIN}:{os.environ['PATH']}",
        RABBITMQ_VHOST=vhost,
        RABBITMQ_ADMIN_USER="guest",  # the test node's admin, for the test's own look-ups
        **{ACCESS.processes[name].rabbitmq_password_var: pw for name, pw in passwords.items()},
    )
    done = subprocess.run(["sh", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout + done.stderr
    yield Broker(rabbit, vhost, passwords)
    rabbit.ctl("delete_vhost", vhost)  # its queues and permissions; the users die with the node


def test_the_init_script_is_idempotent_and_sets_exactly_the_listed_permissions(
    broker: Broker, rabbit: RabbitNode
) -> None:
    env = dict(
        rabbit.env(),
        PATH=f"{RABBIT_BIN}:{os.environ['PATH']}",
        RABBITMQ_VHOST=broker.vhost,
        **{ACCESS.processes[name].rabbitmq_password_var: pw for name, pw in broker.passwords.items()},
    )
    again = subprocess.run(["sh", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=240)
    assert again.returncode == 0, again.stdout + again.stderr
    rows = [
        line.split("\t") for line in rabbit.ctl("-s", "list_permissions", "-p", broker.vhost).splitlines()
    ]
    listed = {row[0]: tuple(row[1:4]) for row in rows if row[0] != "guest"}
    assert listed == {p.name: (p.configure, p.write, p.read) for p in ACCESS.processes.values()}
    missing = dict(env)
    del missing[ACCESS.processes["intake"].rabbitmq_password_var]
    refused = subprocess.run(["sh", str(SCRIPT)], env=missing, capture_output=True, text=True, timeout=240)
    assert refused.returncode != 0 and "INTAKE_RABBITMQ_PASSWORD" in refused.stderr


def process_env(broker: Broker, user: str, mongo_uri: str, db_name: str, run_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AMQP_", "MONGODB_", "PYTEST"))}
    dead = free_port()  # nobody listens: providers and SMTP are unreachable, sends are retried
    env.update(
        AMQP_URL=broker.url(user),
        MONGODB_URI=mongo_uri,
        MONGODB_DATABASE=db_name,
        LOG_FORMAT="json",
        LOG_LEVEL="INFO",
        SAMLENG_HEALTH_DIR=str(run_dir / "health"),
        HEALTH_PORT="0",
        RETRY_DELAYS_MS="[300,900]",
        SHUTDOWN_GRACE_SECONDS="5",
        INTAKE_SECRET_KEY=SECRET,
        INTAKE_PORT=str(free_port()),
        CONSOLE_SECRET_KEY=SECRET,
        CONSOLE_PORT=str(free_port()),
        SANDBOX_URL=f"http://127.0.0.1:{dead}",
        EMAIL_SMTP_HOST="127.0.0.1",
        EMAIL_SMTP_PORT=str(dead),
        CHANNEL_BREAKER_THRESHOLD="100",
        POST_API_KEY="test_access_key",
    )
    return env


def service_processes() -> dict[str, str]:
    """Procfile process -> module, for every Samleng process (infrastructure excluded)."""
    return {
        e.name: e.command.split(" -m ", 1)[1].split()[0]
        for e in read_procfile(ROOT / "Procfile")
        if e.is_service
    }


def test_every_procfile_process_has_a_user_running_its_module() -> None:
    processes = service_processes()
    assert set(processes) == set(ACCESS.processes) - {"ops"}
    for name, module in processes.items():
        assert ACCESS.processes[name].module == module, name


@pytest.fixture(scope="module")
def stack(
    broker: Broker, mongo_uri: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    run_dir = tmp_path_factory.mktemp("access-stack")
    db_name = f"t_{uuid.uuid4().hex[:12]}"
    procs: dict[str, ServiceProcess] = {}
    urls: dict[str, str] = {}
    try:
        for name, module in service_processes().items():
            env = process_env(broker, name, mongo_uri, db_name, run_dir)
            procs[name] = ServiceProcess(module, env, run_dir / f"{name}.log", f"{name}.1").start()
        failures = {}
        for name, proc in procs.items():
            try:
                urls[name] = proc.wait_ready(timeout=120)
            except (RuntimeError, TimeoutError) as error:
                failures[name] = str(error)[-1500:]
        assert not failures, "not ready on their own users:\n" + "\n\n".join(
            f"{k}: {v}" for k, v in failures.items()
        )
        yield {"procs": procs, "urls": urls, "db_name": db_name, "run_dir": run_dir}
    finally:
        for proc in procs.values():  # all at once, then wait for each
            if proc.process is not None and proc.process.poll() is None:
                proc.process.send_signal(signal.SIGTERM)
        for proc in procs.values():
            proc.terminate(15)


def test_every_process_gets_ready_with_its_own_user(stack: dict[str, Any]) -> None:
    assert set(stack["urls"]) == set(service_processes())


def test_a_pledge_travels_the_whole_chain_each_process_on_its_own_user(
    stack: dict[str, Any], broker: Broker, mongo_uri: str, rabbit: RabbitNode
) -> None:
    procs: dict[str, ServiceProcess] = stack["procs"]
    with httpx.Client(base_url=stack["urls"]["intake"], timeout=30) as client:
        accepted = client.post(
            "/api/v1/pledges",
            json={
                "name": "Sok Dara",
                "country": "US",
                "channels": ["email"],
                "email": "dara@example.org",
                "consent": True,
            },
        )
    assert accepted.status_code == 202, accepted.text
    pledge_id = accepted.json()["pledge_id"]
    mongo: MongoClient[dict[str, Any]] = MongoClient(mongo_uri)
    try:
        db = mongo[stack["db_name"]]
        wait_until(lambda: db.pledges.find_one({"_id": pledge_id}), 60, message="pledge-intake recorded it")
        wait_until(lambda: db.certificates.find_one({"pledge_id": pledge_id}), 120, message="certificate")
        wait_until(
            lambda: db.deliveries.find_one({"correlation_id": pledge_id, "channel": "email"}),
            60,
            message="the dispatcher created the email delivery",
        )
    finally:
        mongo.close()
    # SMTP is unreachable: the channel retries through its retry tiers, then dead-letters (both by
    # the default exchange), and the operators' user reads the dead letter.
    wait_until(
        lambda: any(r.get("event") == "retry scheduled" for r in procs["email"].log_records()),
        60,
        message="email scheduled a retry",
    )
    queues = wait_until(lambda: dead_letter_queues(rabbit, broker.vhost), 60, message="a dead letter")
    listed = subprocess.run(
        [sys.executable, "-m", "ops.cli", "dlq", "list", queues[0], "--json"],
        env=dict(os.environ, AMQP_URL=broker.url("ops")),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert listed.returncode == 0, listed.stdout + listed.stderr
    letters = [json.loads(line) for line in listed.stdout.splitlines() if line.startswith("{")]
    assert letters and letters[0]["reason"], listed.stdout
    for name, proc in procs.items():
        assert REFUSED not in proc.logs(), f"{name} was refused something:\n{proc.logs()[-2000:]}"


def dead_letter_queues(rabbit: RabbitNode, vhost: str) -> list[str]:
    rows = rabbit.ctl("-s", "list_queues", "-p", vhost, "name", "messages").splitlines()
    return [name for name, count in (r.split("\t") for r in rows) if name.endswith(".dlq") and int(count) > 0]


@pytest.mark.parametrize(
    ("process", "user"),
    [("pledge-intake", "certificate-renderer"), ("email", "post"), ("event-scheduler", "alert-dispatcher")],
)
def test_a_process_on_another_process_user_is_refused(
    process: str, user: str, broker: Broker, mongo_uri: str, tmp_path: Path
) -> None:
    env = process_env(broker, user, mongo_uri, f"t_{uuid.uuid4().hex[:12]}", tmp_path)
    proc = ServiceProcess(
        service_processes()[process], env, tmp_path / "wrong.log", f"{process}.wrong"
    ).start()
    try:
        with pytest.raises((RuntimeError, TimeoutError)):
            proc.wait_ready(timeout=30)
        deadline = time.monotonic() + 10
        while REFUSED not in proc.logs() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert REFUSED in proc.logs(), proc.logs()[-2000:]
    finally:
        proc.terminate(15)
