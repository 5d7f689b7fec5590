"""`samleng channel new` in a temporary copy of the repository: the new channel passes the shared
contract tests as generated, is discovered, and nothing outside its folder changed."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.timeout(300)


def run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=240, check=False)


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


def test_a_scaffolded_channel_passes_the_contract_tests_with_no_edit_outside_its_folder(
    repo_copy: Path,
) -> None:
    created = run(
        [
            sys.executable,
            "-m",
            "ops.cli",
            "channel",
            "new",
            "sms",
            "--address-kind",
            "phone",
            "--attachment",
            "png",
        ],
        repo_copy,
    )
    assert created.returncode == 0, created.stderr
    assert "Procfile" in created.stdout

    changed = run(["git", "status", "--porcelain", "--untracked-files=all"], repo_copy).stdout.splitlines()
    assert changed and all(line.startswith("?? services/channels/sms/") for line in changed), changed

    where = run(
        [sys.executable, "-c", "import services.channels.sms.adapter as m; print(m.__file__)"], repo_copy
    )
    assert where.stdout.strip().startswith(str(repo_copy)), "tests must exercise the copy, not this checkout"
    listed = run([sys.executable, "-m", "ops.cli", "channel", "list"], repo_copy)
    assert "sms" in listed.stdout and "address=phone" in listed.stdout

    tests = run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "services/channels/sms"], repo_copy
    )
    assert tests.returncode == 0, tests.stdout[-3000:] + tests.stderr[-2000:]
    assert " passed" in tests.stdout and "failed" not in tests.stdout
    for check in (["check"], ["format", "--check"]):
        lint = run([sys.executable, "-m", "ruff", *check, "services/channels/sms"], repo_copy)
        assert lint.returncode == 0, lint.stdout
    types = run([sys.executable, "-m", "mypy", "services/channels/sms"], repo_copy)
    assert types.returncode == 0, types.stdout


def test_names_that_would_break_things_are_refused(repo_copy: Path) -> None:
    for name in ("Email", "class", "email", "x", "sms-gateway"):
        result = run([sys.executable, "-m", "ops.cli", "channel", "new", name], repo_copy)
        assert result.returncode != 0, name
    assert run(["git", "status", "--porcelain"], repo_copy).stdout == ""
