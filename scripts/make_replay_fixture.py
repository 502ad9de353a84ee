"""Cut a replay fixture out of a `polyloly demo` run: the first N recorded messages, the run's
config with its process-specific sections neutralized, and the intents the live engine journaled
for decisions made on those messages.

    .venv/bin/python scripts/make_replay_fixture.py runs/<run_id> tests/fixtures/replay/<name>

The live intents are those whose ``t_origin_ns`` (the receive time of the input they were decided
on) is not later than the last kept message's ``t_recv_ns``: exactly what a replay of the cut
recording can decide. ``live_joins.json`` says when each live shard joined (a replay holds
messages back from a shard until then). See tests/fixtures/replay/README.md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import orjson
import yaml

from replay.compare import live_shard_joins

NEUTRAL = {
    "run": {"mode": "paper", "run_dir": "/tmp/polyloly-fixture",
            "data_dir": "/tmp/polyloly-fixture/data", "run_id": "fixture"},
    "shm": {"segment_name": "polyloly_fixture"},
}


def cut(run_dir: Path, out: Path, lines: int) -> tuple[int, int]:
    """Write the fixture; return (messages kept, live intents kept)."""
    raw = (run_dir / "recording" / "raw-00000.jsonl").read_bytes().splitlines()[:lines]
    if not raw:
        raise SystemExit(f"{run_dir}/recording/raw-00000.jsonl: no recorded messages")
    last_recv_ns = max(orjson.loads(line).get("t_recv_ns") or 0 for line in raw)
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    config.pop("metrics", None)
    for section, values in NEUTRAL.items():
        config.setdefault(section, {}).update(values)
    intents = []
    for journal in sorted((run_dir / "data" / "events").glob("engine-*.jsonl")):
        for line in journal.read_bytes().splitlines():
            envelope = orjson.loads(line)
            if envelope.get("event_type") != "order_intent":
                continue
            if envelope["payload"].get("t_origin_ns", 0) <= last_recv_ns:
                intents.append(line)
    out.mkdir(parents=True, exist_ok=True)
    (out / "raw-00000.jsonl").write_bytes(b"\n".join(raw) + b"\n")
    (out / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    (out / "live_intents.jsonl").write_bytes(b"".join(line + b"\n" for line in intents))
    # when each live shard joined (its first StateQuery): a replay holds messages back until then
    joins = live_shard_joins(run_dir / "data" / "events")
    (out / "live_joins.json").write_bytes(orjson.dumps({str(k): v for k, v in joins.items()}))
    return len(raw), len(intents)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", type=Path, help="a polyloly demo run directory (runs/<id>)")
    parser.add_argument("out", type=Path, help="fixture directory to write")
    parser.add_argument("--lines", type=int, default=600, help="recorded messages to keep")
    args = parser.parse_args(argv)
    kept, intents = cut(args.run_dir, args.out, args.lines)
    print(f"{args.out}: {kept} messages, {intents} live intents")
    return 0


if __name__ == "__main__":
    sys.exit(main())
