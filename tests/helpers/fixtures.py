"""The recorded payloads tests (and the simulator's shape checks) compare against.

They live in the repository under ``tests/fixtures/`` (``SOURCES.md`` there says which files are
real captures, with their public source, and which are hand-written), found relative to this
file so a fresh clone needs nothing else. Tests name fixtures through these helpers instead of
keeping their own path constants.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

import orjson

FIXTURES_DIR: Final = Path(__file__).resolve().parents[1] / "fixtures"
POLYMARKET_DIR: Final = FIXTURES_DIR / "polymarket"
ESPORTS_DIR: Final = FIXTURES_DIR / "esports"
REPLAY_DIR: Final = FIXTURES_DIR / "replay"


def fixture_path(*parts: str) -> Path:
    """``tests/fixtures/<parts…>``; an unknown or escaping name fails with one clear line."""
    path = FIXTURES_DIR.joinpath(*parts).resolve()
    shown = "/".join(parts)
    if not path.is_relative_to(FIXTURES_DIR):
        raise ValueError(f"fixture {shown!r} is outside tests/fixtures/; name a file inside it")
    if not path.exists():
        raise FileNotFoundError(
            f"fixture tests/fixtures/{shown} does not exist; see tests/fixtures/SOURCES.md "
            "for the recorded files"
        )
    return path


def polymarket(*parts: str) -> Path:
    """A recorded Polymarket payload, e.g. ``polymarket("ws_messages", "book.json")``."""
    return fixture_path("polymarket", *parts)


def esports(*parts: str) -> Path:
    """A recorded or hand-written esports provider payload, e.g. ``esports("grid", …)``."""
    return fixture_path("esports", *parts)


def replay(*parts: str) -> Path:
    """A recorded replay session (``tests/fixtures/replay/<name>``)."""
    return fixture_path("replay", *parts)


def load_json(path: Path) -> Any:
    """The decoded JSON of a fixture file (``.json`` only; JSONL is read line by line)."""
    return orjson.loads(path.read_bytes())
