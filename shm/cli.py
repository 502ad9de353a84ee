"""``polyloly book TOKEN_ID``: print one order book exactly as a shared-memory reader sees it."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from shm.errors import ShmBookError
from shm.layout import SlotFlags
from shm.reader import BookReader, BookSnapshot

_DEFAULT_TIMEOUT_S = 2.0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="polyloly book",
        description="Print one order book from the gateway's shared-memory book store.",
    )
    parser.add_argument("token_id", help="Polymarket token (asset) id")
    parser.add_argument("--config", help="config overlay file (shm.segment_name, shm.levels)")
    parser.add_argument("--segment", help="segment name; overrides the config")
    parser.add_argument("--levels", type=int, help="levels per side to print (default: all)")
    parser.add_argument("--timeout", type=float,
                        help="seconds to wait for the store (default: shm.attach_timeout_s)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    return parser


def flag_names(flags: int) -> list[str]:
    """Names of the SlotFlags bits set in ``flags``."""
    return [flag.name for flag in SlotFlags if flag.value and flags & flag.value and flag.name]


def snapshot_to_dict(snap: BookSnapshot, segment: str) -> dict[str, Any]:
    """Plain-JSON view of a snapshot (what ``--json`` prints)."""
    return {
        "segment": segment,
        "token_id": snap.token_id,
        "slot": snap.slot,
        "seq": snap.seq,
        "t_recv_ns": snap.t_recv_ns,
        "exchange_ts_ms": snap.exchange_ts_ms,
        "tick_size": snap.tick_size,
        "best_bid": snap.best_bid,
        "best_ask": snap.best_ask,
        "mid": snap.mid,
        "spread": snap.spread,
        "flags": flag_names(snap.flags),
        "book_hash": snap.book_hash,
        "bids": [[price, size] for price, size in snap.bids],
        "asks": [[price, size] for price, size in snap.asks],
        "bid_levels_total": snap.bid_levels_total,
        "ask_levels_total": snap.ask_levels_total,
    }


def _table(snap: BookSnapshot, segment: str) -> str:
    flags = ",".join(flag_names(snap.flags)) or "-"
    lines = [
        f"token {snap.token_id}  slot {snap.slot}  seq {snap.seq}  segment {segment}",
        f"flags {flags}  tick {snap.tick_size:g}  exchange_ts_ms {snap.exchange_ts_ms}  "
        f"t_recv_ns {snap.t_recv_ns}  hash {snap.book_hash or '-'}",
        f"best bid {snap.best_bid}  best ask {snap.best_ask}  mid {snap.mid}  "
        f"spread {snap.spread}",
        f"levels shown {len(snap.bid_prices)}/{snap.bid_levels_total} bids, "
        f"{len(snap.ask_prices)}/{snap.ask_levels_total} asks",
        f"{'bid size':>14} {'bid':>8} | {'ask':<8} {'ask size':<14}",
    ]
    for row in range(max(len(snap.bid_prices), len(snap.ask_prices))):
        bid = (f"{snap.bid_sizes[row]:>14.2f} {snap.bid_prices[row]:>8g}"
               if row < len(snap.bid_prices) else " " * 23)
        ask = (f"{snap.ask_prices[row]:<8g} {snap.ask_sizes[row]:<14.2f}"
               if row < len(snap.ask_prices) else "")
        lines.append(f"{bid} | {ask}".rstrip())
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Run ``polyloly book``; return 0 on success, 1 when the book cannot be read, 2 on usage."""
    args = _parser().parse_args(argv)
    segment: str | None = args.segment
    levels: int | None = args.levels
    timeout_s: float = _DEFAULT_TIMEOUT_S if args.timeout is None else args.timeout
    if segment is None:
        from polyloly.config import ConfigError, load_config

        try:
            config = load_config(args.config)
        except (ConfigError, OSError) as exc:
            print(f"polyloly book: {exc}", file=sys.stderr)
            return 2
        segment = config.shm.segment_name
        if levels is None:
            levels = config.shm.levels
        if args.timeout is None:
            timeout_s = float(getattr(config.shm, "attach_timeout_s", _DEFAULT_TIMEOUT_S))
    try:
        with BookReader.attach(segment, timeout_s=timeout_s) as reader:
            snap = reader.snapshot(reader.slot_of(args.token_id), levels)
    except (ShmBookError, KeyError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        print(f"polyloly book: {message}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(snapshot_to_dict(snap, segment)))
    else:
        print(_table(snap, segment))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
