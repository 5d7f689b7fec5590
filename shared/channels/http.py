"""Base for channels whose provider speaks HTTP: one client per process, opened in `start()`.

Tests and the sandbox inject a transport (an in-process copy of the provider's API, or
`httpx.MockTransport`) instead of patching anything.
"""

from __future__ import annotations

from typing import Any, ClassVar

import httpx

from shared.channels.adapter import ChannelAdapter, ChannelSettings


class HttpChannelAdapter(ChannelAdapter):
    sandbox_provider: ClassVar[str]
    """The provider's path under SANDBOX_URL, used when no API URL is configured (local runs)."""

    def __init__(self, settings: ChannelSettings, transport: httpx.AsyncBaseTransport | None = None) -> None:
        super().__init__(settings)
        self._transport = transport
        self._http: httpx.AsyncClient | None = None

    def provider_url(self, configured: str | None) -> str:
        if configured:
            return configured.rstrip("/")
        if self.settings.sandbox_url:
            return f"{self.settings.sandbox_url.rstrip('/')}/{self.sandbox_provider}"
        raise RuntimeError(f"set {self.name.upper()}_API_URL")

    def open_http(self, base_url: str, **options: Any) -> None:
        self._http = httpx.AsyncClient(base_url=base_url, transport=self._transport, **options)

    @property
    def http(self) -> httpx.AsyncClient:
        if self._http is None:
            raise RuntimeError(f"the {self.name} channel is not started")
        return self._http

    async def close(self) -> None:
        if self._http is not None:
            await self._http.aclose()
