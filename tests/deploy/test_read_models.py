"""Reads of another service's collections go through declared read models only
(shared/read_models.py; docs/read-models.md).

For every process (deploy/access.yml): a collection it only reads (its `read`) appears in its code
only as a `ReadModel("<collection>", View)` declaration in a `read_models.py` module; every
declared read model is of a collection access.yml lets it read; and every query through a read
model asks only for fields its view declares (shared/read_models.py raises `UndeclaredField`,
tests/unit/test_read_models.py). GridFS buckets are files read by id, not documents with fields:
they are checked by tests/deploy/test_mongodb_access.py only.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.deploy.test_mongodb_access import ROOT, collections_in_code, scopes
from tests.deploy.test_rabbitmq_access import ACCESS

BROKEN = ROOT / "tests" / "unit" / "references" / "read_models_broken"


def files_of(paths: list[str]) -> list[Path]:
    found: list[Path] = []
    for entry in paths:
        path = ROOT / entry
        found += [path] if path.is_file() else [p for p in path.rglob("*.py") if "tests" not in p.parts]
    return found


def declared_read_models(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if (
            isinstance(node, ast.Call)
            and ast.unparse(node.func).rsplit(".", 1)[-1] == "ReadModel"
            and node.args
            and isinstance(node.args[0], ast.Constant)
        ):
            names.add(str(node.args[0].value))
    return names


def undeclared_reads(paths: list[str], foreign: set[str], channel: str | None) -> list[str]:
    """Every place the code touches a foreign collection other than a read model declaration."""
    problems = []
    for path in files_of(paths):
        declared = declared_read_models(path) if path.name == "read_models.py" else set()
        used = collections_in_code([str(path.relative_to(ROOT))], channel)
        for name in sorted(set(used) & foreign):
            if path.name != "read_models.py" or name not in declared:
                problems.append(f"{path.relative_to(ROOT)} reads {name} outside a declared read model")
            elif used[name] != {"read"}:
                problems.append(f"{path.relative_to(ROOT)} uses {name} other than through its ReadModel")
    return problems


def is_bucket(name: str) -> bool:
    return name.endswith((".files", ".chunks"))


def test_a_read_behind_the_read_models_back_is_found() -> None:
    fixture = [str(path.relative_to(ROOT)) for path in sorted(BROKEN.glob("*.py"))]
    problems = undeclared_reads(fixture, {"alerts", "deliveries"}, None)
    assert problems == [
        "tests/unit/references/read_models_broken/handlers.py reads alerts outside a declared read model",
        "tests/unit/references/read_models_broken/handlers.py reads deliveries outside a declared read model",
    ]


@pytest.mark.parametrize("process", sorted(ACCESS.processes))
def test_every_foreign_read_goes_through_a_declared_read_model(process: str) -> None:
    paths, channel = scopes()[process]
    access = ACCESS.processes[process]
    foreign = {name for name in access.read_only if not is_bucket(name)}
    assert not undeclared_reads(paths, foreign, channel)
    declared: set[str] = set()
    for path in files_of(paths):
        if path.name == "read_models.py":
            declared |= declared_read_models(path)
    assert declared == foreign, (
        f"{process}: read models {sorted(declared)} vs access.yml read {sorted(foreign)}"
    )
