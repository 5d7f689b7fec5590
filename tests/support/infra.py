"""The local SMTP sink and provider sandbox as processes, for tests that stop and start them."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx

from tests.support.ports import free_port
from tests.support.processes import ServiceProcess


class _HttpProcess:
    module = ""

    def __init__(self, env: dict[str, str], run_dir: Path, name: str) -> None:
        self.env = env
        self.run_dir = run_dir
        self.name = name
        self.process: ServiceProcess | None = None

    @property
    def url(self) -> str:
        raise NotImplementedError

    def start(self, timeout: float = 20.0) -> Any:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.process = ServiceProcess(
            self.module, self.env, self.run_dir / f"{self.name}.log", self.name
        ).start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/health/ready", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.1)
        raise TimeoutError(f"{self.name} not up:\n{self.process.logs()[-2000:]}")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()


class MailSink(_HttpProcess):
    module = "devstack.smtp_sink"

    def __init__(self, run_dir: Path) -> None:
        self.smtp_port = free_port()
        self.http_port = free_port()
        env = {
            "SAMLENG_RUN_DIR": str(run_dir),
            "SAMLENG_SMTP_PORT": str(self.smtp_port),
            "SAMLENG_MAIL_UI_PORT": str(self.http_port),
        }
        super().__init__(env, run_dir, "mail")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def messages(self) -> list[dict[str, Any]]:
        return list(httpx.get(f"{self.url}/api/v1/messages", timeout=30).json()["messages"])

    def message(self, stored_id: str) -> dict[str, Any]:
        return dict(httpx.get(f"{self.url}/api/v1/message/{stored_id}", timeout=10).json())

    def raw(self, stored_id: str) -> bytes:
        return httpx.get(f"{self.url}/api/v1/message/{stored_id}/raw", timeout=10).content

    def client_env(self) -> dict[str, str]:
        return {
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(self.smtp_port),
            "EMAIL_RECONCILE_API_URL": self.url,
        }


class Sandbox(_HttpProcess):
    module = "devstack.sandbox"

    def __init__(self, run_dir: Path, **extra_env: str) -> None:
        self.port = free_port()
        env = {"SAMLENG_RUN_DIR": str(run_dir), "SAMLENG_SANDBOX_PORT": str(self.port), **extra_env}
        super().__init__(env, run_dir, "sandbox")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def requests(self, provider: str) -> list[dict[str, Any]]:
        return list(
            httpx.get(f"{self.url}/_sandbox/requests", params={"provider": provider}, timeout=10).json()[
                "requests"
            ]
        )

    def letters(self) -> list[dict[str, Any]]:
        response = httpx.get(f"{self.url}/lob/v1/letters", auth=("test_samleng_tests", ""), timeout=10)
        return list(response.json()["data"])

    def fault(self, **rule: Any) -> None:
        httpx.post(f"{self.url}/_sandbox/faults", json=rule, timeout=10).raise_for_status()

    def client_env(self) -> dict[str, str]:
        return {"SANDBOX_URL": self.url, "POST_API_KEY": "test_samleng_tests"}

    def get(self, path: str, **params: str) -> Any:
        return httpx.get(f"{self.url}{path}", params=params, timeout=10).json()

    def post(self, path: str, body: dict[str, Any]) -> Any:
        response = httpx.post(f"{self.url}{path}", json=body, timeout=10)
        response.raise_for_status()
        return response.json()
