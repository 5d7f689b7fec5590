"""`samleng channel new` in a temporary copy of the repository: the new channel passes the shared
contract tests as generated, is discovered and listed from its declaration, only its folder, the
Procfile and the deploy files changed, and the deploy tests pass with it registered."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.timeout(1500)


def run(args: list[str], cwd: Path, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False)


@pytest.fixture
def repo_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "samleng"
    tracked = run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], ROOT).stdout.split(
        "\0"
    )
    for name in filter(None, tracked):
        source = ROOT / name
        if source.is_file():
            target = copy / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    for command in (
        ["git", "init", "-q"],
        ["git", "add", "-A"],
        ["git", "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "copy"],
    ):
        assert run(command, copy).returncode == 0
    return copy


REGISTERED = {
    "Procfile",
    "docker-compose.yml",
    "deploy/compose.prod.yml",
    "deploy/access.yml",
    "deploy/rabbitmq/init-users.sh",
    "deploy/mongodb/init-users.js",
    "deploy/k8s/README.md",
    "deploy/k8s/base/kustomization.yaml",
    "deploy/k8s/base/processes/pager.yaml",
    "deploy/k8s/base/processes/pager-inbound.yaml",
    "deploy/k8s/overlays/prod/ingress.yaml",
}


def changed_files(repo: Path) -> set[str]:
    lines = run(["git", "status", "--porcelain", "--untracked-files=all"], repo).stdout.splitlines()
    return {line[3:] for line in lines}


def test_a_scaffolded_channel_passes_the_contract_and_deploy_tests_changing_only_its_folder_procfile_and_deploy(
    repo_copy: Path,
) -> None:
    created = run(
        [
            sys.executable,
            "-m",
            "ops.cli",
            "channel",
            "new",
            "pager",
            "--address-kind",
            "phone",
            "--attachment",
            "png",
            "--inbound",
        ],
        repo_copy,
    )
    assert created.returncode == 0, created.stderr
    assert "Procfile" in created.stdout and "deploy/access.yml" in created.stdout

    changed = changed_files(repo_copy)
    folder = {name for name in changed if name.startswith("services/channels/pager/")}
    assert {
        "services/channels/pager/channel.toml",
        "services/channels/pager/adapter.py",
        "services/channels/pager/sandbox.py",
        "services/channels/pager/inbound.py",
    } <= folder
    assert changed - folder == REGISTERED
    procfile = (repo_copy / "Procfile").read_text()
    assert "pager: exec python -u -m services.channels.pager\n" in procfile
    assert "pager-inbound: exec python -u -m services.channels.pager.inbound\n" in procfile

    where = run(
        [sys.executable, "-c", "import services.channels.pager.adapter as m; print(m.__file__)"], repo_copy
    )
    assert where.stdout.strip().startswith(str(repo_copy)), "tests must exercise the copy, not this checkout"
    listed = run([sys.executable, "-m", "ops.cli", "channel", "list"], repo_copy)
    assert "pager" in listed.stdout and "address=phone" in listed.stdout and "inbound=yes" in listed.stdout
    served = run(
        [
            sys.executable,
            "-c",
            "from devstack.sandbox.providers import discover; print([p.name for p in discover()])",
        ],
        repo_copy,
    )
    assert "'pager'" in served.stdout, served.stderr  # the local sandbox serves its provider fake

    tests = run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "services/channels/pager"], repo_copy
    )
    assert tests.returncode == 0, tests.stdout[-3000:] + tests.stderr[-2000:]
    assert " passed" in tests.stdout and "failed" not in tests.stdout
    for check in (["check"], ["format", "--check"]):
        lint = run([sys.executable, "-m", "ruff", *check, "services/channels/pager"], repo_copy)
        assert lint.returncode == 0, lint.stdout
    types = run([sys.executable, "-m", "mypy", "services/channels/pager"], repo_copy)
    assert types.returncode == 0, types.stdout

    deploy = run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-q",
            "-x",
            "tests/deploy/test_compose.py",
            "tests/deploy/test_k8s.py",
            "tests/deploy/test_mongodb_access.py",
            "tests/unit/test_env_example.py",
        ],
        repo_copy,
        timeout=900,
    )
    assert deploy.returncode == 0, deploy.stdout[-4000:] + deploy.stderr[-2000:]


def test_names_that_would_break_things_are_refused(repo_copy: Path) -> None:
    for name in ("Email", "class", "email", "sms", "x", "sms-gateway"):
        result = run([sys.executable, "-m", "ops.cli", "channel", "new", name], repo_copy)
        assert result.returncode != 0, name
    assert run(["git", "status", "--porcelain"], repo_copy).stdout == ""
