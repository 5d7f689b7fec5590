"""A channel folder stands on its own, and shared/ knows nothing a service owns.

- shared/ names no GridFS bucket: a message's file reference says where its files are (the
  renderer's and the console's buckets are named in their own services);
- no channel imports another service (the post print batch reads the fonts from shared/fonts/,
  not the renderer's module), and the fonts exist once;
- each provider fake lives beside its channel (`services/channels/<name>/sandbox.py`) and the
  local sandbox finds it by folder, served under the channel's declared `sandbox_provider`.
"""

from __future__ import annotations

import ast
from pathlib import Path

from devstack.sandbox.providers import Provider, discover
from services.certificates.app import CERTIFICATE_FILES_BUCKET
from services.console.routes.sessions import SESSION_FILES_BUCKET
from shared.channels.catalogue import catalogue
from shared.fonts import FONTS

ROOT = Path(__file__).resolve().parents[2]
CHANNELS = ROOT / "services" / "channels"


def test_shared_names_no_bucket_of_a_service() -> None:
    buckets = (CERTIFICATE_FILES_BUCKET, SESSION_FILES_BUCKET)
    found = [
        f"{path.relative_to(ROOT)}: {bucket}"
        for path in (ROOT / "shared").rglob("*")
        if path.is_file() and path.suffix in (".py", ".md", ".toml", ".txt", ".json")
        for bucket in buckets
        if bucket in path.read_text(encoding="utf-8")
    ]
    assert found == []


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


def test_no_channel_imports_another_service() -> None:
    found = [
        f"{path.relative_to(ROOT)} imports {module}"
        for path in CHANNELS.rglob("*.py")
        if "tests" not in path.relative_to(CHANNELS).parts
        for module in imported_modules(path)
        if module.startswith("services.") and not module.startswith("services.channels")
    ]
    assert found == []


def test_the_fonts_are_shipped_once() -> None:
    fonts = {path.name for path in FONTS.glob("*.ttf")}
    assert {"NotoSerif-Regular.ttf", "NotoSerifKhmer-Regular.ttf", "KhmerOSmuollight.ttf"} <= fonts
    elsewhere = [p for p in (ROOT / "services").rglob("*.ttf")] + [p for p in (ROOT / "ops").rglob("*.ttf")]
    assert elsewhere == []


def test_each_sandbox_fake_lives_beside_its_channel_and_is_found_by_folder() -> None:
    beside = {path.parent.name for path in CHANNELS.glob("*/sandbox.py")}
    declared = {name: spec.sandbox_provider for name, spec in catalogue().items() if name in beside}
    assert {provider.name for provider in discover()} == set(declared.values())
    assert all(isinstance(provider, Provider) for provider in discover())
    assert None not in declared.values(), "a channel with a sandbox.py declares its sandbox_provider"
    left = sorted(p.name for p in (ROOT / "devstack" / "sandbox" / "providers").glob("*.py"))
    assert left == ["__init__.py"], "provider fakes live in their channel's folder"
