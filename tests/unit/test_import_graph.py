"""The rooms stand on each other in one direction only (docs/ARCHITECTURE.md §1).

``polyloly/`` is the vocabulary every process stands on, so it imports only itself; ``shm/``
stands on ``polyloly/``; the process packages stand on both and never on each other; ``sim/`` is a
stand-in for the outside world and imports nothing of the project. The tool rooms (``ops/``,
``replay/``, ``bench/``) may import any room: they start, drive and measure the processes.
Every import counts, including the ones inside functions.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROJECT = {"polyloly", "shm", "gateway", "shards", "engine", "sim", "ops", "replay", "bench"}
ALLOWED: dict[str, set[str]] = {
    "polyloly": {"polyloly"},
    "shm": {"polyloly", "shm"},
    "gateway": {"polyloly", "shm", "gateway"},
    "shards": {"polyloly", "shm", "shards"},
    "engine": {"polyloly", "shm", "engine"},
    "sim": {"sim"},
}


def imported_rooms(path: Path) -> dict[str, int]:
    """Project rooms ``path`` imports, each with the first line that imports it."""
    found: dict[str, int] = {}
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        for name in names:
            room = name.split(".", 1)[0]
            if room in PROJECT:
                found.setdefault(room, node.lineno)
    return found


def upward_edges(room: str) -> list[str]:
    edges = []
    for path in sorted((ROOT / room).rglob("*.py")):
        for target, line in imported_rooms(path).items():
            if target not in ALLOWED[room]:
                edges.append(f"{path.relative_to(ROOT)}:{line} imports {target}")
    return edges


@pytest.mark.parametrize("room", sorted(ALLOWED))
def test_no_room_imports_upward(room: str) -> None:
    assert upward_edges(room) == []


def test_the_check_sees_imports_inside_functions(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("import os\n\ndef f():\n    from engine.core import EngineCore\n")
    assert imported_rooms(module) == {"engine": 4}
