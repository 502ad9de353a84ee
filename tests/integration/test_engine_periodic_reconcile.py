"""The engine shell reconciles a live executor every ``execution.reconcile_interval_s`` and a
mismatch found that way halts the market and corrects the position (real sockets on ipc)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import zmq

from engine.main import EngineShell
from polyloly import bus
from tests.helpers.engine_rig import MARKET_A, NO_A, EngineRig, LivePaper, intent, make_config


def test_the_shell_reconciles_periodically_and_corrects_a_mismatch(tmp_path: Path) -> None:
    config = make_config(tmp_path, execution={"reconcile_interval_s": 0.05})
    rig = EngineRig(config, LivePaper)
    asyncio.run(rig.send(intent(price=0.50, size=20)))
    rig.executor.balance_override = {NO_A: 4.0}
    bus.ensure_run_dir(config)
    ctx = zmq.Context()
    shell = EngineShell(config, rig.core, ctx)

    async def scenario() -> None:
        serving = asyncio.get_running_loop().create_task(shell.serve())
        for _ in range(200):  # ≤ 2 s
            await asyncio.sleep(0.01)
            if rig.core.risk.breakers.halted(MARKET_A) is not None:
                break
        await asyncio.sleep(0.15)  # a few more intervals: one halt, no repeated correction
        shell.stopping.set()
        await asyncio.wait_for(serving, 2.0)
        await shell.driver.drain(1.0)

    try:
        asyncio.run(scenario())
    finally:
        shell.close()
        ctx.term()
    assert rig.executor.balance_queries >= 2
    assert rig.core.risk.breakers.halted(MARKET_A) is not None
    assert rig.core.ledger.position(NO_A).shares == pytest.approx(4)
    assert len(rig.store.load_position_corrections()) == 1
    rig.close()
