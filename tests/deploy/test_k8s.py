"""Kubernetes manifests (deploy/k8s): rendered by `kubectl kustomize`, validated offline against the
Kubernetes, KEDA and Prometheus Operator schemas (npm `kubernetes-models`, unknown fields
rejected) and the hand-written RabbitmqCluster/MongoDBCommunity subsets, then checked against the
code: every Samleng Procfile process has its Deployment, every queue consumer a ScaledObject on
exactly its own queues (computed from the routers), and secrets are only referenced."""

from __future__ import annotations

import importlib
import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic_settings import BaseSettings

from devstack.config import read_procfile
from services.channels import discover
from shared.channels.service import channel_router
from shared.personal_data import PersonalDataSettings
from shared.service import Router
from shared.settings import ServiceSettings

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
VALIDATOR = K8S / "validate"
TARGETS = ("base", "overlays/dev", "overlays/prod")
SHARED_SECRETS = {"AMQP_URL", "MONGODB_URI"}
# Queue consumers not scaled by KEDA, and why (the rest must have a ScaledObject).
NOT_KEDA = {"event-scheduler": "its work is due records claimed by leases, not its queue's length"}
ALWAYS_ON = {"alert-dispatcher", "certificate-renderer", "email"}  # never scaled to zero

Manifest = dict[str, Any]


@dataclass(frozen=True)
class Process:
    name: str
    module: str

    @property
    def channel(self) -> str | None:
        parts = self.module.split(".")
        return parts[2] if parts[:2] == ["services", "channels"] else None

    def router(self) -> Router | None:
        """The consumer group this process runs, found as the process finds it."""
        if self.channel is not None:
            return channel_router(discover()[self.channel]) if self.module.count(".") == 2 else None
        if not (ROOT / self.module.replace(".", "/") / "app.py").exists():
            return None
        router = getattr(importlib.import_module(f"{self.module}.app"), "router", None)
        return router if isinstance(router, Router) and router.subscriptions else None

    def settings_class(self) -> type[ServiceSettings]:
        if self.channel is not None:
            return discover()[self.channel].settings_class
        found = []
        for part in ("app", "settings"):
            if (ROOT / self.module.replace(".", "/") / f"{part}.py").exists():
                module = importlib.import_module(f"{self.module}.{part}")
                found += [
                    cls
                    for cls in vars(module).values()
                    if isinstance(cls, type)
                    and issubclass(cls, ServiceSettings)
                    and cls.__module__ == module.__name__
                ]
        return found[0] if found else ServiceSettings


def samleng_processes() -> list[Process]:
    processes = []
    for entry in read_procfile(ROOT / "Procfile"):
        found = re.search(r"python -u -m (services\.\S+)", entry.command)
        if found:
            processes.append(Process(entry.name, found.group(1)))
    return processes


def secret_variables(settings_class: type[BaseSettings]) -> set[str]:
    """Environment variables of the settings' SecretStr fields."""
    prefix = str(settings_class.model_config.get("env_prefix", ""))
    names = set()
    for name, field in settings_class.model_fields.items():
        if "SecretStr" not in str(field.annotation):
            continue
        alias = field.validation_alias
        choices = getattr(alias, "choices", None)
        names.add(str(choices[0]) if choices else str(alias) if alias else f"{prefix}{name}".upper())
    return names


@pytest.fixture(scope="module")
def validator() -> Path:
    if shutil.which("node") is None or shutil.which("kubectl") is None:
        pytest.fail("node and kubectl are needed to render and validate deploy/k8s (scripts/system-deps.sh)")
    if not (VALIDATOR / "node_modules").is_dir():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=VALIDATOR, check=True, timeout=300)
    return VALIDATOR / "validate.mjs"


def validate(validator: Path, text: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["node", str(validator)], input=text, capture_output=True, text=True, timeout=120)


