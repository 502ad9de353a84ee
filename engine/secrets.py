"""Read the signing key (SPEC §12): from the environment or from a file only its owner can read.

The engine is the only process that calls this. The key is registered with
:func:`polyloly.logs.register_secret` the moment it is read, so no log line can carry it; it is
held in a :class:`PrivateKey` whose ``repr``/``str`` never show it, and it never crosses a
process boundary. Errors name the source (variable or path) and what was wrong, never the value.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from polyloly.logs import register_secret

DEFAULT_KEY_ENV: Final = "POLYMARKET_PRIVATE_KEY"
_KEY_RE: Final = re.compile(r"^(0x)?[0-9a-fA-F]{64}$")
_SECP256K1_ORDER: Final = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


class SecretError(RuntimeError):
    """The private key could not be read safely; the message never contains the key."""


@dataclass(frozen=True, slots=True)
class PrivateKey:
    """A secp256k1 private key as ``0x`` + 64 hex digits, with where it came from."""

    hex: str = field(repr=False)
    source: str

    def __repr__(self) -> str:
        return f"PrivateKey(source={self.source!r}, hex=[REDACTED])"

    __str__ = __repr__

    @property
    def raw(self) -> bytes:
        """The 32 key bytes (for the native signer)."""
        return bytes.fromhex(self.hex[2:])


def load_private_key(
    *,
    key_env: str = DEFAULT_KEY_ENV,
    key_file: str = "",
    environ: Mapping[str, str] | None = None,
) -> PrivateKey:
    """Read the key from ``key_file`` when given (it must be a regular file of mode 0600 or
    stricter, owned by us), else from the environment variable ``key_env``.

    Raise :class:`SecretError` when neither holds a well-formed key.
    """
    env = os.environ if environ is None else environ
    if key_file:
        text = _read_key_file(Path(key_file))
        return _parse(text, f"file {key_file}")
    value = env.get(key_env, "")
    if not value.strip():
        raise SecretError(
            f"no private key: environment variable {key_env} is empty or unset "
            "and execution.private_key_file is not set"
        )
    return _parse(value, f"environment variable {key_env}")


def _read_key_file(path: Path) -> str:
    try:
        info = path.lstat()
    except OSError as exc:
        raise SecretError(f"private key file {path}: cannot stat: {exc.strerror}") from None
    if stat.S_ISLNK(info.st_mode):
        raise SecretError(f"private key file {path}: is a symlink; refusing to follow it")
    if not stat.S_ISREG(info.st_mode):
        raise SecretError(f"private key file {path}: not a regular file")
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o077:
        raise SecretError(
            f"private key file {path}: mode {mode:04o} lets others read it; "
            f"run `chmod 600 {path}`"
        )
    if hasattr(os, "getuid") and info.st_uid != os.getuid():
        raise SecretError(f"private key file {path}: not owned by the current user")
    try:
        return path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise SecretError(f"private key file {path}: cannot read: {type(exc).__name__}") from None


def _parse(text: str, source: str) -> PrivateKey:
    value = text.strip()
    register_secret(value)  # before any check, so even a malformed key never reaches a log
    if not _KEY_RE.fullmatch(value):
        raise SecretError(f"private key from {source}: expected 64 hex digits (optional 0x)")
    normalized = "0x" + value.removeprefix("0x").lower()
    number = int(normalized, 16)
    if not 0 < number < _SECP256K1_ORDER:
        raise SecretError(f"private key from {source}: not a valid secp256k1 key")
    register_secret(normalized)
    return PrivateKey(hex=normalized, source=source)
