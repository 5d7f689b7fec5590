"""Every console setting is documented in .env.example."""

from __future__ import annotations

from services.console.settings import ConsoleSettings
from tests.unit.test_env_example import documented, env_names


def test_every_console_setting_is_in_env_example() -> None:
    names = env_names(ConsoleSettings)
    assert names, "ConsoleSettings has settings of its own"
    assert sorted(n[0] for n in names.values() if not any(x in documented() for x in n)) == []
