"""``polyloly systemd render``: write the systemd units for engine, gateway, N shards and target.

The units are built here rather than copied from template files, so the hardening block is
written once and cannot drift between units, and nothing depends on package data.
``config/systemd/`` holds the rendering for the default install (2 shards, ``/opt/polyloly``,
``/etc/polyloly/prod.yaml``); a unit test checks it matches. Every unit is ``Type=notify``: the
process sends READY=1 only once its ``/health`` is healthy (polyloly/sdnotify.py), so
``After=`` orders engine → gateway → shards exactly as ``polyloly run`` does, and a hung event
loop stops the watchdog pings and gets the unit restarted. The engine runs ``polyloly doctor
--strict`` first. What the sandbox leaves open and why: docs/RUNBOOK.md, systemd section.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from polyloly.config import ConfigError, load_config, packaged_overlay_name

TARGET = "polyloly.target"
ENGINE = "polyloly-engine.service"
GATEWAY = "polyloly-gateway.service"
SHARD_TEMPLATE = "polyloly-shard@.service"
RUN_DIR = "/run/polyloly"
DATA_DIR = "/var/lib/polyloly"
ENV_FILE = "/etc/polyloly/polyloly.env"
WATCHDOG_SEC = 20
"""A loop that does not ping for this long is hung; the processes ping every half of it."""

Lines = list[tuple[str, str]]

# The sandbox every process gets (systemd.exec(5)); `systemd-analyze security` scores it.
HARDENING: Lines = [
    ("NoNewPrivileges", "yes"),
    ("CapabilityBoundingSet", ""),
    ("AmbientCapabilities", ""),
    ("PrivateTmp", "yes"),
    ("PrivateDevices", "yes"),  # a private /dev still bind-mounts the host's /dev/shm (books)
    ("DevicePolicy", "closed"),
    ("PrivateMounts", "yes"),
    ("PrivateUsers", "yes"),
    ("ProtectSystem", "strict"),
    ("ProtectHome", "yes"),
    ("ProtectKernelTunables", "yes"),
    ("ProtectKernelModules", "yes"),
    ("ProtectKernelLogs", "yes"),
    ("ProtectControlGroups", "yes"),
    ("ProtectClock", "yes"),
    ("ProtectHostname", "yes"),
    ("ProtectProc", "invisible"),
    ("RestrictAddressFamilies", "AF_UNIX AF_INET AF_INET6"),  # ipc bus, loopback, venue
    ("RestrictNamespaces", "yes"),
    ("RestrictRealtime", "yes"),
    ("RestrictSUIDSGID", "yes"),
    ("LockPersonality", "yes"),
    ("SystemCallArchitectures", "native"),
    ("SystemCallFilter", "@system-service"),
    ("SystemCallFilter", "~@privileged @resources"),
    ("SystemCallErrorNumber", "EPERM"),  # a filtered call fails instead of killing the process
    ("UMask", "0077"),
]


def _render(header: str, sections: list[tuple[str, Lines]]) -> str:
    blocks = []
    for name, lines in sections:
        blocks.append(f"[{name}]\n" + "".join(f"{key}={value}\n" for key, value in lines))
    return header + "\n".join(blocks)


def _service(header: str, description: str, after: list[str], exec_start: str, user: str,
              extra: Lines) -> str:
    unit: Lines = [("Description", description), ("PartOf", TARGET),
                   ("StartLimitIntervalSec", "120"), ("StartLimitBurst", "5")]
    if after:
        unit += [("After", " ".join(after)), ("Wants", " ".join(after))]
    service: Lines = [
        ("Type", "notify"),
        ("NotifyAccess", "main"),
        ("WatchdogSec", str(WATCHDOG_SEC)),
        *[(k, v) for k, v in extra if k == "ExecStartPre"],
        ("ExecStart", exec_start),
        ("User", user),
        ("Group", user),
        ("WorkingDirectory", DATA_DIR),
        ("EnvironmentFile", ENV_FILE),
        ("Environment", f"POLYLOLY__RUN__RUN_DIR={RUN_DIR}"),
        ("Environment", f"POLYLOLY__RUN__DATA_DIR={DATA_DIR}"),
        # One run dir (ipc sockets) and one state dir shared by every unit; kept across restarts
        # of a single unit so the others keep their sockets.
        ("RuntimeDirectory", "polyloly"),
        ("RuntimeDirectoryMode", "0700"),
        ("RuntimeDirectoryPreserve", "yes"),
        ("StateDirectory", "polyloly"),
        ("StateDirectoryMode", "0700"),
        ("ReadWritePaths", f"{DATA_DIR} {RUN_DIR} /dev/shm"),
        ("Restart", "on-failure"),
        ("RestartSec", "2"),
        ("TimeoutStopSec", "20"),
        ("KillSignal", "SIGTERM"),
        *[(k, v) for k, v in extra if k != "ExecStartPre"],
        *HARDENING,
    ]
    return _render(header,
                   [("Unit", unit), ("Service", service), ("Install", [("WantedBy", TARGET)])])


def render_units(shards: int, config: str, bin_dir: str, user: str) -> dict[str, str]:
    """File name → text of every unit for ``shards`` shard instances."""
    if shards < 1:
        raise ValueError(f"--shards: expected at least 1, was {shards}")
    # Re-rendering with the same command gives the same files: edit the options, not the units.
    header = ("# Written by: polyloly systemd render --config "
              f"{config} --shards {shards} --bin-dir {bin_dir} --user {user}\n")
    engine = _service(
        header,
        "PolyLOL engine: risk, orders, execution (the only process holding the signing key)",
        ["network-online.target"], f"{bin_dir}/polyloly-engine --config {config}", user,
        [("ExecStartPre", f"{bin_dir}/polyloly doctor --strict --config {config}"),
         # doctor's checks, then the start-up reconcile with the venue, before READY=1
         ("TimeoutStartSec", "180")],
    )
    gateway = _service(
        header,
        "PolyLOL gateway: market data and esports feeds into shared memory",
        [ENGINE, "network-online.target"], f"{bin_dir}/polyloly-gateway --config {config}", user,
        [("TimeoutStartSec", "90"),  # every market WS connected and every book ready
         # The gateway never needs the signing key; it gets only the L2 API credentials.
         ("UnsetEnvironment", "POLYMARKET_PRIVATE_KEY")],
    )
    shard = _service(
        header,
        "PolyLOL shard %i: truth engine, trading engine, strategies",
        [GATEWAY, ENGINE], f"{bin_dir}/polyloly-shard --config {config} --shard %i", user,
        [("TimeoutStartSec", "60"),  # the engine's state snapshot and the shm books
         ("UnsetEnvironment",
          "POLYMARKET_PRIVATE_KEY POLYMARKET_API_SECRET POLYMARKET_API_PASSPHRASE"),
         # A shard talks only to loopback (bus on ipc, /metrics on 127.0.0.1).
         ("IPAddressDeny", "any"), ("IPAddressAllow", "localhost")],
    )
    instances = " ".join(f"polyloly-shard@{k}.service" for k in range(shards))
    target = _render(header, [
        ("Unit", [("Description", f"PolyLOL trading system (engine, gateway, {shards} shards)"),
                  ("Wants", f"{ENGINE} {GATEWAY}"), ("Wants", instances),
                  ("After", "network-online.target"), ("Wants", "network-online.target")]),
        ("Install", [("WantedBy", "multi-user.target")]),
    ])
    return {ENGINE: engine, GATEWAY: gateway, SHARD_TEMPLATE: shard, TARGET: target}


def _shard_count(config: str, shards: int | None) -> int:
    """The shard count: the config's ``shards.count``, or ``--shards`` when the config cannot
    be read on this host; both given must agree (``polyloly status`` reads the config)."""
    if packaged_overlay_name(config) is None and not config.startswith("/"):
        raise ValueError(f"--config {config}: expected an absolute path (the units run in "
                         f"{DATA_DIR}) or a packaged overlay name (dev, prod)")
    if packaged_overlay_name(config) is None and not Path(config).is_file():
        if shards is None:
            raise ValueError(f"--config {config}: not found on this host; pass --shards N "
                             "(it must equal shards.count in that file)")
        return shards
    try:
        count = load_config(config).shards.count
    except ConfigError as exc:
        raise ValueError(f"--config {config}: {exc}") from None
    if shards is not None and shards != count:
        raise ValueError(f"--shards {shards} disagrees with shards.count={count} in {config}; "
                         "set shards.count there (every process and `polyloly status` read it)")
    return count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="polyloly systemd", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="action", required=True)
    render = sub.add_parser("render", help="write the unit files into DIR")
    render.add_argument("--config", required=True,
                        help="config overlay the units pass to every process (absolute path)")
    render.add_argument("--shards", type=int, default=None,
                        help="shard instances the target wants (default: the config's "
                             "shards.count; must equal it)")
    render.add_argument("--out", required=True, help="directory to write the units into")
    render.add_argument("--bin-dir", default=str(Path(sys.executable).parent),
                        help="directory of the polyloly executables (default: this venv's)")
    render.add_argument("--user", default="polyloly", help="user and group the units run as")
    args = parser.parse_args(argv)
    try:
        if not args.bin_dir.startswith("/"):
            raise ValueError(f"--bin-dir {args.bin_dir}: expected an absolute path")
        units = render_units(_shard_count(args.config, args.shards), args.config,
                             args.bin_dir.rstrip("/"), args.user)
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        for name, text in units.items():
            (out / name).write_text(text)
    except (ValueError, OSError) as exc:
        print(f"polyloly systemd render: {exc}", file=sys.stderr)
        return 2
    for name in units:
        print(out / name)
    return 0
