"""State you can trust at start (issue 20 #1): a missing, empty or foreign SQLite state is
refused (one clear line, exit 2) unless ``--new-state`` is given for a missing/empty one; a
fresh state adopts the venue's open orders and positions before intake, without halting."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest
import yaml

from engine.executors.base import VenueOrder, VenueOrders
from engine.main import engine_identity, open_state
from engine.store import EngineStore, StateRefused, check_state, state_identity
from polyloly.domain import OrderStatus, Side
from tests.helpers.engine_rig import MARKET_A, YES_A, EngineRig, LivePaper, make_config

ME = state_identity("paper", "")


def test_a_missing_database_is_refused_without_new_state(tmp_path: Path) -> None:
    path = tmp_path / "absent.sqlite3"
    with pytest.raises(StateRefused, match=r"missing.*data volume mounted.*--new-state"):
        check_state(path, ME, new_state=False)
    assert not path.exists()  # nothing created by the check
    assert check_state(path, ME, new_state=True) == "new"


def test_an_empty_file_or_an_unstamped_empty_database_is_refused(tmp_path: Path) -> None:
    zero = tmp_path / "zero.sqlite3"
    zero.write_bytes(b"")
    with pytest.raises(StateRefused, match="empty"):
        check_state(zero, ME, new_state=False)
    schema_only = tmp_path / "schema.sqlite3"
    EngineStore(schema_only).close()  # tables, no identity, no rows
    with pytest.raises(StateRefused, match="empty"):
        check_state(schema_only, ME, new_state=False)
    assert check_state(schema_only, ME, new_state=True) == "new"


def test_a_stamped_state_is_used_and_a_foreign_one_refused_even_with_new_state(
        tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    store = EngineStore(path)
    store.stamp_identity(ME)
    assert store.identity() == ME
    store.close()
    assert check_state(path, ME, new_state=False) == "existing"
    other = state_identity("real", "0xabc")
    for new_state in (False, True):
        with pytest.raises(StateRefused, match="belongs to 'paper|-'"):
            check_state(path, other, new_state=new_state)


def test_a_state_with_data_but_no_identity_is_stamped_not_refused(tmp_path: Path) -> None:
    path = tmp_path / "legacy.sqlite3"
    store = EngineStore(path)
    store.record_risk_event("halt", MARKET_A, "older run", 1)
    store.close()
    assert check_state(path, ME, new_state=False) == "legacy"


def test_a_file_that_is_not_a_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "junk.sqlite3"
    path.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(StateRefused, match="not an engine database"):
        check_state(path, ME, new_state=True)


def test_open_state_stamps_and_says_whether_it_is_fresh(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    with pytest.raises(StateRefused):
        open_state(config, new_state=False)
    store, fresh = open_state(config, new_state=True)
    assert fresh and store.identity() == engine_identity(config)
    store.close()
    store, fresh = open_state(config, new_state=False)  # the restart finds its state
    assert not fresh
    store.close()


def test_the_engine_process_refuses_a_missing_state_with_one_line(tmp_path: Path) -> None:
    config = tmp_path / "engine.yaml"
    config.write_text(yaml.safe_dump({
        "run": {"run_dir": str(tmp_path / "run"), "data_dir": str(tmp_path / "data")},
        "metrics": {"enabled": False}, "logging": {"file": str(tmp_path / "engine.log")},
    }))
    env = {k: v for k, v in os.environ.items() if not k.startswith("POLYLOLY")}
    result = subprocess.run([sys.executable, "-m", "engine.main", "--config", str(config)],
                            env=env, capture_output=True, timeout=60, check=False)
    assert result.returncode == 2
    lines = result.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in lines[0]
    assert lines[0].startswith("polyloly-engine: engine state ") and "--new-state" in lines[0]


class VenueWithAnOrder(LivePaper):
    """A live-looking venue that lists one resting order we have no record of, and holds
    12 shares of YES_A."""

    async def open_orders(self) -> VenueOrders:
        return VenueOrders(orders=(VenueOrder("v-old", YES_A, MARKET_A, Side.BUY, 0.40, 25.0,
                                              0.0, OrderStatus.LIVE),), fetched_ms=0)

    async def order_status(self, venue_order_id: str) -> VenueOrder | None:
        return (await self.open_orders()).orders[0] if venue_order_id == "v-old" else None

    async def positions(self, tokens: Sequence[str]) -> dict[str, float]:
        return {**dict.fromkeys(tokens, 0.0), YES_A: 12.0}


@pytest.mark.parametrize("adopt", [True, False])
def test_a_fresh_state_adopts_the_venues_orders_and_positions_before_intake(
        tmp_path: Path, adopt: bool) -> None:
    rig = EngineRig(make_config(tmp_path), executor_cls=VenueWithAnOrder)
    rig.core.ready = False  # as engine.main: intake opens after the start-up reconciliation
    asyncio.run(rig.driver.reconcile_on_start(adopt=adopt))
    position = rig.core.ledger.position(YES_A)
    assert position is not None and position.shares == pytest.approx(12.0)
    halted = rig.core.risk.breakers.halted(MARKET_A)
    if adopt:
        (record,) = rig.core.orders.open_orders()
        assert record.venue_order_id == "v-old" and record.status is OrderStatus.LIVE
        assert record.size == pytest.approx(25.0) and record.price == pytest.approx(0.40)
        assert rig.core.orders.exposure().by_market[MARKET_A] > 0  # counted
        assert halted is None
    else:  # a known state meeting an unknown order halts for review, as before
        assert rig.core.orders.open_orders() == []
        assert halted is not None
    rig.close()
