"""The persisted kill switch: a small JSON file under ``run.data_dir`` (survives restarts).

Written atomically (temp file + rename) by ``polyloly kill`` and by the engine itself when the
daily loss limit trips; the running engine re-reads it every second. Only a hand release
(``polyloly kill --release``) clears it. The file also carries hand releases of halted
markets: ``released_markets`` maps a market id to the wall time (ms) of its release.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import msgspec

KILL_SWITCH_FILE = "kill_switch.json"


class KillFile(msgspec.Struct, kw_only=True):
    """Content of the kill-switch file."""

    engaged: bool = False
    reason: str = ""
    t_ms: int = 0
    by: str = ""
    released_markets: dict[str, int] = {}


@dataclass(slots=True)
class KillSwitchFile:
    """Read and write the kill-switch file at ``path``."""

    path: Path

    @classmethod
    def in_data_dir(cls, data_dir: str | Path) -> KillSwitchFile:
        return cls(Path(data_dir) / KILL_SWITCH_FILE)

    def read(self) -> KillFile:
        """Return the file's content; a missing file is a released switch.

        An unreadable or corrupt file counts as ENGAGED (fail safe) with a reason saying so.
        """
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return KillFile()
        except OSError as exc:
            return KillFile(engaged=True, reason=f"kill-switch file unreadable: {exc}")
        try:
            return msgspec.json.decode(raw, type=KillFile)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            return KillFile(engaged=True, reason=f"kill-switch file corrupt: {exc}")

    def write(self, content: KillFile) -> None:
        """Replace the file atomically and durably."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(".tmp")
        with open(temporary, "wb") as handle:
            handle.write(msgspec.json.encode(content))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, self.path)

    def engage(self, reason: str, now_ms: int, by: str) -> KillFile:
        """Pull the switch (keeps market releases)."""
        current = self.read()
        content = KillFile(engaged=True, reason=reason, t_ms=now_ms, by=by,
                           released_markets=dict(current.released_markets))
        self.write(content)
        return content

    def release(self, reason: str, now_ms: int, by: str) -> KillFile:
        """Release the switch."""
        current = self.read()
        content = KillFile(engaged=False, reason=reason, t_ms=now_ms, by=by,
                           released_markets=dict(current.released_markets))
        self.write(content)
        return content

    def release_market(self, market_id: str, now_ms: int, by: str) -> KillFile:
        """Record a hand release of one halted market (the switch itself is unchanged)."""
        current = self.read()
        released = dict(current.released_markets)
        released[market_id] = now_ms
        content = KillFile(engaged=current.engaged, reason=current.reason, t_ms=current.t_ms,
                           by=by, released_markets=released)
        self.write(content)
        return content


@dataclass(frozen=True, slots=True)
class EngageKillFile:
    """Effect of the core: it pulled the switch itself (daily loss limit); the shell persists
    it in the kill file so that it survives a restart and only a hand release clears it."""

    reason: str
    t_ms: int
    by: str = "engine"


@dataclass(slots=True)
class KillSwitch:
    """The global kill switch's state in the running engine (the file above is its durable
    copy, the shell's business). Pulled by hand (the kill file), by the daily loss limit, or
    restored at start; released only by hand. The risk manager reads it for every intent; the
    per-market halts are not here (they stay in the risk layer's circuit breakers)."""

    engaged: bool = False
    reason: str = ""
    since_ms: int = 0
    by: str = ""

    def pull(self, reason: str, now_ms: int, by: str) -> bool:
        """Engage with ``reason``; return False (and change nothing) when already engaged, so
        the first reason and time stay the ones reported."""
        if self.engaged:
            return False
        self.engaged, self.reason, self.since_ms, self.by = True, reason, now_ms, by
        return True

    def release(self) -> bool:
        """Release (by hand only); return False when it was not engaged."""
        if not self.engaged:
            return False
        self.engaged, self.reason, self.since_ms, self.by = False, "", 0, ""
        return True

    def restore(self, content: KillFile) -> None:
        """Take the kill file's state at start (an engaged file stays engaged)."""
        if content.engaged:
            self.engaged, self.reason, self.since_ms = True, content.reason, content.t_ms
            self.by = content.by


def carry_out(kill_file: KillSwitchFile, effects: Sequence[object]) -> None:
    """Write the core's kill-switch effects to the file (the shell's job, not the core's);
    other effects are ignored here."""
    for effect in effects:
        if isinstance(effect, EngageKillFile):
            kill_file.engage(effect.reason, effect.t_ms, by=effect.by)
