from services.dispatcher.app import DispatcherSettings, bootstrap, router
from shared.service import run_service

if __name__ == "__main__":
    run_service(router, DispatcherSettings(), bootstrap)
