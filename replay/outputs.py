"""What a replay writes: intents, orders and fills as JSONL, and summary.json.

Every line is the message's msgpack-builtins form as canonical JSON (msgspec, keys in struct
order), so two replays of one recording give byte-identical files.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Final

import msgspec
import orjson

from ops.truth_audit import replay_audit
from polyloly.messages import Message, OrderIntent, TruthFinal, to_builtins
from replay.recording import IssueLog
from replay.session import EquityPoint, ReplayResult

INTENTS_FILE: Final = "intents.jsonl"
ORDERS_FILE: Final = "orders.jsonl"
FILLS_FILE: Final = "fills.jsonl"
TRUTH_FILE: Final = "truth.jsonl"
SUMMARY_FILE: Final = "summary.json"
SUMMARY_SCHEMA: Final = "1.0"


def jsonl_bytes(messages: Iterable[Message]) -> bytes:
    """The messages as JSON lines (canonical: same messages → same bytes)."""
    return b"".join(msgspec.json.encode(to_builtins(m)) + b"\n" for m in messages)


def intent_key(intent: OrderIntent) -> tuple[str, str, str, float, float, str, str]:
    """What makes two intents "the same decision": (market, token, side, price, size,
    strategy, idempotency key) — times and ids are left out."""
    return (intent.market_id, intent.token_id, intent.side.value, intent.price, intent.size,
            intent.strategy.value, intent.idempotency_key)


def intents_digest(intents: Sequence[OrderIntent]) -> str:
    """SHA-256 of the intents file's bytes (equal digests: byte-identical intents)."""
    return hashlib.sha256(jsonl_bytes(intents)).hexdigest()


def max_drawdown_usdc(equity: Sequence[EquityPoint]) -> float:
    """Largest fall of total P&L from a previous peak (USDC, ≥ 0)."""
    peak = 0.0
    worst = 0.0
    for point in equity:
        peak = max(peak, point.total_usdc)
        worst = max(worst, peak - point.total_usdc)
    return worst


def build_summary(result: ReplayResult, issues: IssueLog, *, recording: str,
                  params: dict[str, Any] | None = None) -> dict[str, Any]:
    """summary.json: counts, P&L, drawdown, issues, digests. Deterministic for one input."""
    fills = [r for r in result.reports if r.last_fill_size > 0]
    accepted = sum(1 for a in result.acks if a.accepted)
    rejected = Counter(a.reason.value for a in result.acks if not a.accepted and a.reason)
    statuses: Counter[str] = Counter()
    last_status: dict[str, str] = {}
    for report in result.reports:
        last_status[report.order_id] = report.status.value
    statuses.update(last_status.values())
    by_strategy = Counter(i.strategy.value for i in result.intents)
    summary: dict[str, Any] = {
        "schema_version": SUMMARY_SCHEMA,
        "recording": recording,
        "params": params or {},
        "complete": issues.complete,
        "input_issues": {"counts": dict(sorted(issues.counts.items())),
                         "first": [i.as_dict() for i in issues.kept]},
        "replayed_seconds": round((result.last_t_ns - result.first_t_ns) / 1e9, 3),
        "inputs": dict(sorted(result.inputs.items())),
        "events_replayed": sum(result.inputs.values()),
        "produced": dict(sorted(result.produced.items())),
        "dead_letters": dict(sorted(result.dead_letters.items())),
        "shard_refusals": dict(sorted(result.shard_refusals.items())),
        "intents": len(result.intents),
        "intents_by_strategy": dict(sorted(by_strategy.items())),
        "intents_accepted": accepted,
        "intents_rejected": dict(sorted(rejected.items())),
        "orders": len(last_status),
        "orders_by_final_status": dict(sorted(statuses.items())),
        "fills": len(fills),
        "volume_usdc": round(sum(f.last_fill_size * f.last_fill_price for f in fills), 6),
        "pnl": {
            "realized_usdc": round(result.final_realized_usdc, 6),
            "unrealized_usdc": round(result.final_unrealized_usdc, 6),
            "fees_usdc": round(result.final_fees_usdc, 6),
            "total_usdc": round(result.final_realized_usdc + result.final_unrealized_usdc, 6),
            "settled_total_usdc": round(result.settled_usdc, 6),
            "settled_by": dict(sorted(result.settled_by.items())),
            "max_drawdown_usdc": round(max_drawdown_usdc(result.equity), 6),
            "realized_by_strategy": {k: round(v, 6)
                                     for k, v in result.realized_by_strategy.items()},
            "by_market_usdc": {k: round(v, 6) for k, v in result.settled_by_market.items()},
        },
        "intents_sha256": intents_digest(result.intents),
    }
    # the truth audit when the simulator's ground truth sits beside the recording
    audited = replay_audit(result.intents, [(t.match_id, t.winner, t.t_ns) for t in result.truth
                                            if isinstance(t, TruthFinal)], recording)
    if audited is not None:
        summary["truth_audit"] = audited
    return summary


def write_outputs(out_dir: str | Path, result: ReplayResult, summary: dict[str, Any]) -> Path:
    """Write intents/orders/fills/truth JSONL and summary.json into ``out_dir``; return it."""
    path = Path(out_dir)
    path.mkdir(parents=True, exist_ok=True)
    (path / INTENTS_FILE).write_bytes(jsonl_bytes(result.intents))
    (path / ORDERS_FILE).write_bytes(jsonl_bytes(result.order_log))
    (path / FILLS_FILE).write_bytes(
        jsonl_bytes([r for r in result.reports if r.last_fill_size > 0]))
    (path / TRUTH_FILE).write_bytes(jsonl_bytes(result.truth))
    (path / SUMMARY_FILE).write_bytes(
        orjson.dumps(summary, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n")
    return path
