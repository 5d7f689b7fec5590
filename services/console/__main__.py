"""`python -m services.console`: the operator console API on CONSOLE_HOST:CONSOLE_PORT."""

from __future__ import annotations

from services.console.app import create_app
from services.console.settings import ConsoleSettings
from shared.health import run_asgi
from shared.observability import configure_logging


def main() -> None:
    settings = ConsoleSettings()
    configure_logging("console", settings.log_level, settings.log_format)
    run_asgi(create_app(settings), "console", settings.host, settings.port, settings.health_registry_dir)


if __name__ == "__main__":
    main()
