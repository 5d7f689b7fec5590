"""The dispatcher's modules import each other in one direction only (issue #18): app.py (router,
handlers, start-up) on top, deliveries.py under alerts.py, reminders.py and replies.py, none of
which imports app.py — not even inside a function, as they once did to dodge a cycle."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = "services.dispatcher"
HERE = Path(__file__).resolve().parents[2] / "services" / "dispatcher"


def imports_of(path: Path) -> set[str]:
    """The package's own modules `path` imports, wherever in the file."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == PACKAGE:
                found |= {alias.name for alias in node.names}
            elif node.module.startswith(PACKAGE + "."):
                found.add(node.module.removeprefix(PACKAGE + ".").split(".")[0])
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith(PACKAGE + "."):
                    found.add(alias.name.removeprefix(PACKAGE + ".").split(".")[0])
    return found


def graph() -> dict[str, set[str]]:
    modules = {path.stem: path for path in HERE.glob("*.py")}
    return {name: imports_of(path) & set(modules) - {name} for name, path in modules.items()}


def test_the_dispatchers_modules_have_no_import_cycle() -> None:
    edges = graph()
    state: dict[str, str] = {}

    def visit(module: str, path: list[str]) -> None:
        state[module] = "open"
        for imported in sorted(edges[module]):
            assert state.get(imported) != "open", "import cycle: " + " -> ".join([*path, module, imported])
            if imported not in state:
                visit(imported, [*path, module])
        state[module] = "done"

    for module in sorted(edges):
        if module not in state:
            visit(module, [])


def test_only_the_entry_points_import_app() -> None:
    importers = sorted(name for name, imported in graph().items() if "app" in imported)
    assert importers == ["__main__"]


def test_the_dispatcher_imports_no_channel_adapter() -> None:
    """It routes from the channels' declarations (shared/channels/catalogue.py) and declares their
    queues from them (shared/channels/queues.py): no adapter, so none of a provider's libraries."""
    code = (
        "import sys\n"
        "import services.dispatcher.app, services.dispatcher.__main__\n"
        "print('\\n'.join(sorted(m for m in sys.modules if m.startswith('services.channels')"
        " or m in ('shared.channels.adapter', 'shared.channels.runner', 'shared.channels.service'))))\n"
    )
    found = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=HERE.parents[1]
    )
    assert found.stdout.split() == []
