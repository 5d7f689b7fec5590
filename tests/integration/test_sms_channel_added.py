"""The SMS channel was added the way an operator adds one (issue #18): in a copy of the repository,
`samleng channel remove sms` takes away its folder and its registration, `samleng channel new sms
--address-kind phone --inbound` and the folder's own code put it back, and then

- nothing outside services/channels/sms/, the Procfile and the deploy files differs from this
  tree (the scaffold's registration, plus the provider settings an operator adds by hand in the
  deploy files), and no code outside the folder names the channel;
- a pledge choosing `sms`, made through intake's API, reaches the SMS sandbox as a text once its
  owner has texted our number (which confirms it), every process running from the copy.

Real: RabbitMQ, the Mongo-wire server, intake, pledge-intake, the certificate renderer, the
dispatcher, the sms and sms-inbound processes and the local sandbox, as processes. Faked: Twilio
(the sandbox beside the channel, services/channels/sms/sandbox.py).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.integration.test_channel_scaffold import repo_copy, run  # noqa: F401 - the fixture
from tests.support.ports import free_port
from tests.support.processes import ServiceProcess

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.timeout(900)
TOKEN = "sms-auth-token-for-tests"
PHONE = "+15625550177"
INTAKE_SECRET = "intake-secret-key-for-tests-0123456789"


def registration_or_folder(path: str) -> bool:
    return (
        path.startswith("services/channels/sms/")
        or path in ("Procfile", "docker-compose.yml")
        or path.startswith("deploy/")
    )


def changed_paths(repo: Path) -> list[str]:
    status = run(["git", "status", "--porcelain", "--untracked-files=all"], repo).stdout.splitlines()
    return sorted(line[3:] for line in status)


class CopyProcess(ServiceProcess):
    """A Samleng process started from the copy (its code, its channel folders)."""

    def __init__(self, copy: Path, module: str, env: dict[str, str], tmp: Path, name: str) -> None:
        super().__init__(module, env, tmp / f"{name}.log", name)
        self.copy = copy

    def start(self) -> CopyProcess:
        env = dict(self.env, SAMLENG_PROCESS_NAME=self.name, PYTHONUNBUFFERED="1", PYTHONPATH=str(self.copy))
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", self.module],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.copy,
            )
        return self


@pytest.fixture
def added(repo_copy: Path) -> Path:  # noqa: F811 - the fixture imported above
    """The copy with SMS removed and added again with the scaffold and the folder's code."""
    removed = run([sys.executable, "-m", "ops.cli", "channel", "remove", "sms"], repo_copy)
    assert removed.returncode == 0, removed.stderr
    for path in ("Procfile", "docker-compose.yml", "deploy/access.yml", "deploy/compose.prod.yml"):
        assert not re.search(r"\bsms\b", (repo_copy / path).read_text(), re.IGNORECASE), path
    created = run(
        [sys.executable, "-m", "ops.cli", "channel", "new", "sms", "--address-kind", "phone", "--inbound"],
        repo_copy,
    )
    assert created.returncode == 0, created.stderr
    folder = repo_copy / "services" / "channels" / "sms"
    shutil.rmtree(folder)
    shutil.copytree(
        ROOT / "services" / "channels" / "sms", folder, ignore=shutil.ignore_patterns("__pycache__")
    )
    documented = run([sys.executable, "-m", "ops.cli", "docs"], repo_copy)  # after editing channel.toml
    assert documented.returncode == 0, documented.stderr
    return repo_copy


def test_adding_sms_changed_only_its_folder_the_procfile_and_the_deploy_files(added: Path) -> None:
    outside = [path for path in changed_paths(added) if not registration_or_folder(path)]
    assert outside == [], run(["git", "diff", "--stat"], added).stdout
    # What the operator adjusted by hand after the scaffold: SMS's own provider settings.
    adjusted = run(["git", "diff", "--stat", "--", "Procfile", "docker-compose.yml", "deploy"], added).stdout
    print(adjusted)
    assert "Procfile" not in adjusted, "the scaffold wrote the Procfile lines as they are"


def test_no_code_outside_the_folder_names_the_channel() -> None:
    literal = re.compile(r"""["']sms["']""")
    named = [
        str(path.relative_to(ROOT))
        for top in ("shared", "services", "devstack", "ops")
        for path in (ROOT / top).rglob("*.py")
        if "services/channels/sms/" not in str(path) and "/tests/" not in str(path)
        if literal.search(path.read_text())
    ]
    assert named == []


