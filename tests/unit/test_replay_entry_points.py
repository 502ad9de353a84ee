"""Replay reaches the cores only through their public entry points (specs/11 §same code).

A replay that called a shell's private handler (``shell._on_tick``) or copied its dispatch
would make "same code, same decisions" hold only approximately. This walks the syntax tree of
every replay module: no ``x._name`` attribute on anything but ``self``/``cls``, and no
``from <package> import _name`` of another package.
"""

from __future__ import annotations

import ast
from pathlib import Path

REPLAY = Path(__file__).resolve().parents[2] / "replay"


def private_uses(source: str) -> list[str]:
    """``line: text`` of each private name of another object or package used in ``source``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not (
                node.attr.startswith("__") and node.attr.endswith("__")):
            if not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls")):
                found.append(f"{node.lineno}: {ast.unparse(node)}")
        elif isinstance(node, ast.ImportFrom) and node.module and not node.module.startswith(
                "replay"):
            found.extend(f"{node.lineno}: from {node.module} import {alias.name}"
                         for alias in node.names if alias.name.startswith("_"))
    return found


def test_replay_uses_no_private_name_of_the_shards_engine_or_gateway() -> None:
    modules = sorted(REPLAY.glob("*.py"))
    assert modules, "the replay package is where this test expects it"
    offences = {path.name: uses for path in modules
                if (uses := private_uses(path.read_text(encoding="utf-8")))}
    assert offences == {}


def test_the_check_sees_a_private_handler_call_and_a_private_import() -> None:
    source = ("from shards.core import _UNTRADABLE_FLAGS\n"
              "def f(shell, tick):\n    return shell._on_tick(tick, 0)\n"
              "class C:\n    def g(self):\n        return self._queue, self.__class__\n")
    assert sorted(private_uses(source)) == ["1: from shards.core import _UNTRADABLE_FLAGS",
                                            "3: shell._on_tick"]
