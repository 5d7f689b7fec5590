"""`python -m services.pledge_intake`"""

from __future__ import annotations

from typing import ClassVar

from pydantic_settings import SettingsConfigDict

from services.pledge_intake.app import bootstrap, router
from shared.service import run_service
from shared.settings import ServiceSettings


class PledgeIntakeSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="PLEDGE_INTAKE_", env_file=".env", extra="ignore")
    service_name: ClassVar[str] = "pledge-intake"


if __name__ == "__main__":
    run_service(router, PledgeIntakeSettings(), bootstrap)
