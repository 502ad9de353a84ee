"""specs/01_TYPES_SPEC.md stays true to polyloly/messages.py and polyloly/domain.py."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_types_spec_tables_match_the_code() -> None:
    spec = importlib.util.spec_from_file_location("gen", ROOT / "scripts" / "gen_types_spec.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    text = module.SPEC.read_text()
    assert module.updated_spec(text) == text, "run: .venv/bin/python scripts/gen_types_spec.py"
