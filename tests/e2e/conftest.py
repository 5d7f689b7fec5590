"""The whole local stack as `make run` starts it, on free ports in a temporary run directory."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.stack import RunningStack, new_stack, started

__all__ = ["RunningStack", "new_stack", "started"]  # the e2e modules import them from here

CHROMIUM = "/usr/lib/chromium/chromium"


@pytest.fixture(scope="session")
def shared_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    """One running system for every e2e module that only uses it (each test uses its own people,
    numbers and alerts, so they do not see each other's data): started once, not once a module."""
    with started(tmp_path_factory) as running:
        yield running


@pytest.fixture(scope="module")
def stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    """The running system: the shared one, or — for a module that sets `PRIVATE_STACK = True`
    because it stops, kills or times the stack itself — one of its own."""
    if not getattr(request.module, "PRIVATE_STACK", False):
        yield request.getfixturevalue("shared_stack")
        return
    with started(tmp_path_factory) as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """Playwright's sync API runs its own event loop: keep it to e2e modules (they run last)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=[])
        yield launched
        launched.close()
