"""A process announces its health URL (local runs, tests) so that a reader never sees half of it:
`make run`'s readiness check and the tests' `wait_ready` read the file while processes start."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from shared.health import register


def test_the_registration_appears_whole_or_not_at_all(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    written: list[Path] = []
    write_text = Path.write_text

    def recording(self: Path, *args: object, **kwargs: object) -> int:
        written.append(self)
        return write_text(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "write_text", recording)
    monkeypatch.setenv("SAMLENG_PROCESS_NAME", "email.1")
    path = register(str(tmp_path), "channel-email", "http://127.0.0.1:8123")
    assert path == tmp_path / "email.1.json"
    assert path not in written, "written in place: a reader can see an empty or half-written file"
    info = json.loads(path.read_text())
    assert info["url"] == "http://127.0.0.1:8123" and info["pid"] == os.getpid()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["email.1.json"], "no temporary file left"
