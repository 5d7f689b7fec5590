"""`python -m services.intake`: the public pledge site and API on INTAKE_HOST:INTAKE_PORT."""

from __future__ import annotations

from services.intake.app import create_app
from services.intake.settings import IntakeSettings
from shared.health import run_asgi
from shared.observability import configure_logging


def main() -> None:
    settings = IntakeSettings()
    configure_logging("intake", settings.log_level, settings.log_format)
    run_asgi(
        create_app(settings),
        "intake",
        settings.host,
        settings.port,
        settings.health_registry_dir,
        proxy_headers=False,  # INTAKE_TRUSTED_PROXIES decides (shared/rate_limit.py)
    )


if __name__ == "__main__":
    main()
