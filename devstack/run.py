"""`make run`: check the machine, then start every process of the Procfile (devstack.procs).

It refuses to start (with the reason and the fix) when a port is taken or rabbitmq-server is
missing, skips the local Mongo-wire server when MONGODB_URI points elsewhere, passes SCALE
(`email=3,signal=2`) to the runner, and leaves a pid file for `make stop`. Ctrl-C stops everything.
"""

from __future__ import annotations

import base64
import importlib
import os
import secrets
import shutil
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

from dotenv import dotenv_values

from devstack.broker import RABBIT_BIN, port_is_open
from devstack.config import LocalStack, parse_scale, read_procfile
from shared.channels.catalogue import catalogue

ROOT = Path(__file__).resolve().parents[1]


def fail(message: str) -> int:
    print(f"\nmake run: {message}\n", file=sys.stderr, flush=True)
    return 1


def local_secrets(run_dir: Path) -> dict[str, str]:
    """Secrets for a local run, generated once into .run/secrets.env (never committed, never default)."""
    path = run_dir / "secrets.env"
    wanted: dict[str, Callable[[], str]] = {
        "INTAKE_SECRET_KEY": lambda: secrets.token_urlsafe(32),
        "CONSOLE_SECRET_KEY": lambda: secrets.token_urlsafe(32),
        "POST_API_KEY": lambda: f"test_{secrets.token_hex(16)}",  # the sandbox takes any test_ key
        "WHATSAPP_ACCESS_TOKEN": lambda: secrets.token_urlsafe(24),
        "WHATSAPP_APP_SECRET": lambda: secrets.token_urlsafe(24),
        "WHATSAPP_VERIFY_TOKEN": lambda: secrets.token_urlsafe(16),
        "MESSENGER_PAGE_ACCESS_TOKEN": lambda: secrets.token_urlsafe(24),
        "MESSENGER_APP_SECRET": lambda: secrets.token_urlsafe(24),
        "MESSENGER_VERIFY_TOKEN": lambda: secrets.token_urlsafe(16),
        # personal data at rest (shared/personal_data.py): the local master key and the blind-index key
        "SAMLENG_MASTER_KEY": lambda: base64.b64encode(secrets.token_bytes(96)).decode(),
        "SAMLENG_BLIND_INDEX_KEY": lambda: secrets.token_urlsafe(32),
    }
    run_dir.mkdir(parents=True, exist_ok=True)
    existing = {k: v for k, v in dotenv_values(path).items() if v is not None} if path.exists() else {}
    missing = {name: make() for name, make in wanted.items() if name not in existing}
    if missing:
        with path.open("a") as out:
            out.writelines(f"{name}={value}\n" for name, value in missing.items())
        path.chmod(0o600)
    return {**existing, **missing}


def public_numbers(env: Mapping[str, str]) -> dict[str, str]:
    """The numbers the local public site asks people to write to, confirming theirs
    (services/intake/confirm_number.py): for each channel that sends to a phone,
    `INTAKE_<NAME>_NUMBER`, unless set (an empty value, as in a copied .env.example, counts as
    unset), is its sandbox's own number (`our_number(env)` in the channel's sandbox.py)."""
    numbers: dict[str, str] = {}
    for name, declared in catalogue().items():
        if declared.address_kind != "phone":
            continue
        variable = f"INTAKE_{name.upper()}_NUMBER"
        sandbox = importlib.import_module(f"services.channels.{name}.sandbox")
        ours = env.get(variable) or (sandbox.our_number(env) if hasattr(sandbox, "our_number") else None)
        if ours:
            numbers[variable] = ours
    return numbers


