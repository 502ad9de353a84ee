"""The private key: file must be 0600, env or file only, never in a log line or a repr."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from engine.secrets import PrivateKey, SecretError, load_private_key
from polyloly.logs import get_logger, setup_logging

KEY = "0x8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba"


def _write(path: Path, text: str, mode: int) -> Path:
    path.write_text(text)
    os.chmod(path, mode)
    return path


def test_key_from_a_0600_file_is_read(tmp_path: Path) -> None:
    path = _write(tmp_path / "key", KEY + "\n", 0o600)
    key = load_private_key(key_file=str(path), environ={})
    assert key.hex == KEY and key.raw == bytes.fromhex(KEY[2:])


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_key_file_readable_by_others_is_refused(tmp_path: Path, mode: int) -> None:
    path = _write(tmp_path / "key", KEY, mode)
    with pytest.raises(SecretError, match="chmod 600") as caught:
        load_private_key(key_file=str(path), environ={"POLYMARKET_PRIVATE_KEY": KEY})
    assert KEY[2:] not in str(caught.value)


def test_symlinked_key_file_is_refused(tmp_path: Path) -> None:
    target = _write(tmp_path / "real", KEY, 0o600)
    link = tmp_path / "link"
    link.symlink_to(target)
    with pytest.raises(SecretError, match="symlink"):
        load_private_key(key_file=str(link), environ={})


def test_key_from_environment_and_missing_key_names_the_variable() -> None:
    assert load_private_key(environ={"POLYMARKET_PRIVATE_KEY": KEY[2:].upper()}).hex == KEY
    with pytest.raises(SecretError, match="MY_KEY"):
        load_private_key(key_env="MY_KEY", environ={})


@pytest.mark.parametrize("bad", ["0x1234", "zz" * 32, "0x" + "00" * 32, "0x" + "ff" * 32])
def test_malformed_key_is_refused_without_echoing_it(bad: str) -> None:
    with pytest.raises(SecretError) as caught:
        load_private_key(environ={"POLYMARKET_PRIVATE_KEY": bad})
    assert bad not in str(caught.value)


def test_key_never_reaches_a_log_line_or_a_repr() -> None:
    out = io.StringIO()
    setup_logging("DEBUG", out)
    try:
        key = load_private_key(environ={"POLYMARKET_PRIVATE_KEY": KEY})
        log = get_logger("test_secrets")
        log.info("key_loaded", f"loaded {key.hex}", value=key.hex, raw=KEY[2:], obj=key)
        log.error("oops", "nested", data={"k": [KEY]})
    finally:
        setup_logging("WARNING")
    text = out.getvalue()
    assert "key_loaded" in text
    assert KEY[2:] not in text and KEY[2:].upper() not in text
    assert KEY[2:] not in repr(key) and KEY[2:] not in str(key)
    assert isinstance(key, PrivateKey)
