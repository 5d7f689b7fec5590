"""Members' IP addresses are never stored or logged (issue 17, point 5), read from the code: outside
the operator console (whose sign-ins keep the address, as the issue allows), a client address
(`request.client`, the ASGI `scope["client"]`, forwarding headers) is read only by the functions
listed here, each of which keys the abuse limits (stored only as a keyed hash, in `rate_limits`);
and no database write or log call is handed one."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CONSOLE = ROOT / "services" / "console"
RATE_LIMIT_KEYS = {  # (file, function) -> what the address is for
    ("shared/rate_limit.py", "request_client"): "key of the shared abuse limits (intake, webhooks), "
    "stored only as a keyed hash",
}
FORWARDING_HEADERS = ("x-forwarded-for", "x-real-ip", "forwarded", "cf-connecting-ip", "true-client-ip")
WRITES = {"insert_one", "insert_many", "update_one", "update_many", "replace_one", "find_one_and_update"}
LOGS = {"debug", "info", "warning", "error", "exception", "critical", "msg"}


def sources() -> list[Path]:
    files = [*(ROOT / "services").rglob("*.py"), *(ROOT / "shared").rglob("*.py")]
    return sorted(f for f in files if CONSOLE not in f.parents)


def reads_client_address(node: ast.AST) -> bool:
    """`request.client`, `<x>.scope["client"]`/`scope.get("client")`, or a forwarding header."""
    if isinstance(node, ast.Attribute) and node.attr == "client" and isinstance(node.value, ast.Name):
        return node.value.id in {"request", "websocket", "req"}
    if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant):
        return node.slice.value == "client" and "scope" in ast.unparse(node.value)
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value.lower() in FORWARDING_HEADERS
    return False


def enclosing_functions(tree: ast.AST) -> dict[ast.AST, str]:
    owner: dict[ast.AST, str] = {}
    for function in ast.walk(tree):
        if isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
            for node in ast.walk(function):
                owner[node] = function.name  # inner functions are walked later and win
    return owner


def test_client_addresses_are_read_only_to_key_rate_limits() -> None:
    readers: set[tuple[str, str]] = set()
    for path in sources():
        tree = ast.parse(path.read_text(), str(path))
        owner = enclosing_functions(tree)
        for node in ast.walk(tree):
            if reads_client_address(node):
                readers.add((str(path.relative_to(ROOT)), owner.get(node, "<module>")))
    assert readers <= set(RATE_LIMIT_KEYS), f"review and list (or remove): {readers - set(RATE_LIMIT_KEYS)}"


def test_no_database_write_or_log_call_is_handed_a_client_address() -> None:
    key_functions = {function for _, function in RATE_LIMIT_KEYS}
    offenders: list[str] = []
    for path in sources():
        tree = ast.parse(path.read_text(), str(path))
        for call in ast.walk(tree):
            if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)):
                continue
            if call.func.attr not in WRITES | LOGS:
                continue
            for argument in [*call.args, *(k.value for k in call.keywords)]:
                for node in ast.walk(argument):
                    named = isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                    if reads_client_address(node) or (named and node.func.id in key_functions):  # type: ignore[attr-defined]
                        offenders.append(f"{path.relative_to(ROOT)}:{call.lineno}")
            keywords = {k.arg for k in call.keywords}
            if call.func.attr in LOGS and keywords & {"ip", "client", "client_ip", "remote_addr", "peer"}:
                offenders.append(f"{path.relative_to(ROOT)}:{call.lineno}")
    assert offenders == []


def test_the_services_run_uvicorn_without_its_access_log() -> None:
    from shared.health import server_config

    assert server_config(object()).access_log is False
