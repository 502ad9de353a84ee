"""The system's own view of its clock: is NTP synchronised, and by how much is it off?

Two tools report it on Linux: ``chronyc tracking`` (chrony: ``System time`` offset and ``Leap
status``) and ``timedatectl show`` (systemd: ``NTPSynchronized=yes|no``, no offset). The parse
functions are pure (tested with captured outputs); the command runner is injected so the
startup check can be tested without either tool. When neither tool answers the status is
unknown, which the startup check reports as a warning, never as a failure.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class CommandOutput:
    """What one command printed and how it exited."""

    returncode: int
    stdout: str
    stderr: str


CommandRunner = Callable[[Sequence[str]], CommandOutput | None]
"""Run argv and return its output, or None when the program is not installed."""


@dataclass(frozen=True, slots=True)
class NtpStatus:
    """``synchronized`` None: no tool could tell; ``offset_s`` None: the tool gives none
    (positive: the system clock is ahead of NTP time)."""

    source: str
    synchronized: bool | None
    offset_s: float | None
    detail: str


CHRONYC_TRACKING = ("chronyc", "tracking")
TIMEDATECTL_SHOW = ("timedatectl", "show")

_CHRONY_OFFSET_RE = re.compile(
    r"^System time\s*:\s*(?P<value>[0-9.]+)\s+seconds\s+(?P<dir>fast|slow)\s+of NTP time",
    re.MULTILINE,
)
_CHRONY_LEAP_RE = re.compile(r"^Leap status\s*:\s*(?P<leap>.+?)\s*$", re.MULTILINE)


def parse_chronyc_tracking(text: str) -> NtpStatus | None:
    """Parse ``chronyc tracking``; None when the text has no ``Leap status`` line (not the
    tool's report, e.g. ``506 Cannot talk to daemon``)."""
    leap = _CHRONY_LEAP_RE.search(text)
    if leap is None:
        return None
    status = leap.group("leap")
    # "Normal", "Insert second", "Delete second" are synchronised; "Not synchronised" is not
    synchronized = status.lower() != "not synchronised"
    offset = _CHRONY_OFFSET_RE.search(text)
    offset_s: float | None = None
    if offset is not None:
        value = float(offset.group("value"))
        offset_s = value if offset.group("dir") == "fast" else -value
    detail = f"chronyc: Leap status {status}"
    if offset_s is not None:
        detail += f", system time {offset_s:+.6f}s against NTP"
    return NtpStatus("chronyc", synchronized, offset_s, detail)


def parse_timedatectl_show(text: str) -> NtpStatus | None:
    """Parse ``timedatectl show`` (``key=value`` lines); None without ``NTPSynchronized``."""
    values = dict(
        line.split("=", 1) for line in text.splitlines() if "=" in line
    )
    raw = values.get("NTPSynchronized")
    if raw not in ("yes", "no"):
        return None
    detail = f"timedatectl: NTPSynchronized={raw}"
    if "NTP" in values:
        detail += f", NTP={values['NTP']}"
    return NtpStatus("timedatectl", raw == "yes", None, detail)


def system_runner(timeout_s: float = 2.0) -> CommandRunner:
    """A runner of real commands, each bounded by ``timeout_s``."""

    def run(argv: Sequence[str]) -> CommandOutput | None:
        if shutil.which(argv[0]) is None:
            return None
        try:
            done = subprocess.run(
                list(argv), capture_output=True, text=True, timeout=timeout_s, check=False
            )
        except subprocess.TimeoutExpired:
            return CommandOutput(-1, "", f"no answer within {timeout_s:.0f}s")
        except OSError as exc:
            return CommandOutput(-1, "", str(exc))
        return CommandOutput(done.returncode, done.stdout, done.stderr)

    return run


def read_ntp_status(runner: CommandRunner) -> NtpStatus:
    """Ask chrony first (it reports an offset), then timedatectl; unknown when neither tells."""
    tried: list[str] = []
    tools: tuple[tuple[Sequence[str], Callable[[str], NtpStatus | None]], ...] = (
        (CHRONYC_TRACKING, parse_chronyc_tracking),
        (TIMEDATECTL_SHOW, parse_timedatectl_show),
    )
    for argv, parse in tools:
        output = runner(argv)
        if output is None:
            tried.append(f"{argv[0]} not installed")
            continue
        status = parse(output.stdout) if output.returncode == 0 else None
        if status is not None:
            return status
        said = (output.stderr or output.stdout).strip().splitlines()
        tried.append(f"{argv[0]} exit {output.returncode}: {said[0] if said else 'no output'}")
    return NtpStatus("", None, None, "unknown (" + "; ".join(tried) + ")")
