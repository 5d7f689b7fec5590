"""`python -m services.scheduler`"""

from services.scheduler.app import SchedulerSettings, bootstrap, router
from shared.service import run_service

if __name__ == "__main__":
    run_service(router, SchedulerSettings(), bootstrap)