@cache
def render(target: str) -> str:
    result = subprocess.run(
        ["kubectl", "kustomize", str(K8S / target)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.fixture(scope="module", params=TARGETS)
def rendered(request: pytest.FixtureRequest, validator: Path) -> list[Manifest]:
    return [doc for doc in yaml.safe_load_all(render(request.param)) if doc]


def of_kind(docs: list[Manifest], kind: str) -> dict[str, Manifest]:
    found: dict[str, Manifest] = {}
    for doc in docs:
        if doc["kind"] == kind:
            assert doc["metadata"]["name"] not in found, f"two {kind}s named {doc['metadata']['name']}"
            found[doc["metadata"]["name"]] = doc
    return found


def container(deployment: Manifest) -> Manifest:
    containers = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1, deployment["metadata"]["name"]
    return dict(containers[0])


def env_of(deployment: Manifest) -> dict[str, Manifest]:
    return {item["name"]: item for item in container(deployment).get("env", [])}


def config(docs: list[Manifest]) -> dict[str, str]:
    maps = [
        d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"].startswith("samleng-config")
    ]
    assert len(maps) == 1
    return dict(maps[0]["data"])


def documented_secrets() -> dict[str, set[str]]:
    """The keys of each Secret that deploy/k8s/README.md shows how to create."""
    readme = (K8S / "README.md").read_text()
    commands = re.findall(r"create secret generic (samleng-[\w-]+)((?:[^\n]*\\\n)*[^\n]*)", readme)
    return {name: set(re.findall(r"--from-literal=(\w+)=", args)) for name, args in commands}


def walk(value: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield key, item
            yield from walk(item)
    elif isinstance(value, list):
        for item in value:
            yield from walk(item)


@pytest.mark.parametrize("target", TARGETS)
def test_manifests_render_and_validate_against_their_schemas(validator: Path, target: str) -> None:
    result = validate(validator, render(target))
    assert result.returncode == 0, f"{target}:\n{result.stderr}"
    assert "documents valid" in result.stdout


def test_the_validator_rejects_broken_manifests(validator: Path) -> None:
    broken = [
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "two"},
            "spec": {
                "replicas": "two",
                "selector": {"matchLabels": {"a": "b"}},
                "template": {
                    "metadata": {"labels": {"a": "b"}},
                    "spec": {"containers": [{"name": "a", "image": "i"}]},
                },
            },
        },
        {
            "apiVersion": "keda.sh/v1alpha1",
            "kind": "ScaledObject",
            "metadata": {"name": "typo"},
            "spec": {
                "scaleTargetRef": {"name": "x"},
                "minReplicas": 1,
                "triggers": [{"type": "rabbitmq", "metadata": {}}],
            },
        },
        {
            "apiVersion": "rabbitmq.com/v1beta1",
            "kind": "RabbitmqCluster",
            "metadata": {"name": "r"},
            "spec": {"replica": 3},
        },
        {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}},
    ]
    result = validate(validator, yaml.safe_dump_all(broken))
    assert result.returncode == 1
    assert "Deployment/two: data/spec/replicas must be integer" in result.stderr
    assert "ScaledObject/typo: /spec/minReplicas: unknown field" in result.stderr
    assert "RabbitmqCluster/r: /spec must NOT have additional properties" in result.stderr
    assert "Widget/w: unknown apiVersion/kind example.com/v1/Widget" in result.stderr
    # and the valid half of the same input passes: the failures above are about those fields only
    assert validate(validator, render("overlays/prod")).returncode == 0


