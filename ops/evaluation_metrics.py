"""Per-strategy scores of one replay against the ground truth (``polyloly evaluate``).

All figures are in USDC unless named otherwise; times are scenario seconds
(:meth:`GroundTruth.scenario_s`). For a fill of ``size`` shares at ``price`` with
``sign = +1`` for BUY, ``-1`` for SELL, and ``fair(t)`` the token's true fair value:

* EV of fills: ``Σ sign · (fair(t_fill) − price) · size`` (and per share: ÷ Σ size);
* adverse selection at horizon h: ``Σ −sign · (fair(t_fill + h) − fair(t_fill)) · size``
  — positive when the fair value moved against us after the fill (per share: ÷ Σ size);
* net P&L: ``Σ −sign · price · size − Σ fee`` (rebates are negative fees) plus every share
  still held paid at the world's resolution (1 for the winning token, 0 otherwise, 0.5 each
  on a 50-50; a market the run did not resolve: its last true value);
* exposure unhedged at resolution: per market, the shares of one outcome not matched by the
  other (``|YES − NO|``) times their average cost, summed;
* capture %: EV of fills ÷ the available edge of the strategy's kind (temporal → taker edge,
  pair → pair edge; ``specs/12`` §4) × 100; None when that edge is 0.

Truth audit of intents (an intent carries its ``implied p`` in its reason — temporal intents;
others are counted as not audited). With ``fair(t)`` at the decision time and a tolerance of
``AUDIT_TOLERANCE`` (the shard's and the world's models are separate implementations):

* against truth — the trade was worth less than its price at decision: ``sign · (fair −
  price) < 0``;
* stale truth — ``|implied − fair(t)| > tol`` but a true value of the last
  ``AUDIT_LOOKBACK_S`` is within tol: the shard acted on a state that had already changed;
* false truth — ``|implied − fair(t)| > tol`` and no true value of the lookback is within tol:
  the shard believed a state the world never had (a lying or wrong provider).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from ops.evaluation_truth import GroundTruth
from polyloly.domain import Side
from polyloly.messages import ExecutionReport, OrderIntent

ADVERSE_HORIZONS_S = (1.0, 10.0)
AUDIT_TOLERANCE = 0.03
AUDIT_LOOKBACK_S = 30.0
EDGE_KIND = {"temporal_arb": "taker", "pair_arb": "pair"}
_IMPLIED = re.compile(r"implied (\d+(?:\.\d+)?)")


@dataclass(frozen=True, slots=True)
class Fill:
    """One fill, as the scorer needs it (``t_s`` in scenario seconds)."""

    t_s: float
    market_id: str
    token_id: str
    side: str  # "BUY" / "SELL"
    price: float
    size: float
    fee_usdc: float
    strategy: str


def fills_of(reports: Iterable[ExecutionReport], truth: GroundTruth) -> list[Fill]:
    """The fills among execution reports (``last_fill_size > 0``), in order."""
    return [Fill(truth.scenario_s(r.t_ns), r.market_id, r.token_id, Side(r.side).value,
                 r.last_fill_price, r.last_fill_size, r.fee_usdc, str(r.strategy))
            for r in reports if r.last_fill_size > 0]


def _sign(side: str) -> float:
    return 1.0 if side == "BUY" else -1.0


def score_fills(fills: Sequence[Fill], truth: GroundTruth) -> dict[str, Any]:
    """Fills, volume, P&L, EV, adverse selection and unhedged exposure of one strategy."""
    shares = sum(f.size for f in fills)
    volume = sum(f.size * f.price for f in fills)
    fees = sum(f.fee_usdc for f in fills)
    ev = sum(_sign(f.side) * (truth.fair_token(f.token_id, f.t_s) - f.price) * f.size
             for f in fills)
    adverse: dict[str, Any] = {}
    for horizon in ADVERSE_HORIZONS_S:
        total = sum(-_sign(f.side) * (truth.fair_token(f.token_id, f.t_s + horizon)
                                      - truth.fair_token(f.token_id, f.t_s)) * f.size
                    for f in fills)
        adverse[f"{horizon:g}s"] = {"total_usdc": round(total, 6),
                                    "per_share": round(total / shares, 6) if shares else None}
    held: dict[str, float] = defaultdict(float)
    cost: dict[str, float] = defaultdict(float)
    cash = 0.0
    for f in fills:
        held[f.token_id] += _sign(f.side) * f.size
        cost[f.token_id] += _sign(f.side) * f.size * f.price
        cash -= _sign(f.side) * f.size * f.price
    settlement = sum(qty * _payout(token, truth) for token, qty in held.items())
    return {
        "fills": len(fills),
        "shares": round(shares, 6),
        "volume_usdc": round(volume, 6),
        "fees_usdc": round(sum(f.fee_usdc for f in fills if f.fee_usdc > 0), 6),
        "rebates_usdc": round(-sum(f.fee_usdc for f in fills if f.fee_usdc < 0), 6),
        "net_pnl_usdc": round(cash - fees + settlement, 6),
        "ev_usdc": round(ev, 6),
        "ev_per_share": round(ev / shares, 6) if shares else None,
        "adverse_selection": adverse,
        "unhedged_at_resolution_usdc": round(_unhedged(held, cost, truth), 6),
    }


def _payout(token_id: str, truth: GroundTruth) -> float:
    market, index = truth.token_market[token_id]
    if market not in truth.winning_token:  # not resolved in the run: its last true value
        last = truth.markets[market].fair[-1]
        return last if index == 0 else 1.0 - last
    winner = truth.winning_token[market]
    if winner is None:
        return 0.5
    return 1.0 if winner == token_id else 0.0


def _unhedged(held: dict[str, float], cost: dict[str, float], truth: GroundTruth) -> float:
    legs: dict[str, dict[int, tuple[float, float]]] = defaultdict(dict)  # market → index → q, c
    for token, qty in held.items():
        market, index = truth.token_market[token]
        legs[market][index] = (qty, cost[token])
    total = 0.0
    for sides in legs.values():
        yes, no = sides.get(0, (0.0, 0.0)), sides.get(1, (0.0, 0.0))
        longer = yes if yes[0] > no[0] else no
        extra = abs(yes[0] - no[0])
        if extra > 1e-9 and longer[0] > 0:
            total += extra * longer[1] / longer[0]  # unpaired shares at their average cost
    return total


def audit_intents(intents: Iterable[OrderIntent], truth: GroundTruth) -> dict[str, int]:
    """Truth-audit counts of one strategy's intents (module doc)."""
    counts = {"intents": 0, "audited": 0, "against_truth": 0, "stale_truth": 0,
              "false_truth": 0}
    for intent in intents:
        counts["intents"] += 1
        found = _IMPLIED.search(intent.reason)
        if found is None or intent.token_id not in truth.token_market:
            continue
        counts["audited"] += 1
        implied = float(found.group(1))
        t_s = truth.scenario_s(intent.t_decision_ns)
        fair = truth.fair_token(intent.token_id, t_s)
        if _sign(Side(intent.side).value) * (fair - intent.price) < 0:
            counts["against_truth"] += 1
        if abs(implied - fair) <= AUDIT_TOLERANCE:
            continue
        past = truth.past_token_values(intent.token_id, t_s - AUDIT_LOOKBACK_S, t_s)
        if any(abs(implied - p) <= AUDIT_TOLERANCE for p in past):
            counts["stale_truth"] += 1
        else:
            counts["false_truth"] += 1
    return counts


def score_run(intents: Sequence[OrderIntent], reports: Sequence[ExecutionReport],
              truth: GroundTruth) -> dict[str, dict[str, Any]]:
    """Per-strategy scores of one replay (every strategy that sent an intent or filled)."""
    fills = fills_of(reports, truth)
    strategies = sorted({str(i.strategy) for i in intents} | {f.strategy for f in fills}
                        | set(EDGE_KIND))
    out: dict[str, dict[str, Any]] = {}
    for strategy in strategies:
        row = score_fills([f for f in fills if f.strategy == strategy], truth)
        kind = EDGE_KIND.get(strategy)
        edge = truth.available_edge.get(kind) if kind is not None else None
        row["available_edge_usdc"] = edge
        row["capture_pct"] = (round(100.0 * row["ev_usdc"] / edge, 3) if edge else None)
        row["truth_audit"] = audit_intents([i for i in intents if str(i.strategy) == strategy],
                                           truth)
        out[strategy] = row
    return out
