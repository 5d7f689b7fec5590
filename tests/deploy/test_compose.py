"""Both compose files, validated by Debian's docker-compose (1.29; no Docker engine needed for
`config`), and kept consistent with the Procfile, deploy/access.yml and the settings classes.

docker-compose.yml is the local/demo stack (Mailpit, the provider sandbox); deploy/compose.prod.yml
is production: no sandbox, no Mailpit, every secret and public URL required, one broker and one
database user per process, and each process gets only the secrets its code reads.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, cast

import pytest
import yaml
from pydantic import AliasChoices, SecretStr
from pydantic_settings import BaseSettings

from devstack.config import read_procfile
from shared.channels.catalogue import catalogue
from shared.personal_data import PersonalDataSettings
from tests.deploy.test_rabbitmq_access import ACCESS

ROOT = Path(__file__).resolve().parents[2]
LOCAL = ROOT / "docker-compose.yml"
PROD = ROOT / "deploy" / "compose.prod.yml"
# Procfile infrastructure process -> the compose service that replaces it with a real image.
INFRASTRUCTURE = {"broker": "rabbitmq", "mongo": "mongodb", "mail": "mailpit", "sandbox": "sandbox"}
LOCAL_ONLY = {"ready"}
PROD_INFRASTRUCTURE = {"rabbitmq", "rabbitmq-init", "mongodb", "mongodb-init"}
REQUIRED = re.compile(r"\$\{([A-Z0-9_]+):\?([^}]*)\}")
ANY_VARIABLE = re.compile(r"\$\{([A-Z0-9_]+)(:?[-?][^}]*)?\}")
SECRET_NAME = re.compile(r"PASSWORD|TOKEN|SECRET|KEY")
PUBLIC_URL_NAME = re.compile(r"_URL$")
TIMEOUT = 120


def compose(path: Path = LOCAL) -> dict[str, Any]:
    return yaml.safe_load(path.read_text())  # type: ignore[no-any-return]


def module_of(command: str) -> str:
    return command.split(" -m ", 1)[1].split()[0]


def samleng_services(path: Path) -> dict[str, dict[str, Any]]:
    procfile = {e.name for e in read_procfile(ROOT / "Procfile") if e.is_service}
    return {name: s for name, s in compose(path)["services"].items() if name in procfile}


# --- the local/demo stack ---------------------------------------------------------------------


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
    for path in (LOCAL, PROD):
        services = compose(path)["services"]
        assert services["rabbitmq"]["image"].startswith("rabbitmq:")
        assert services["rabbitmq"]["image"].endswith("-management")
        major = int(services["mongodb"]["image"].split(":")[1].split(".")[0])
        assert services["mongodb"]["image"].startswith("mongo:") and major in (7, 8)
        for name in ("rabbitmq", "mongodb"):
            assert "test" in services[name]["healthcheck"], name
    services = compose()["services"]
    assert services["mailpit"]["image"].startswith("axllent/mailpit")
    assert "test" in services["mailpit"]["healthcheck"]


def test_rabbitmq_has_a_fixed_hostname_so_a_new_container_finds_its_data() -> None:
    for path in (LOCAL, PROD):
        assert compose(path)["services"]["rabbitmq"]["hostname"] == "rabbitmq", path.name
    assert "name" not in compose(LOCAL) and "name" not in compose(PROD)  # docker-compose 1.29 rejects it


def test_every_samleng_service_is_built_from_the_one_dockerfile_and_waits_for_healthy_infrastructure() -> (
    None
):
    procfile = read_procfile(ROOT / "Procfile")
    local, prod = compose(LOCAL)["services"], compose(PROD)["services"]
    for entry in procfile:
        if not entry.is_service:
            continue
        for services in (local, prod):
            service = services[entry.name]
            assert service["build"]["dockerfile"] == "deploy/Dockerfile"
            assert service["build"]["args"]["SERVICE"] == module_of(entry.command)
            assert service["depends_on"]["rabbitmq"]["condition"] == "service_healthy"
            assert "AMQP_URL" in service["environment"] and "MONGODB_URI" in service["environment"]
        assert prod[entry.name]["build"]["context"] == ".."  # relative to deploy/
        for init in ("rabbitmq-init", "mongodb-init"):
            assert prod[entry.name]["depends_on"][init]["condition"] == "service_completed_successfully"
    assert local["sandbox"]["build"]["dockerfile"] == "deploy/Dockerfile"


def test_compose_has_no_default_passwords() -> None:
    text = LOCAL.read_text()
    assert "${RABBITMQ_PASSWORD:?" in text and "${MONGODB_PASSWORD:?" in text
    for path in (LOCAL, PROD):
        assert "guest:guest" not in path.read_text()
        variables = ANY_VARIABLE.finditer(without_comments(path))
        for name, default in ((m.group(1), m.group(2) or "") for m in variables):
            if SECRET_NAME.search(name):
                assert default.startswith(":?"), f"{path.name}: {name} has a default"


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


# --- production -------------------------------------------------------------------------------


def test_production_has_no_sandbox_no_mailpit_and_exactly_the_procfile_processes() -> None:
    services = compose(PROD)["services"]
    procfile = {e.name for e in read_procfile(ROOT / "Procfile") if e.is_service}
    assert set(services) == procfile | PROD_INFRASTRUCTURE
    for name, service in services.items():
        text = yaml.safe_dump(service.get("environment") or {}).lower()
        assert "sandbox" not in text and "mailpit" not in text, name
        assert "SANDBOX_URL" not in (service.get("environment") or {}), name


def test_production_publishes_only_intake_and_the_webhooks_on_a_chosen_address() -> None:
    services = compose(PROD)["services"]
    published = {name for name, s in services.items() if s.get("ports")}
    webhooks = {f"{name}-inbound" for name, spec in catalogue().items() if spec.inbound}
    assert {"intake", "console"} <= published <= {"intake", "console"} | webhooks, published
    assert {"whatsapp-inbound", "messenger-inbound", "sms-inbound"} <= published  # providers call them
    hosts = []
    for name in published:
        for port in services[name]["ports"]:
            assert port.startswith("${SAMLENG_BIND_ADDRESS:-127.0.0.1}:"), (name, port)
            hosts.append(port.split(":-")[2].split("}")[0])
    assert len(hosts) == len(set(hosts)), f"two services default to one host port: {sorted(hosts)}"


def test_every_secret_and_public_url_in_production_is_required() -> None:
    for name, service in compose(PROD)["services"].items():
        for key, value in (service.get("environment") or {}).items():
            if SECRET_NAME.search(key) or PUBLIC_URL_NAME.search(key) or key in ("AMQP_URL", "MONGODB_URI"):
                value = str(value)
                assert REQUIRED.search(value), f"{name}: {key} is not required ({value})"
                for match in ANY_VARIABLE.finditer(value):
                    assert (match.group(2) or "").startswith(":?"), f"{name}: {key} has a default"


def test_each_production_process_connects_as_its_own_user() -> None:
    services = compose(PROD)["services"]
    init_rabbit = services["rabbitmq-init"]["environment"]
    init_mongo = services["mongodb-init"]["environment"]
    for name, service in samleng_services(PROD).items():
        process = ACCESS.processes[name]
        env = service["environment"]
        rabbit_pw, mongo_pw = process.rabbitmq_password_var, process.mongodb_password_var
        assert env["AMQP_URL"].startswith(f"amqp://{name}:${{{rabbit_pw}:?"), name
        assert env["AMQP_URL"].endswith(f"@rabbitmq:5672/{ACCESS.vhost}"), name
        assert env["MONGODB_URI"].startswith(f"mongodb://{name}:${{{mongo_pw}:?"), name
        assert env["MONGODB_URI"].endswith(f"/{ACCESS.database}?authSource={ACCESS.database}"), name
    for process in ACCESS.processes.values():  # ops too: its users exist for the CLI
        assert init_rabbit[process.rabbitmq_password_var].startswith(f"${{{process.rabbitmq_password_var}:?")
        assert init_mongo[process.mongodb_password_var].startswith(f"${{{process.mongodb_password_var}:?")
    assert services["rabbitmq-init"]["volumes"] == [
        "rabbitmq-data:/var/lib/rabbitmq:ro",
        "./rabbitmq:/samleng:ro",
    ]
    assert services["rabbitmq-init"]["entrypoint"] == ["sh", "/samleng/init-users.sh"]
    assert "/samleng/init-users.js" in " ".join(services["mongodb-init"]["entrypoint"])


def settings_class(module: str) -> type[BaseSettings]:
    if module.startswith("services.channels."):
        from services.channels import discover

        return cast(type[BaseSettings], discover()[module.split(".")[2]].settings_class)
    from services.certificates.app import CertificateSettings
    from services.console.settings import ConsoleSettings
    from services.dispatcher.app import DispatcherSettings
    from services.intake.settings import IntakeSettings
    from services.pledge_intake.__main__ import PledgeIntakeSettings
    from services.scheduler.app import SchedulerSettings

    classes: dict[str, type[BaseSettings]] = {
        "services.intake": IntakeSettings,
        "services.console": ConsoleSettings,
        "services.pledge_intake": PledgeIntakeSettings,
        "services.certificates": CertificateSettings,
        "services.dispatcher": DispatcherSettings,
        "services.scheduler": SchedulerSettings,
    }
    return classes[module]


def secret_variables(cls: type[BaseSettings]) -> set[str]:
    """The environment variables of the class's SecretStr fields, except the shared connection URLs."""
    prefix = str(cls.model_config.get("env_prefix") or "")
    names: set[str] = set()
    for field_name, field in cls.model_fields.items():
        if field_name in ("amqp_url", "mongodb_uri"):
            continue
        annotation = str(field.annotation)
        if "SecretStr" not in annotation and field.annotation is not SecretStr:
            continue
        alias = field.validation_alias
        if isinstance(alias, AliasChoices):
            names.update(str(choice) for choice in alias.choices if str(choice).isupper())
        else:
            names.add(f"{prefix}{field_name}".upper())
    return names


