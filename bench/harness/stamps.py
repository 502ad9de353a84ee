"""Per-intent stage stamps of a real run, from the engine's event log (no extra bus traffic).

Every stamp is CLOCK_MONOTONIC ns, comparable across processes on one host:

============================  =================================================================
stamp                          where it is taken
============================  =================================================================
``t_recv_ns`` (origin)         gateway: WebSocket frame handed over by the socket
``t_parsed_ns``                gateway: frame decoded (msgspec)
``t_shm_ns``                   gateway: seqlock shm write finished
``t_decision_ns``              shard: BookTick received and decoded — the shard woke up
``t_sent_ns``                  shard: both books copied from shm, strategy decided, intent handed
                               to ZeroMQ
engine received                engine journal: the OrderIntent decoded, before risk
risk passed                    engine journal: the IntentAck (risk checks + order created)
executor submit                engine journal: the first ExecutionReport of the order (paper
                               executor: matched inside ``submit``; a real executor signs and
                               POSTs there — see ``polyloly bench sign`` for the signing cost)
============================  =================================================================
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from polyloly.eventlog import EnvelopeError, parse_envelope

REAL_STAGES: Final[tuple[tuple[str, str, str], ...]] = (
    ("frame_received_to_parsed", "t_recv_ns", "t_parsed_ns"),
    ("parsed_to_shm_written", "t_parsed_ns", "t_shm_ns"),
    ("shm_written_to_shard_woken", "t_shm_ns", "t_decision_ns"),
    ("shard_woken_to_intent_sent", "t_decision_ns", "t_sent_ns"),
    ("intent_sent_to_engine_received", "t_sent_ns", "t_engine_ns"),
    ("engine_received_to_risk_passed", "t_engine_ns", "t_risk_ns"),
    ("risk_passed_to_executor_submit", "t_risk_ns", "t_submit_ns"),
)


@dataclass(frozen=True, slots=True)
class IntentStamps:
    """The stamps of one intent through the whole path (0 = missing)."""

    intent_id: str
    shard_id: int
    t_recv_ns: int
    t_parsed_ns: int
    t_shm_ns: int
    t_decision_ns: int
    t_sent_ns: int
    t_engine_ns: int
    t_risk_ns: int = 0
    t_submit_ns: int = 0

    @property
    def complete(self) -> bool:
        """Every stamp present and in order."""
        chain = [getattr(self, name) for name in _CHAIN]
        return all(chain) and all(a <= b for a, b in zip(chain, chain[1:], strict=False))

    @property
    def tick_to_intent_ns(self) -> int:
        """Frame received by the gateway → intent received by the engine."""
        return self.t_engine_ns - self.t_recv_ns

    @property
    def tick_to_order_ns(self) -> int:
        """Frame received by the gateway → order submitted by the executor."""
        return self.t_submit_ns - self.t_recv_ns


_CHAIN: Final = ("t_recv_ns", "t_parsed_ns", "t_shm_ns", "t_decision_ns", "t_sent_ns",
                 "t_engine_ns", "t_risk_ns", "t_submit_ns")


@dataclass(slots=True)
class JournalScan:
    """Intents found in an engine journal, and lines that could not be read."""

    intents: list[IntentStamps]
    unreadable_lines: int
    rejected: int
    other_strategies: int = 0


def scan_journal(events_dir: Path) -> JournalScan:
    """Read every ``engine-*.jsonl`` under ``events_dir``; join intent, ack and first report."""
    intents: dict[str, dict[str, int]] = {}
    order: list[str] = []
    unreadable = rejected = others = 0
    for path in sorted(events_dir.glob("engine-*.jsonl")):
        for number, line in enumerate(path.read_bytes().splitlines(), 1):
            if not line.strip():
                continue
            try:
                envelope = parse_envelope(line, where=f"{path.name}:{number}")
            except EnvelopeError:
                unreadable += 1
                continue
            payload = envelope.payload
            kind = envelope.event_type
            intent_id = payload.get("intent_id")
            if not isinstance(intent_id, str):
                continue
            if kind == "order_intent" and envelope.source.startswith("shard"):
                if payload.get("strategy") != "pair_arb":
                    others += 1  # a rebalance starts from a report, not from a tick
                    continue
                if intent_id not in intents:
                    order.append(intent_id)
                intents[intent_id] = {
                    "shard_id": int(payload.get("shard_id", -1)),
                    **{k: int(payload.get(k, 0)) for k in (
                        "t_origin_ns", "t_parsed_ns", "t_shm_ns", "t_decision_ns",
                        "t_sent_ns")},
                    "t_engine_ns": envelope.t_recv_ns}
            elif kind == "intent_ack" and intent_id in intents:
                if payload.get("accepted"):
                    intents[intent_id].setdefault("t_risk_ns", envelope.t_recv_ns)
                else:
                    rejected += 1
            elif kind == "execution_report" and intent_id in intents:
                intents[intent_id].setdefault("t_submit_ns", envelope.t_recv_ns)
    found = [IntentStamps(
        intent_id=i, shard_id=s["shard_id"], t_recv_ns=s["t_origin_ns"],
        t_parsed_ns=s["t_parsed_ns"], t_shm_ns=s["t_shm_ns"], t_decision_ns=s["t_decision_ns"],
        t_sent_ns=s["t_sent_ns"], t_engine_ns=s["t_engine_ns"], t_risk_ns=s.get("t_risk_ns", 0),
        t_submit_ns=s.get("t_submit_ns", 0)) for i in order for s in (intents[i],)]
    return JournalScan(found, unreadable, rejected, others)


def stage_samples(intents: Iterable[IntentStamps]) -> dict[str, list[int]]:
    """Per stage, and end to end, the ns samples of complete intents.

    ``tick_to_intent``/``tick_to_order`` count every intent (both legs of a pair: the engine
    handles the first leg, up to its submit, before it reads the second);
    ``tick_to_first_intent`` counts the first leg of each originating frame only.
    """
    samples: dict[str, list[int]] = {name: [] for name, _, _ in REAL_STAGES}
    samples["tick_to_intent"] = []
    samples["tick_to_first_intent"] = []
    samples["tick_to_order"] = []
    first: dict[int, int] = {}
    for stamps in intents:
        if not stamps.complete:
            continue
        for name, start, end in REAL_STAGES:
            samples[name].append(getattr(stamps, end) - getattr(stamps, start))
        samples["tick_to_intent"].append(stamps.tick_to_intent_ns)
        samples["tick_to_order"].append(stamps.tick_to_order_ns)
        previous = first.get(stamps.t_recv_ns)
        if previous is None or stamps.tick_to_intent_ns < previous:
            first[stamps.t_recv_ns] = stamps.tick_to_intent_ns
    samples["tick_to_first_intent"] = list(first.values())
    return samples
