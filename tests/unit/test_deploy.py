"""docker compose and the Dockerfile stay consistent with the Procfile (no Docker engine here)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from devstack.config import read_procfile

ROOT = Path(__file__).resolve().parents[2]
# Procfile infrastructure process -> the compose service that replaces it with a real image.
INFRASTRUCTURE = {"broker": "rabbitmq", "mongo": "mongodb", "mail": "mailpit", "sandbox": "sandbox"}
LOCAL_ONLY = {"ready"}


def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())  # type: ignore[no-any-return]


def module_of(command: str) -> str:
    return command.split(" -m ", 1)[1].split()[0]


def test_compose_lists_exactly_the_procfile_processes() -> None:
    procfile = {e.name: e for e in read_procfile(ROOT / "Procfile")}
    services = compose()["services"]
    expected = {INFRASTRUCTURE.get(name, name) for name in procfile if name not in LOCAL_ONLY}
    assert set(services) == expected
    for name, entry in procfile.items():
        if entry.is_service:
            service = services[name]
            assert service["build"]["args"]["SERVICE"] == module_of(entry.command), name


def test_compose_uses_real_infrastructure_images_with_health_checks() -> None:
    services = compose()["services"]
    assert services["rabbitmq"]["image"].startswith("rabbitmq:") and services["rabbitmq"]["image"].endswith(
        "-management"
    )
    major = int(services["mongodb"]["image"].split(":")[1].split(".")[0])
    assert services["mongodb"]["image"].startswith("mongo:") and major in (7, 8)
    assert services["mailpit"]["image"].startswith("axllent/mailpit")
    for name in ("rabbitmq", "mongodb", "mailpit"):
        assert "test" in services[name]["healthcheck"], name


def test_every_samleng_service_is_built_from_the_one_dockerfile_and_waits_for_healthy_infrastructure() -> (
    None
):
    procfile = read_procfile(ROOT / "Procfile")
    services = compose()["services"]
    for entry in procfile:
        if not entry.is_service:
            continue
        service = services[entry.name]
        assert service["build"]["dockerfile"] == "deploy/Dockerfile"
        assert service["depends_on"]["rabbitmq"]["condition"] == "service_healthy"
        assert "AMQP_URL" in service["environment"] and "MONGODB_URI" in service["environment"]
    assert services["sandbox"]["build"]["dockerfile"] == "deploy/Dockerfile"


def test_compose_has_no_default_passwords() -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    assert "${RABBITMQ_PASSWORD:?" in text and "${MONGODB_PASSWORD:?" in text
    assert "guest:guest" not in text


def test_dockerfile_is_parametrised_has_a_healthcheck_and_ships_no_dev_dependencies() -> None:
    text = (ROOT / "deploy" / "Dockerfile").read_text()
    assert "ARG SERVICE" in text and 'python -m \\"$SERVICE\\"' in text
    assert "HEALTHCHECK" in text and "/health/ready" in text
    assert "USER 10001" in text
    assert "pip install -c constraints.txt ." in text and "[dev]" not in text


def test_procfile_lines_exec_unbuffered_python_so_signals_reach_the_process() -> None:
    for entry in read_procfile(ROOT / "Procfile"):
        assert entry.command.startswith("exec "), entry.name
        if "python" in entry.command:
            assert "python -u -m " in entry.command, entry.name