@pytest.mark.parametrize("path", [LOCAL, PROD], ids=["local", "prod"])
def test_each_service_gets_only_the_secrets_its_code_reads(path: Path) -> None:
    for name, service in samleng_services(path).items():
        process = ACCESS.processes[name]
        # its settings class, and the encryption keys (every process may open the key vault)
        readable = secret_variables(settings_class(process.module)) | secret_variables(PersonalDataSettings)
        assert set(process.secrets) <= readable, f"access.yml lists secrets {name} cannot read"
        given = {k for k in service["environment"] if k in readable or SECRET_NAME.search(k)}
        if path == PROD:
            assert given == set(process.secrets), f"{path.name}: {name} gets {sorted(given)}"
        else:  # the local stack leaves out what its stand-ins do not check (Mailpit takes no login)
            assert given <= set(process.secrets), f"{path.name}: {name} gets {sorted(given)}"


# --- docker-compose config --------------------------------------------------------------------


@pytest.fixture(scope="module")
def docker_compose() -> str:
    found = shutil.which("docker-compose")
    if found is None:
        pytest.fail(
            "docker-compose is missing: run `scripts/system-deps.sh test` (Debian's docker-compose 1.29)"
        )
    return found


@pytest.fixture(scope="module")
def empty_env_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("compose") / "empty.env"
    path.write_text("")  # no stray .env next to a compose file reaches these tests
    return path


