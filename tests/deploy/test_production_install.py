"""What the image installs starts every process (no Docker engine here, so not the image itself).

The package is installed exactly as `deploy/Dockerfile`'s build stage does — the same files
copied, the same `pip install` line, into a fresh virtual environment, without dev extras — and
every Samleng process of the Procfile is started from that environment, outside the source tree
(so nothing is imported from the checkout), against the test session's real RabbitMQ node and
Mongo-wire server, until each answers `/health/ready`. A module only the dev extras provide
(aiosmtplib, before it became a main dependency, killed 9 of the 13) fails this test.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from devstack.broker import RabbitNode
from devstack.config import read_procfile
from shared.channels.catalogue import catalogue
from tests.support.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
DEV_ONLY = ("secantusdb", "aiosmtpd", "pytest", "playwright", "hypothesis", "mypy", "ruff")
# Generous, and progress-bound: each wait ends as soon as the process is ready or has exited.
INSTALL_TIMEOUT_SECONDS = 900
READY_TIMEOUT_SECONDS = 240


def build_stage() -> tuple[list[tuple[list[str], str]], list[str]]:
    """The build stage's COPY lines (sources, destination) and its `pip install` arguments."""
    text = DOCKERFILE.read_text()
    stages = re.split(r"^FROM .*$", text, flags=re.M)
    build = stages[1]
    copies = []
    for line in build.splitlines():
        if line.startswith("COPY ") and "--from" not in line:
            *sources, destination = shlex.split(line[len("COPY ") :])
            copies.append((sources, destination))
    [run] = [line for line in build.splitlines() if line.startswith("RUN ") and "pip install" in line]
    install = shlex.split(run.split("pip install", 1)[1].split("&&", 1)[0])
    return copies, install