def test_every_samleng_process_has_its_deployment(rendered: list[Manifest]) -> None:
    processes = samleng_processes()
    assert len(processes) >= 13
    deployments = of_kind(rendered, "Deployment")
    assert set(deployments) == {p.name for p in processes}
    grace = ServiceSettings.model_fields["shutdown_grace_seconds"].default
    assert float(config(rendered)["SHUTDOWN_GRACE_SECONDS"]) == grace
    budgets = of_kind(rendered, "PodDisruptionBudget")
    for process in processes:
        deployment = deployments[process.name]
        spec = deployment["spec"]["template"]["spec"]
        main = container(deployment)
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert env_of(deployment)["SERVICE"]["value"] == process.module
        assert main["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]
        assert main["readinessProbe"]["httpGet"] == {"path": "/health/ready", "port": "http"}
        assert main["livenessProbe"]["httpGet"] == {"path": "/health/live", "port": "http"}
        for kind in ("requests", "limits"):
            assert set(main["resources"][kind]) == {"cpu", "memory"}, process.name
        pre_stop = main.get("lifecycle", {}).get("preStop", {}).get("sleep", {}).get("seconds", 0)
        assert spec["terminationGracePeriodSeconds"] > grace + pre_stop, process.name
        # the health server listens where the probes look
        if process.module == "services.intake":
            assert env_of(deployment)["INTAKE_PORT"]["value"] == "8080"
            assert env_of(deployment)["INTAKE_HOST"]["value"] == "0.0.0.0"
        elif process.module.endswith(".inbound"):
            assert env_of(deployment)[f"{process.channel}_WEBHOOK_PORT".upper()]["value"] == "8080"
        else:
            assert config(rendered)["HEALTH_PORT"] == "8080"
            assert config(rendered)["HEALTH_HOST"] == "0.0.0.0"
        guards = [
            b for b in budgets.values() if b["spec"]["selector"]["matchLabels"].items() <= labels.items()
        ]
        assert len(guards) == 1, f"{process.name}: {len(guards)} PodDisruptionBudgets"


def test_every_queue_consumer_scales_on_exactly_its_own_queues(rendered: list[Manifest]) -> None:
    exchange = config(rendered)["AMQP_EXCHANGE"]
    assert exchange == ServiceSettings.model_fields["amqp_exchange"].default
    settings = ServiceSettings(_env_file=None, AMQP_EXCHANGE=exchange)
    scaled = of_kind(rendered, "ScaledObject")
    auths = of_kind(rendered, "TriggerAuthentication")
    hpas = of_kind(rendered, "HorizontalPodAutoscaler")
    consumers = {p.name: r for p in samleng_processes() if (r := p.router()) is not None}
    assert {
        "alert-dispatcher",
        "certificate-renderer",
        "email",
        "post",
        "signal",
        "whatsapp",
        "messenger",
    } <= set(consumers)
    assert set(scaled) == set(consumers) - set(NOT_KEDA)
    for name, router in consumers.items():
        if name in NOT_KEDA:
            continue
        spec = scaled[name]["spec"]
        assert spec["scaleTargetRef"] == {"name": name}
        assert name not in hpas, f"{name} has both a ScaledObject and an HPA"
        triggers = spec["triggers"]
        queues = [t["metadata"]["queueName"] for t in triggers]
        assert queues == [g.queue for g in router.consumer_groups(settings)], name
        for trigger in triggers:
            assert trigger["type"] == "rabbitmq"
            assert trigger["metadata"]["mode"] == "QueueLength"
            assert trigger["metadata"]["protocol"] == "amqp"
            assert int(trigger["metadata"]["value"]) > 0
            assert trigger["authenticationRef"]["name"] in auths
        assert spec["minReplicaCount"] >= (1 if name in ALWAYS_ON else 0)
        assert spec["maxReplicaCount"] >= max(1, spec["minReplicaCount"])
    for auth in auths.values():
        assert [r["parameter"] for r in auth["spec"]["secretTargetRef"]] == ["host"]


def test_secrets_are_referenced_never_committed(rendered: list[Manifest]) -> None:
    assert not [d["metadata"]["name"] for d in rendered if d["kind"] == "Secret"]
    documented = documented_secrets()
    for deployment in of_kind(rendered, "Deployment").values():
        name = deployment["metadata"]["name"]
        for variable, item in env_of(deployment).items():
            secretish = variable in SHARED_SECRETS or re.search(r"(SECRET|TOKEN|PASSWORD|_KEY)$", variable)
            if secretish:
                assert "valueFrom" in item, f"{name}: {variable} must come from a Secret"
            ref = item.get("valueFrom", {}).get("secretKeyRef")
            if ref:  # each process reads its own Secret, documented with its keys in the README
                assert ref == {
                    "name": f"samleng-{name}",
                    "key": variable,
                    **({"optional": True} if ref.get("optional") else {}),
                }
                assert variable in documented.get(ref["name"], set()), (
                    f"README: create {ref['name']} with {variable}"
                )
        for key, value in walk(deployment):
            assert key != "secretRef", f"{name}: envFrom a whole Secret hides what the process gets"
            if key == "stringData" or (key == "data" and isinstance(value, dict)):
                pytest.fail(f"{name} carries literal data")


def test_each_process_gets_only_secrets_its_settings_read(rendered: list[Manifest]) -> None:
    deployments = of_kind(rendered, "Deployment")
    access_file = ROOT / "deploy" / "access.yml"
    access = yaml.safe_load(access_file.read_text())["processes"] if access_file.exists() else None
    for process in samleng_processes():
        env = env_of(deployments[process.name])
        from_secrets = {v for v, item in env.items() if "secretKeyRef" in item.get("valueFrom", {})}
        assert from_secrets >= SHARED_SECRETS, process.name
        # its settings class, and the encryption keys (every process may open the key vault)
        readable = secret_variables(process.settings_class()) | secret_variables(PersonalDataSettings)
        assert from_secrets <= readable | SHARED_SECRETS, process.name
        if access is not None:  # deploy/access.yml: the one list of each process's secrets
            assert from_secrets - SHARED_SECRETS == set(access[process.name]["secrets"]), process.name


def test_alerts_and_dashboard_use_metrics_that_exist(rendered: list[Manifest]) -> None:
    source = "\n".join(p.read_text() for p in [*ROOT.glob("shared/**/*.py"), *ROOT.glob("services/**/*.py")])
    defined = set(re.findall(r"\"(samleng_[a-z_]+)\"", source))
    rules = of_kind(rendered, "PrometheusRule")["samleng"]
    expressions = [str(rule["expr"]) for group in rules["spec"]["groups"] for rule in group["rules"]]
    dashboards = [
        d
        for d in rendered
        if d["kind"] == "ConfigMap" and d["metadata"]["name"] == "samleng-grafana-dashboard"
    ]
    assert len(dashboards) == 1 and dashboards[0]["metadata"]["labels"]["grafana_dashboard"] == "1"
    dashboard = json.loads(dashboards[0]["data"]["samleng.json"])
    expressions += [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    used = {
        re.sub(r"_(total|bucket|count|sum)$", "", m)
        for e in expressions
        for m in re.findall(r"samleng_[a-z_]+", e)
    }
    assert used and used <= {re.sub(r"_total$", "", m) for m in defined}, used - defined