def without_comments(path: Path) -> str:
    return "\n".join(
        line.split(" #", 1)[0] for line in path.read_text().splitlines() if not line.lstrip().startswith("#")
    )


def required_variables(path: Path) -> set[str]:
    return {m.group(1) for m in REQUIRED.finditer(without_comments(path))}


def complete_env(*paths: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "LC_ALL")}
    for path in paths:
        env.update({name: f"dummy-{name.lower()}" for name in required_variables(path)})
    return env


def config(
    docker_compose: str, path: Path, env: dict[str, str], env_file: Path, *extra: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [docker_compose, "-f", str(path), "--env-file", str(env_file), "config", *extra],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )


@pytest.mark.parametrize("path", [LOCAL, PROD], ids=["local", "prod"])
def test_docker_compose_validates_the_file(docker_compose: str, empty_env_file: Path, path: Path) -> None:
    done = config(docker_compose, path, complete_env(path), empty_env_file, "-q")
    assert done.returncode == 0, done.stderr


def test_production_config_resolves_build_context_and_scripts_relative_to_deploy(
    docker_compose: str, empty_env_file: Path
) -> None:
    done = config(docker_compose, PROD, complete_env(PROD), empty_env_file)
    assert done.returncode == 0, done.stderr
    resolved = yaml.safe_load(done.stdout)["services"]
    assert resolved["intake"]["build"]["context"] == str(ROOT)
    assert (Path(resolved["intake"]["build"]["context"]) / resolved["intake"]["build"]["dockerfile"]).exists()
    assert resolved["intake"]["environment"]["INTAKE_PUBLIC_BASE_URL"] == "dummy-intake_public_base_url"


def test_production_without_any_one_required_variable_fails_and_names_it(
    docker_compose: str, empty_env_file: Path
) -> None:
    names = sorted(required_variables(PROD))
    assert {"INTAKE_PUBLIC_BASE_URL", "EMAIL_SMTP_HOST", "EMAIL_SMTP_PASSWORD", "POST_API_URL"} <= set(names)
    assert {"SIGNAL_API_URL", "WHATSAPP_API_URL", "MESSENGER_API_URL", "RABBITMQ_ADMIN_PASSWORD"} <= set(
        names
    )
    full = complete_env(PROD)

    def without(name: str) -> tuple[str, subprocess.CompletedProcess[str]]:
        env = {k: v for k, v in full.items() if k != name}
        return name, config(docker_compose, PROD, env, empty_env_file, "-q")

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(without, names))
    for name, done in results:
        assert done.returncode != 0, f"config passed without {name}"
        message = done.stderr.strip().splitlines()[-1].rsplit('": ', 1)[-1]
        assert message.startswith(f"set {name}"), f"without {name}: {done.stderr[-500:]}"
