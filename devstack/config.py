"""Where the local stack lives: one place for its ports, directories and URLs.

Every value can be changed with an environment variable (or in `.env`), so `make run` can move
out of the way of other programs and tests can run a whole stack on free ports.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from shared.channels.catalogue import catalogue, spec


@dataclass(frozen=True)
class PortSpec:
    label: str
    variable: str
    port: int


@dataclass(frozen=True)
class LocalStack:
    run_dir: Path
    amqp_port: int
    management_port: int
    epmd_port: int
    dist_port: int
    mongo_port: int
    smtp_port: int
    mail_ui_port: int
    sandbox_port: int
    webhook_ports: Mapping[str, int]
    """Each channel with an inbound process (its catalogue declaration says `inbound`): the port
    its webhooks listen on locally, `SAMLENG_<NAME>_WEBHOOK_PORT`, default 8100 + its form order."""
    external_mongodb_uri: str | None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> LocalStack:
        def port(name: str, default: int) -> int:
            value = env.get(name, str(default))
            try:
                number = int(value)
            except ValueError:
                raise ValueError(f"{name}={value!r} is not a port number") from None
            if not 1 <= number <= 65535:
                raise ValueError(f"{name}={number} is outside 1-65535")
            return number

        stack = cls(
            run_dir=Path(env.get("SAMLENG_RUN_DIR", ".run")).resolve(),
            amqp_port=port("SAMLENG_AMQP_PORT", 5672),
            management_port=port("SAMLENG_RABBITMQ_MANAGEMENT_PORT", 15672),
            epmd_port=port("SAMLENG_EPMD_PORT", 4371),
            dist_port=port("SAMLENG_RABBITMQ_DIST_PORT", 25672),
            mongo_port=port("SAMLENG_MONGO_PORT", 27017),
            smtp_port=port("SAMLENG_SMTP_PORT", 1025),
            mail_ui_port=port("SAMLENG_MAIL_UI_PORT", 8025),
            sandbox_port=port("SAMLENG_SANDBOX_PORT", 8090),
            webhook_ports={
                name: port(f"SAMLENG_{name.upper()}_WEBHOOK_PORT", 8100 + spec.order)
                for name, spec in catalogue().items()
                if spec.inbound
            },
            external_mongodb_uri=None,
        )
        shared = {n for n in stack.webhook_ports.values() if list(stack.webhook_ports.values()).count(n) > 1}
        if shared:
            raise ValueError(f"two channels' webhooks on port {min(shared)}: set SAMLENG_<NAME>_WEBHOOK_PORT")
        uri = env.get("MONGODB_URI") or None
        if uri and uri != stack.mongodb_uri:
            stack = replace(stack, external_mongodb_uri=uri)
        return stack

    @property
    def amqp_url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.amqp_port}/"

    @property
    def mongodb_uri(self) -> str:
        return self.external_mongodb_uri or f"mongodb://127.0.0.1:{self.mongo_port}/?retryWrites=false"

    @property
    def health_dir(self) -> Path:
        return self.run_dir / "health"

    def ports(self) -> list[PortSpec]:
        specs = [
            PortSpec("RabbitMQ AMQP", "SAMLENG_AMQP_PORT", self.amqp_port),
            PortSpec("RabbitMQ management UI", "SAMLENG_RABBITMQ_MANAGEMENT_PORT", self.management_port),
            PortSpec("RabbitMQ distribution", "SAMLENG_RABBITMQ_DIST_PORT", self.dist_port),
            PortSpec("epmd", "SAMLENG_EPMD_PORT", self.epmd_port),
            PortSpec("SMTP sink", "SAMLENG_SMTP_PORT", self.smtp_port),
            PortSpec("mail inbox UI", "SAMLENG_MAIL_UI_PORT", self.mail_ui_port),
            PortSpec("provider sandbox", "SAMLENG_SANDBOX_PORT", self.sandbox_port),
            *(
                PortSpec(f"{spec(name).label('en')} webhooks", f"SAMLENG_{name.upper()}_WEBHOOK_PORT", number)
                for name, number in self.webhook_ports.items()
            ),
        ]
        if self.external_mongodb_uri is None:
            specs.append(PortSpec("MongoDB-wire server", "SAMLENG_MONGO_PORT", self.mongo_port))
        return specs

    def child_env(self) -> dict[str, str]:
        """What every process started by `make run` sees (on top of the caller's environment)."""
        return {
            "SAMLENG_RUN_DIR": str(self.run_dir),
            "SAMLENG_AMQP_PORT": str(self.amqp_port),
            "SAMLENG_RABBITMQ_MANAGEMENT_PORT": str(self.management_port),
            "SAMLENG_EPMD_PORT": str(self.epmd_port),
            "SAMLENG_RABBITMQ_DIST_PORT": str(self.dist_port),
            "SAMLENG_MONGO_PORT": str(self.mongo_port),
            "SAMLENG_SMTP_PORT": str(self.smtp_port),
            "SAMLENG_MAIL_UI_PORT": str(self.mail_ui_port),
            "SAMLENG_SANDBOX_PORT": str(self.sandbox_port),
            **{f"SAMLENG_{name.upper()}_WEBHOOK_PORT": str(n) for name, n in self.webhook_ports.items()},
            "SAMLENG_HEALTH_DIR": str(self.health_dir),
            "AMQP_URL": self.amqp_url,
            "MONGODB_URI": self.mongodb_uri,
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(self.smtp_port),
            "SANDBOX_URL": f"http://127.0.0.1:{self.sandbox_port}",
            "EMAIL_RECONCILE_API_URL": f"http://127.0.0.1:{self.mail_ui_port}",
            **self.webhook_env(),
        }

    def webhook_env(self) -> dict[str, str]:
        """Each inbound channel's webhook receiver: its port, the public base URL it gives its
        provider (e.g. a status callback), and where the sandbox playing that provider calls it."""
        env: dict[str, str] = {}
        for name, number in self.webhook_ports.items():
            url = f"http://127.0.0.1:{number}/webhooks/{name}"
            env[f"{name.upper()}_WEBHOOK_PORT"] = str(number)
            env[f"{name.upper()}_WEBHOOK_BASE_URL"] = url
            env[f"SANDBOX_{name.upper()}_WEBHOOK_URL"] = url
        return env

    def infrastructure_urls(self) -> list[tuple[str, str]]:
        mongo = (
            "external MongoDB (MONGODB_URI)"
            if self.external_mongodb_uri
            else f"mongodb://127.0.0.1:{self.mongo_port}"
        )
        return [
            ("RabbitMQ", f"amqp://127.0.0.1:{self.amqp_port}"),
            ("RabbitMQ management UI", f"http://127.0.0.1:{self.management_port}/  (guest / guest)"),
            ("MongoDB-wire server", mongo),
            ("SMTP sink", f"smtp://127.0.0.1:{self.smtp_port}"),
            ("Mail inbox", f"http://127.0.0.1:{self.mail_ui_port}/"),
            ("Provider sandbox", f"http://127.0.0.1:{self.sandbox_port}/docs"),
        ]


@dataclass(frozen=True)
class ProcfileEntry:
    name: str
    command: str

    @property
    def is_service(self) -> bool:
        return " -m services." in self.command


def read_procfile(path: Path) -> list[ProcfileEntry]:
    entries = []
    for line in path.read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, _, command = line.partition(":")
        entries.append(ProcfileEntry(name.strip(), command.strip()))
    return entries


def parse_scale(text: str) -> dict[str, int]:
    """`email=3,signal=2` -> {"email": 3, "signal": 2} (as `make run SCALE=...` takes it)."""
    scale: dict[str, int] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, _, count = item.partition("=")
        if not count.isdigit() or int(count) < 0:
            raise ValueError(f"bad scale {item!r}: use name=N, e.g. email=3")
        scale[name.strip()] = int(count)
    return scale
