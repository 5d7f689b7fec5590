"""Each process's MongoDB role (deploy/access.yml -> deploy/mongodb/init-users.js) against the code.

The roles cannot be tried on the local Mongo-wire server (SecantusDB has no authentication), so:
- the collections each process's code touches (found by reading its source: `db.<name>`,
  `db["<name>"]`, `database(...)[...]`, GridFS buckets as `<bucket>.files`/`.chunks`, and the key
  vault's collections where it calls `open_vault`) are exactly the collections of its role, and one
  it writes directly is in its `readWrite`; a channel reads the buckets its requests name (the
  channel runner opens the bucket a file reference says): the renderer's certificate files if it
  carries any file, and the console's Plan of Action PDFs too if it carries PDFs;
- the generated scripts are what access.yml says (`python deploy/access.py --check`);
- the mongosh script, run by Node against a stand-in `db`, creates one role with exactly those
  privileges and one user per process, takes passwords from the environment and stops without one.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from shared.channels.catalogue import spec
from tests.deploy.test_rabbitmq_access import ACCESS

ROOT = Path(__file__).resolve().parents[2]
READS = {"find", "find_one", "count_documents", "estimated_document_count", "aggregate", "distinct"}
READS |= {"index_information", "list_indexes", "open_download_stream", "watch"}
WRITES = {"insert_one", "insert_many", "update_one", "update_many", "replace_one", "delete_one"}
WRITES |= {"delete_many", "find_one_and_update", "find_one_and_replace", "find_one_and_delete"}
WRITES |= {"create_index", "drop_index", "bulk_write"}
NOT_COLLECTIONS = {"client", "name", "command", "with_options", "get_collection", "codec_options"}
VAULT_SOURCE = "shared/personal_data.py"  # `open_vault(db)`: the process's own key vault
SERVICE_RUNTIME = "shared/service.py"  # every message-driven process: opens the vault at start
REQUEST_FILES = "shared/channels/runner.py"  # opens the GridFS bucket a request's file reference names


def channels() -> list[str]:
    return sorted(p.parent.name for p in (ROOT / "services" / "channels").glob("*/adapter.py"))


def scopes() -> dict[str, tuple[list[str], str | None]]:
    """Process -> (the source it runs, the channel name its f-strings are filled with)."""
    found: dict[str, tuple[list[str], str | None]] = {
        "intake": (["services/intake", "shared/member_data"], None),  # a member's own export
        "console": (["services/console", "shared/partner_keys.py", "shared/member_data"], None),
        "pledge-intake": (["services/pledge_intake", SERVICE_RUNTIME], None),
        "certificate-renderer": (["services/certificates", SERVICE_RUNTIME], None),
        "alert-dispatcher": (["services/dispatcher", SERVICE_RUNTIME], None),
        "event-scheduler": (["services/scheduler", SERVICE_RUNTIME], None),
        "ops": (["ops", "services/channels/post/print_batch.py", "services/console/operators.py"], None),
    }
    for name in channels():
        found[name] = (
            [
                "shared/channels/service.py",
                "shared/channels/runner.py",
                "shared/channels/erasure.py",
                "shared/channels/read_models.py",
                f"services/channels/{name}",
                SERVICE_RUNTIME,
            ],
            name,
        )
        if (ROOT / "services" / "channels" / name / "inbound.py").exists():
            found[f"{name}-inbound"] = (
                ["shared/channels/inbound.py", f"services/channels/{name}/adapter.py"],
                name,
            )
    return found


def string_constants() -> dict[str, str]:
    constants: dict[str, str] = {}
    for path in [*ROOT.glob("shared/**/*.py"), *ROOT.glob("services/**/*.py")]:
        for node in ast.parse(path.read_text()).body:
            if (
                isinstance(node, ast.Assign)
                and isinstance(node.value, ast.Constant)
                and isinstance(node.value.value, str)
            ):
                for target in node.targets:
                    if isinstance(target, ast.Name):
                        constants[target.id] = node.value.value
    return constants


CONSTANTS = string_constants()


def is_database(node: ast.expr) -> bool:
    if isinstance(node, ast.Call):
        func = node.func
        return (isinstance(func, ast.Name) and func.id in ("db", "database")) or (
            isinstance(func, ast.Attribute) and func.attr == "database"
        )
    if isinstance(node, ast.Name):
        return node.id in ("db", "_db")
    return isinstance(node, ast.Attribute) and node.attr in ("db", "_db")


def text_of(node: ast.expr | None, channel: str | None) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Name):
        return CONSTANTS.get(node.id)
    if isinstance(node, ast.JoinedStr) and channel is not None:
        parts = []
        for value in node.values:
            if isinstance(value, ast.Constant):
                parts.append(str(value.value))
            elif isinstance(value, ast.FormattedValue) and ast.unparse(value.value).endswith("name"):
                parts.append(channel)
            else:
                return None
        return "".join(parts)
    return None


def collections_in_code(paths: list[str], channel: str | None) -> dict[str, set[str]]:
    """Collection -> how the code uses it directly ("read", "write", "?")."""
    files: list[Path] = []
    for entry in paths:
        path = ROOT / entry
        files += [path] if path.is_file() else [p for p in path.rglob("*.py") if "tests" not in p.parts]
    used: dict[str, set[str]] = {}
    for path in files:
        tree = ast.parse(path.read_text())
        parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Attribute) and is_database(node.value):
                if not node.attr.startswith("_") and node.attr not in NOT_COLLECTIONS:
                    names = [node.attr]
            elif isinstance(node, ast.Subscript) and is_database(node.value):
                name = text_of(node.slice, channel)
                assert name is not None, f"{path}: cannot tell the collection of {ast.unparse(node)}"
                names = [name]
            elif isinstance(node, ast.Call) and ast.unparse(node.func).rsplit(".", 1)[-1] == "ReadModel":
                name = text_of(node.args[0] if node.args else None, channel)
                assert name is not None, f"{path}: cannot tell the collection of {ast.unparse(node)}"
                used.setdefault(name, set()).add("read")  # shared/read_models.py: reads only
                continue
            elif isinstance(node, ast.Call) and ast.unparse(node.func).rsplit(".", 1)[-1] == "open_vault":
                for name in vault_collections():  # it creates data keys and their index: writes
                    used.setdefault(name, set()).add("write")
                continue
            elif isinstance(node, ast.Call) and ast.unparse(node.func).rsplit(".", 1)[-1] in (
                "AsyncGridFSBucket",
                "FileStore",
            ):
                arg = node.args[1] if len(node.args) > 1 else None
                arg = next((k.value for k in node.keywords if k.arg == "bucket_name"), arg)
                bucket = text_of(arg, channel) if arg is not None else "fs"
                if bucket is None and path == ROOT / REQUEST_FILES and channel is not None:
                    buckets = buckets_named_in_requests(channel)
                else:
                    assert bucket is not None, f"{path}: cannot tell the bucket of {ast.unparse(node)}"
                    buckets = [bucket]
                names = [f"{name}{suffix}" for name in buckets for suffix in (".files", ".chunks")]
            if not names:
                continue
            parent = parents.get(node)
            how = "?"
            if isinstance(parent, ast.Attribute) and parent.attr in READS:
                how = "read"
            elif isinstance(parent, ast.Attribute) and parent.attr in WRITES:
                how = "write"
            elif isinstance(parent, ast.Call) and ast.unparse(parent.func) == "durable":
                how = "write"  # durable() is the write concern for data that must not be lost
            elif isinstance(node, ast.Call) and ast.unparse(node.func).endswith("FileStore"):
                how = "write"
            for name in names:
                used.setdefault(name, set()).add(how)
    return used


def buckets_named_in_requests(channel: str) -> list[str]:
    """The GridFS buckets a channel's requests can name (services/certificates/app.py and
    services/console/routes/sessions.py name them), by what the channel declares it carries."""
    kinds = spec(channel).attachments
    named = [CONSTANTS["CERTIFICATE_FILES_BUCKET"]] if kinds else []
    if "pdf" in kinds:  # a Plan of Action's PDF goes to channels that carry PDFs
        named.append(CONSTANTS["SESSION_FILES_BUCKET"])
    return named


def vault_collections() -> set[str]:
    """The collections the key vault uses (shared/personal_data.py: `db[KEY_VAULT]`)."""
    found = set(collections_in_code([VAULT_SOURCE], None))
    assert found == {CONSTANTS["KEY_VAULT"]}, found
    return found


def test_every_process_has_a_scope_and_every_scope_a_process() -> None:
    assert set(scopes()) == set(ACCESS.processes)


@pytest.mark.parametrize("process", sorted(ACCESS.processes))
def test_the_role_holds_exactly_the_collections_the_code_uses(process: str) -> None:
    paths, channel = scopes()[process]
    used = collections_in_code(paths, channel)
    access = ACCESS.processes[process]
    assert set(used) == set(access.collections), f"{process}: code {sorted(used)} vs access.yml"
    written = {name for name, how in used.items() if "write" in how}
    assert written <= set(access.read_write), f"{process} writes {sorted(written - set(access.read_write))}"
    assert not set(access.read_write) & set(access.read_only), process


def test_the_generated_scripts_are_what_access_yml_says() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "deploy" / "access.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr


STAND_IN = """
const vm = require("vm");
const fs = require("fs");
const calls = [];
const roles = {}, users = {};
const target = {
  getName: () => process.env.MONGODB_DATABASE || "samleng",
  getRole: (name) => roles[name] || null,
  createRole: (spec) => { roles[spec.role] = spec; calls.push(["createRole", spec]); },
  updateRole: (name, spec) => { calls.push(["updateRole", name, spec]); },
  getUser: (name) => users[name] || null,
  createUser: (spec) => { users[spec.user] = spec; calls.push(["createUser", spec]); },
  updateUser: (name, spec) => { calls.push(["updateUser", name, spec]); },
};
const fresh = () => vm.createContext({ db: { getSiblingDB: () => target }, process, print: () => {} });
const source = fs.readFileSync(process.argv[2], "utf8");
try {
  vm.runInContext(source, fresh());
  vm.runInContext(source, fresh());  // again: existing roles and users are updated
  console.log(JSON.stringify({ ok: true, calls }));
} catch (error) {
  console.log(JSON.stringify({ ok: false, error: String(error), calls }));
}
"""


def run_init_script(env: dict[str, str], tmp_path: Path) -> dict[str, Any]:
    node = shutil.which("node")
    if node is None:
        pytest.skip("Node.js is not installed (the mongosh script is JavaScript)")
    runner = tmp_path / "stand-in.js"
    runner.write_text(STAND_IN)
    done = subprocess.run(
        [node, str(runner), str(ROOT / "deploy" / "mongodb" / "init-users.js")],
        env={"PATH": os.environ["PATH"], **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def test_the_mongosh_script_creates_one_role_and_user_per_process_with_exactly_its_collections(
    tmp_path: Path,
) -> None:
    passwords = {p.mongodb_password_var: f"pw-{p.name}" for p in ACCESS.processes.values()}
    result = run_init_script({**passwords, "MONGODB_DATABASE": "samleng"}, tmp_path)
    assert result["ok"], result
    created_roles = {c[1]["role"]: c[1] for c in result["calls"] if c[0] == "createRole"}
    created_users = {c[1]["user"]: c[1] for c in result["calls"] if c[0] == "createUser"}
    assert set(created_users) == set(ACCESS.processes)
    assert {c[1] for c in result["calls"] if c[0] == "updateUser"} == set(ACCESS.processes)
    for name, process in ACCESS.processes.items():
        user = created_users[name]
        assert user["pwd"] == f"pw-{name}"
        assert user["roles"] == [{"role": f"samleng-{name}", "db": "samleng"}]
        privileges = created_roles[f"samleng-{name}"]["privileges"]
        granted = {p["resource"]["collection"]: set(p["actions"]) for p in privileges}
        assert all(p["resource"]["db"] == "samleng" for p in privileges)
        assert set(granted) == set(process.collections), name
        for collection in process.read_write:
            assert {"find", "insert", "update", "remove", "createIndex"} <= granted[collection]
        for collection in process.read_only:
            assert granted[collection] == {"find", "listIndexes"}, (name, collection)
        assert created_roles[f"samleng-{name}"]["roles"] == []


def test_the_mongosh_script_stops_when_a_password_is_missing(tmp_path: Path) -> None:
    passwords = {p.mongodb_password_var: "pw" for p in ACCESS.processes.values()}
    del passwords["OPS_MONGODB_PASSWORD"]
    result = run_init_script(passwords, tmp_path)
    assert not result["ok"] and "OPS_MONGODB_PASSWORD" in result["error"]
