"""The truth audit's counting (ops/truth_audit.py) on hand-built intents and finals against a
shipped scenario's true timeline: cs2_bo3_liar_during_outage, Vitality (A) beats FaZe 2-1,
match start 1 s; maps end at scenario 19 (A), 40 (B), 62 (A); the match ends at 62."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from ops.truth_audit import (
    GROUND_TRUTH_FILE,
    STALE_INPUT_MS,
    Final,
    WorldTimeline,
    audit,
    load_world,
    replay_audit,
    true_value,
    world_timeline,
)
from polyloly.domain import OrderType, Outcome, Side, Strategy, TruthStatus
from polyloly.messages import FactRef, IntentTruth, OrderIntent
from shards.truth_sources import fact_text

EPOCH_MS = 1_700_000_000_000
MATCH = "cs2-liar"
GROUND_TRUTH = {"schema": "polyloly.sim.ground_truth/1", "scenario": "cs2_bo3_liar_during_outage",
                "epoch_ms": EPOCH_MS, "speed": 4.0,
                "markets": [{"condition_id": "m1", "match_id": MATCH}]}


def world() -> WorldTimeline:
    return world_timeline(GROUND_TRUTH)


def intent(number: int, *facts: tuple[str, str]) -> OrderIntent:
    refs = tuple(FactRef(field=name, source="grid", t_source_ms=EPOCH_MS, value=value)
                 for name, value in facts)
    return OrderIntent(
        intent_id=f"i{number}", idempotency_key=f"k{number}", shard_id=0, market_id="m1",
        token_id="t0", outcome=Outcome.YES, side=Side.BUY, price=0.5, size=10.0,
        order_type=OrderType.FAK, strategy=Strategy.TEMPORAL_ARB, t_origin_ns=1,
        t_decision_ns=1, t_sent_ns=1,
        truth=IntentTruth(status=TruthStatus.LIVE, facts=refs))


def test_wall_clock_maps_to_scenario_time_at_speed() -> None:
    assert world().scenario_s(EPOCH_MS + 2_500) == pytest.approx(10.0)  # 2.5 s wall × 4


def test_fact_text_is_what_the_audit_compares() -> None:
    assert fact_text((2, 1)) == "2-1" and fact_text("A") == "A" and fact_text(13) == "13"
    state = world().states(MATCH)[-1][1]
    assert true_value(state, "series") == "2-1" and true_value(state, "end") == "A"
    assert true_value(state, "map_winner:2") == "B" and true_value(state, "map_winner:4") is None
    assert true_value(state, "1:rounds_a") is None  # the counts of a map not being played
    assert true_value(state, "3:gold_diff_a") is None  # continuous: not audited


def test_current_fact_is_neither_stale_nor_never_true() -> None:
    counts = audit([(intent(1, ("series", "1-0"), ("game_number", "2")), 25.0)], [], world())
    assert (counts.audited, counts.never_true, counts.stale) == (1, 0, 0)


def test_stale_input_counted_with_its_staleness() -> None:
    # "0-0" stopped being true at scenario 19 (map 1 to A): at 21 it is 2000 ms stale
    counts = audit([(intent(1, ("series", "0-0")), 21.0),
                    (intent(2, ("series", "0-0")), 19.0 + STALE_INPUT_MS / 2000)], [], world())
    assert counts.stale == 1 and counts.never_true == 0
    assert counts.staleness_ms == [pytest.approx(2000.0)]
    assert counts.as_dict()["staleness_ms"]["max"] == pytest.approx(2000.0)


def test_never_true_facts_are_counted_not_called_stale() -> None:
    # PandaScore's lie: FaZe (B) won map 3 and the series 1-2; and a map-2 winner reported
    # before map 2 ended (true at 40, the decision at 30)
    lie = intent(1, ("series", "1-1"), ("map_winner:3", "B"))
    early = intent(2, ("map_winner:2", "B"))
    later = intent(3, ("map_winner:2", "B"))
    counts = audit([(lie, 63.0), (early, 30.0), (later, 41.0)], [], world())
    assert (counts.never_true, counts.stale) == (2, 0)
    assert counts.never_true_examples[0] == "i1: map_winner:3=B (grid)"


def test_in_map_counts_are_judged_per_map() -> None:
    # map 1 round 1 went to B at scenario 1.5: rounds_b 1 is true then, rounds_a 5 never is
    counts = audit([(intent(1, ("1:rounds_b", "1")), 1.6),
                    (intent(2, ("1:rounds_a", "25")), 18.0)], [], world())
    assert (counts.audited, counts.never_true, counts.stale) == (2, 1, 0)


def test_intents_without_audited_facts_are_not_audited() -> None:
    counts = audit([(intent(1, ("3:gold_diff_a", "1200.0")), 50.0), (intent(2), 50.0)],
                   [], world())
    assert (counts.intents, counts.audited) == (2, 0)


def test_wrong_and_premature_finals() -> None:
    finals = [Final(MATCH, "B", 61.0),  # wrong and 1 s before the true end
              Final(MATCH, "A", 70.0)]  # a later restatement: the first final counts
    counts = audit([], finals, world())
    assert (counts.finals, counts.wrong_finals, counts.premature_finals) == (1, 1, 1)
    right = audit([], [Final(MATCH, "A", 64.5)], world())
    assert (right.finals, right.wrong_finals, right.premature_finals) == (1, 0, 0)
    assert right.final_details[0]["true_end_s"] == 62.0


def test_ground_truth_without_clock_anchor_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "ground_truth.json"
    path.write_bytes(orjson.dumps({k: v for k, v in GROUND_TRUTH.items() if k != "epoch_ms"}))
    with pytest.raises(ValueError, match="no epoch_ms/speed"):
        load_world(path)
    with pytest.raises(ValueError, match="cannot read"):
        load_world(tmp_path / "missing.json")


def test_replay_audit_needs_the_ground_truth_beside_the_recording(tmp_path: Path) -> None:
    recording = tmp_path / "recording"
    recording.mkdir()
    assert replay_audit([], [], recording) is None  # no simulator truth: no audit, no error
    (tmp_path / GROUND_TRUTH_FILE).write_bytes(
        orjson.dumps({k: v for k, v in GROUND_TRUTH.items() if k != "speed"}))
    assert "no epoch_ms/speed" in replay_audit([], [], recording)["error"]  # type: ignore[index]