@pytest.fixture
def stack(added: Path, service_env: dict[str, str], tmp_path: Path) -> Iterator[dict[str, Any]]:
    webhook_port, sandbox_port, intake_port = free_port(), free_port(), free_port()
    webhooks = f"http://127.0.0.1:{webhook_port}/webhooks/sms"
    sandbox_url = f"http://127.0.0.1:{sandbox_port}"
    env = {
        **service_env,
        "SANDBOX_URL": sandbox_url,
        "SAMLENG_RUN_DIR": str(tmp_path / "run"),
        "SAMLENG_SANDBOX_PORT": str(sandbox_port),
        "SANDBOX_SMS_AUTH_TOKEN": TOKEN,
        "SANDBOX_SMS_INBOUND_URL": f"{webhooks}/inbound",
        "SMS_API_TOKEN": TOKEN,
        "SMS_FROM_NUMBER": "+15550002222",
        "SMS_WEBHOOK_BASE_URL": webhooks,
        "SMS_WEBHOOK_PORT": str(webhook_port),
        "INTAKE_SECRET_KEY": INTAKE_SECRET,
        "INTAKE_PORT": str(intake_port),
        "INTAKE_PUBLIC_BASE_URL": f"http://127.0.0.1:{intake_port}",
    }
    processes: list[ServiceProcess] = [
        CopyProcess(added, module, env, tmp_path, name)
        for module, name in (
            ("devstack.sandbox", "sandbox"),
            ("services.intake", "intake.1"),
            ("services.pledge_intake", "pledge-intake.1"),
            ("services.certificates", "certificate-renderer.1"),
            ("services.dispatcher", "alert-dispatcher.1"),
            ("services.channels.sms", "sms.1"),
            ("services.channels.sms.inbound", "sms-inbound.1"),
        )
    ]
    for process in processes:
        process.start()
    try:
        wait_up(f"{sandbox_url}/health/ready", processes[0])
        urls = {process.name: process.wait_ready(timeout=120) for process in processes[1:]}
        yield {"sandbox": sandbox_url, "intake": urls["intake.1"], "processes": processes}
    finally:
        ServiceProcess.stop_all(processes)


def wait_up(url: str, process: ServiceProcess, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise TimeoutError(f"{process.name} not up:\n{process.logs()[-3000:]}")


def test_a_pledge_choosing_sms_reaches_the_sms_sandbox(stack: dict[str, Any]) -> None:
    sandbox, intake = stack["sandbox"], stack["intake"]
    served = httpx.get(f"{sandbox}/health/ready", timeout=10).json()["providers"]
    assert "sms" in served, "the local sandbox serves the fake beside the channel"
    accepted = httpx.post(
        f"{intake}/api/v1/pledges",
        json={
            "name": "សុខ ដារ៉ា",
            "country": "US",
            "certificate_language": "km",
            "channels": ["sms"],
            "phone": PHONE,
            "consent": True,
        },
        timeout=30,
    )
    assert accepted.status_code == 202, accepted.text
    # Its owner texts our number: that confirms it, and the waiting certificate goes.
    texted = httpx.post(f"{sandbox}/sms/_inbound", json={"from": PHONE, "body": "Hello"}, timeout=10)
    assert texted.status_code == 201 and texted.json()["webhook"] is True

    deadline = time.monotonic() + 240
    messages: list[dict[str, Any]] = []
    while time.monotonic() < deadline and not messages:
        messages = httpx.get(f"{sandbox}/sms/_messages", params={"to": PHONE}, timeout=10).json()["messages"]
        time.sleep(0.5)
    logs = "\n".join(f"--- {p.name}\n{p.logs()[-1500:]}" for p in stack["processes"])
    assert messages, f"no SMS reached the sandbox\n{logs}"
    [sent] = messages
    assert "វិញ្ញាបនបត្រ KCAP-" in sent["body"] and "/v/KCAP-" in sent["body"]
    assert sent["encoding"] == "UCS-2"
    callbacks = httpx.get(f"{sandbox}/sms/_callbacks", timeout=10).json()["callbacks"]
    assert any(c["ok"] for c in callbacks if c["url"].endswith("/inbound")), "the text was taken, signed"
