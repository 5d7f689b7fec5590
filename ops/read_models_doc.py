"""docs/read-models.md, written from the code: every declared read model (shared/read_models.py)
of every service — which collection, whose it is (deploy/access.yml), who reads it and which
fields. `samleng docs` writes it; tests/unit/test_docs_current.py fails when it is out of date."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from shared.read_models import ReadModel

ROOT = Path(__file__).resolve().parents[1]
HEADER = """# Read models: who reads whose collection, and which fields

Each collection has one writer, the process whose `readWrite` in deploy/access.yml holds it.
Another service reads it only through a read model it declares in its own `read_models.py`
(shared/read_models.py): a pydantic view of the fields it may see. Every query through a read
model asks for those fields only and may filter or sort on them only; anything else fails before
the database is asked. tests/deploy/test_read_models.py fails when code touches a foreign
collection outside its read models, or declares a read its access.yml role does not grant.

Before changing or removing a field of a collection you own, look here for who reads it.
This page is written by `make docs` from the code.

| collection | owner | read by | view | fields |
|---|---|---|---|---|
"""


def _access() -> ModuleType:
    spec = importlib.util.spec_from_file_location("deploy_access", ROOT / "deploy" / "access.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def read_model_modules() -> list[str]:
    paths = sorted([*ROOT.glob("services/**/read_models.py"), *ROOT.glob("shared/**/read_models.py")])
    return [".".join(p.relative_to(ROOT).with_suffix("").parts) for p in paths]


def document() -> str:
    access = _access().load()
    owners: dict[str, list[str]] = {}
    for name, process in sorted(access.processes.items()):
        for collection in process.read_write:
            owners.setdefault(collection, []).append(name)
    rows = []
    for module_name in read_model_modules():
        module = importlib.import_module(module_name)
        reader = module_name.removesuffix(".read_models")
        for model in vars(module).values():
            if isinstance(model, ReadModel):
                fields = ", ".join(f"`{f}`" for f in sorted(model.fields))
                if model.whole:
                    fields = f"whole document, looked up by {fields}"
                owner = ", ".join(owners.get(model.collection, ["?"]))
                rows.append(
                    f"| `{model.collection}` | {owner} | `{reader}` | `{model.view.__name__}` | {fields} |"
                )
    return HEADER + "\n".join(sorted(rows)) + "\n"


def write(path: Path) -> Path:
    path.write_text(document())
    return path