@pytest.fixture(scope="module")
def image_env(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A virtual environment holding what the image holds."""
    work = tmp_path_factory.mktemp("image")
    src = work / "src"
    src.mkdir()
    copies, install = build_stage()
    for sources, destination in copies:
        target = src if destination in ("./", ".") else src / destination
        for source in sources:
            path = ROOT / source
            if path.is_dir():
                shutil.copytree(path, target, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                target.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, target / path.name)
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    result = subprocess.run(
        [str(venv / "bin" / "pip"), "install", "--disable-pip-version-check", "-q", *install],
        cwd=src,
        capture_output=True,
        text=True,
        timeout=INSTALL_TIMEOUT_SECONDS,
    )
    assert result.returncode == 0, f"pip install as the Dockerfile does failed:\n{result.stderr[-4000:]}"
    return venv


@dataclass
class Started:
    name: str
    process: subprocess.Popen[bytes]
    log: Path


def samleng_processes() -> list[tuple[str, str]]:
    entries = [e for e in read_procfile(ROOT / "Procfile") if e.is_service]
    return [(e.name, e.command.split(" -m ", 1)[1].split()[0]) for e in entries]


@pytest.fixture
def started(
    image_env: Path, rabbit: RabbitNode, mongo_uri: str, db_name: str, tmp_path: Path
) -> Iterator[tuple[list[Started], Path]]:
    health = tmp_path / "health"
    outside = tmp_path / "cwd"  # not the checkout: every import must come from the installed package
    outside.mkdir()
    env = {
        "PATH": f"{image_env / 'bin'}{os.pathsep}/usr/bin:/bin",
        "HOME": str(tmp_path),
        "PYTHONUNBUFFERED": "1",
        "AMQP_URL": rabbit.url,
        "MONGODB_URI": mongo_uri,
        "MONGODB_DATABASE": db_name,
        "LOG_FORMAT": "json",
        "SAMLENG_HEALTH_DIR": str(health),
        "HEALTH_PORT": "0",
        "INTAKE_PORT": str(free_port()),
        "CONSOLE_PORT": str(free_port()),
        "INTAKE_PUBLIC_BASE_URL": "https://samleng.example.org",
        "CERTIFICATES_PUBLIC_BASE_URL": "https://samleng.example.org",
        "DISPATCHER_PUBLIC_BASE_URL": "https://samleng.example.org",
        "INTAKE_SECRET_KEY": "production-install-test-secret-0123456789",
        "CONSOLE_SECRET_KEY": "production-install-test-console-0123456789",
        "CONSOLE_PUBLIC_SITE_URL": "https://samleng.example.org",
        "EMAIL_SMTP_HOST": "127.0.0.1",
        "EMAIL_SMTP_PORT": str(free_port()),
        "POST_API_URL": f"http://127.0.0.1:{free_port()}/lob",
        "POST_API_KEY": "test_production_install",
        "SIGNAL_API_URL": f"http://127.0.0.1:{free_port()}/signal",
        "SIGNAL_WEBHOOK_PORT": str(free_port()),
        "WHATSAPP_API_URL": f"http://127.0.0.1:{free_port()}/whatsapp",
        "WHATSAPP_ACCESS_TOKEN": "wa-token",
        "WHATSAPP_APP_SECRET": "wa-secret",
        "WHATSAPP_VERIFY_TOKEN": "wa-verify",
        "WHATSAPP_WEBHOOK_PORT": str(free_port()),
        "MESSENGER_API_URL": f"http://127.0.0.1:{free_port()}/messenger",
        "MESSENGER_PAGE_ACCESS_TOKEN": "ms-token",
        "MESSENGER_APP_SECRET": "ms-secret",
        "MESSENGER_VERIFY_TOKEN": "ms-verify",
        "MESSENGER_REF_SECRET": "production-install-test-secret-0123456789",
        "MESSENGER_WEBHOOK_PORT": str(free_port()),
        "SAMLENG_MASTER_KEY": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+P0BBQkNERUZHSElKS0xNTk9QUVJTVFVWV1hZWltcXV5f",  # a fixed test key (96 bytes)
        "SAMLENG_BLIND_INDEX_KEY": "production-install-test-blind-index-key",
        "SAMLENG_ENCRYPTION_REQUIRED": "true",  # as production sets it: no process may run without keys
    }
    for channel, declared in catalogue().items():  # a channel added as a folder: its API and webhooks
        env.setdefault(f"{channel.upper()}_API_URL", f"http://127.0.0.1:{free_port()}/{channel}")
        if declared.inbound:
            env.setdefault(f"{channel.upper()}_WEBHOOK_PORT", str(free_port()))
    processes = []
    for name, module in samleng_processes():
        log = tmp_path / f"{name}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [str(image_env / "bin" / "python"), "-m", module],
                env={**env, "SAMLENG_PROCESS_NAME": name},
                cwd=outside,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        processes.append(Started(name, process, log))
    yield processes, health
    for started_process in processes:
        if started_process.process.poll() is None:
            started_process.process.terminate()
    for started_process in processes:
        try:
            started_process.process.wait(60)
        except subprocess.TimeoutExpired:
            started_process.process.kill()


def ready_url(health: Path, started_process: Started) -> str | None:
    registration = health / f"{started_process.name}.json"
    if not registration.exists():
        return None
    info = json.loads(registration.read_text())
    if info["pid"] != started_process.process.pid:
        return None
    try:
        response = httpx.get(info["url"] + "/health/ready", timeout=3)
    except httpx.HTTPError:
        return None
    return str(info["url"]) if response.status_code == 200 else None


def test_the_image_install_holds_no_dev_only_package(image_env: Path) -> None:
    listed = subprocess.run(
        [str(image_env / "bin" / "pip"), "list", "--format=json"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    installed = {p["name"].lower() for p in json.loads(listed.stdout)}
    assert "samleng" in installed
    assert not installed & set(DEV_ONLY), installed & set(DEV_ONLY)


def test_every_procfile_process_starts_to_ready_from_the_image_install(
    started: tuple[list[Started], Path],
) -> None:
    processes, health = started
    channels = catalogue()
    expected = 6 + len(channels) + sum(1 for spec in channels.values() if spec.inbound)
    assert len(processes) == expected >= 16, [p.name for p in processes]
    waiting = {p.name: p for p in processes}
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while waiting and time.monotonic() < deadline:
        for name, started_process in list(waiting.items()):
            if started_process.process.poll() is not None:
                pytest.fail(
                    f"{name} exited with {started_process.process.returncode} from the image install:\n"
                    + started_process.log.read_text(errors="replace")[-3000:]
                )
            if ready_url(health, started_process):
                del waiting[name]
        time.sleep(0.5)
    assert not waiting, "not ready: " + "; ".join(
        f"{name}: {p.log.read_text(errors='replace')[-800:]}" for name, p in waiting.items()
    )
    # the installed package carries the console's pages, words and static files, not only its code
    [console] = [p for p in processes if p.name == "console"]
    base = ready_url(health, console)
    assert base is not None
    page = httpx.get(f"{base}/sign-in", timeout=10)
    assert page.status_code == 200 and 'action="/sign-in"' in page.text, page.text[-2000:]
    sheet = httpx.get(f"{base}/static/console.css", timeout=10)
    assert sheet.status_code == 200 and sheet.headers["content-type"].startswith("text/css")
    for script in sorted(set(re.findall(r'(?:src|href)="(/static/[^"]+)"', page.text))):
        assert httpx.get(f"{base}{script}", timeout=10).status_code == 200, script