def main() -> int:
    env = {k: v for k, v in dotenv_values(ROOT / ".env").items() if v is not None}
    env.update(os.environ)
    try:
        stack = LocalStack.from_env(env)
        scale = parse_scale(env.get("SCALE", ""))
    except ValueError as error:
        return fail(str(error))
    if not (RABBIT_BIN / "rabbitmq-server").exists():
        return fail(
            "rabbitmq-server is not installed. `make run` installs it (apt-get); run `make setup` as root."
        )
    taken = [spec for spec in stack.ports() if port_is_open(spec.port)]
    if taken:
        lines = "\n".join(f"  - port {s.port}: {s.label} (set {s.variable} to move it)" for s in taken)
        return fail(
            f"these ports are already in use:\n{lines}\n"
            "A Samleng run may still be going: `make stop` ends it. Otherwise stop the program using "
            "the port, or choose other ports in .env (see .env.example)."
        )
    entries = read_procfile(ROOT / "Procfile")
    names = [e.name for e in entries if not (e.name == "mongo" and stack.external_mongodb_uri)]
    unknown = set(scale) - set(names)
    if unknown:
        return fail(f"SCALE names unknown processes: {', '.join(sorted(unknown))}; known: {', '.join(names)}")
    expected = []
    for entry in entries:
        if entry.is_service and entry.name in names:
            expected += [f"{entry.name}.{i}" for i in range(1, scale.get(entry.name, 1) + 1)]

    stack.run_dir.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(stack.health_dir, ignore_errors=True)
    stack.health_dir.mkdir(parents=True)
    (stack.run_dir / "run.pid").write_text(str(os.getpid()))

    child_env = dict(env)
    child_env.update(stack.child_env())
    for name, value in local_secrets(stack.run_dir).items():
        child_env.setdefault(name, value)
    child_env.setdefault("INTAKE_MESSENGER_PAGE", "SamlengSandbox")
    child_env.update(public_numbers(child_env))
    child_env.setdefault("CONSOLE_INSECURE_COOKIES", "true")  # the local console is plain http
    child_env.setdefault(
        "CONSOLE_PUBLIC_SITE_URL", child_env.get("INTAKE_PUBLIC_BASE_URL", "http://127.0.0.1:8000")
    )
    # the sandbox plays Meta: it signs webhooks with the apps' secrets and expects their tokens
    for sandbox, ours in (
        ("SANDBOX_WHATSAPP_APP_SECRET", "WHATSAPP_APP_SECRET"),
        ("SANDBOX_WHATSAPP_ACCESS_TOKEN", "WHATSAPP_ACCESS_TOKEN"),
        ("SANDBOX_MESSENGER_APP_SECRET", "MESSENGER_APP_SECRET"),
        ("SANDBOX_MESSENGER_ACCESS_TOKEN", "MESSENGER_PAGE_ACCESS_TOKEN"),
        ("MESSENGER_REF_SECRET", "INTAKE_SECRET_KEY"),  # m.me references are signed by intake
    ):
        if ours in child_env:
            child_env.setdefault(sandbox, child_env[ours])
    public_url = child_env.get("INTAKE_PUBLIC_BASE_URL", "http://127.0.0.1:8000")
    child_env.setdefault("CERTIFICATES_PUBLIC_BASE_URL", public_url)
    child_env.setdefault("DISPATCHER_PUBLIC_BASE_URL", public_url)
    child_env.setdefault("LOG_FORMAT", "console")
    child_env["SAMLENG_EXPECTED_SERVICES"] = ",".join(expected)
    child_env["PYTHONUNBUFFERED"] = "1"
    child_env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{child_env.get('PATH', '')}"

    args = [sys.executable, "-m", "devstack.procs", "-f", str(ROOT / "Procfile")]
    if scale:
        args += ["-c", ",".join(f"{k}={v}" for k, v in scale.items())]
    args += names
    print(
        f"make run: starting {', '.join(names)} (data in {stack.run_dir}); Ctrl-C stops everything.",
        flush=True,
    )
    os.execve(sys.executable, args, child_env)  # noqa: S606 - the runner replaces us so Ctrl-C reaches it
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main())
