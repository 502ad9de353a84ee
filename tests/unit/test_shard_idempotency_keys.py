"""Idempotency keys derive from the decision (market, plan, time bucket), not the process
(issue 20 #1/#14): a restarted shard's first decisions are not refused as the dead process's
duplicates, and the same plan decided twice within a bucket is still one order."""

from __future__ import annotations

from polyloly.domain import Outcome, Side, Strategy
from shards.market_trader import DECISION_BUCKET_NS, idempotency_key

MARKET = "0x" + "a" * 64


def _key(t_ns: int, price: float = 0.5, size: float = 20.0,
         strategy: Strategy = Strategy.TEMPORAL_ARB) -> str:
    return idempotency_key(MARKET, strategy, Outcome.YES, Side.BUY, price, size, t_ns)


def test_the_same_plan_in_one_bucket_is_one_key() -> None:
    t0 = 5_000 * DECISION_BUCKET_NS
    assert _key(t0) == _key(t0 + DECISION_BUCKET_NS - 1)


def test_a_later_decision_of_the_same_plan_is_a_new_key() -> None:
    # what the dead process decided at t0 and its successor decides ≥ 1 s later (restarts take
    # ~1 s): different keys, where a per-process counter restarting at 1 gave the same ones
    t0 = 5_000 * DECISION_BUCKET_NS
    assert _key(t0) != _key(t0 + DECISION_BUCKET_NS)


def test_the_plan_is_in_the_key() -> None:
    t0 = 7 * DECISION_BUCKET_NS
    keys = {_key(t0), _key(t0, price=0.51), _key(t0, size=21.0),
            _key(t0, strategy=Strategy.PAIR_ARB)}
    assert len(keys) == 4
