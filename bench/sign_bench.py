"""``polyloly bench sign``: order build + EIP-712 sign time per order, two paths, one run.

* **executor** — the real executor's path
  (:class:`engine.executors.polymarket.signing.OrderSigner`):
  the client's amount rounding, fixed-layout struct hash, libsecp256k1 via coincurve;
* **client** — py-clob-client-v2's default path: ``OrderBuilder.build_order`` with tick size
  and neg-risk passed in (what ``ClobClient.create_order`` runs once its caches are warm:
  generic ``encode_typed_data`` + ``Account.sign_message``, whose backend eth_keys picks —
  coincurve when importable).

Both sign the same random orders, warm (a warm-up pass first), interleaved in ``--repeats``
rounds; we report the median and p99 per order of each path across all rounds, the median of
the per-round medians, and the ratio client/executor. Target (issue 9): executor median ≤ 250 µs.
The signatures of the two paths are checked equal on a sample before timing.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from eth_keys.backends import get_backend
from py_clob_client_v2.clob_types import CreateOrderOptions, OrderArgsV2
from py_clob_client_v2.config import get_contract_config
from py_clob_client_v2.order_builder.builder import OrderBuilder
from py_clob_client_v2.order_utils.exchange_order_builder_v2 import ExchangeOrderBuilderV2
from py_clob_client_v2.order_utils.model.order_data_v2 import OrderDataV2
from py_clob_client_v2.signer import Signer

from engine.executors.polymarket.signing import OrderSigner, OrderTerms
from engine.secrets import PrivateKey
from polyloly.domain import OrderType, Side

BENCH_KEY = "0x4646464646464646464646464646464646464646464646464646464646464646"
TOKEN = "71321045679252212594626385532706912750332728571942532289631379312455583992563"
TARGET_US = 250.0


def _orders(count: int, seed: int) -> list[OrderTerms]:
    rng = random.Random(seed)
    return [
        OrderTerms(
            token_id=TOKEN,
            side=rng.choice([Side.BUY, Side.SELL]),
            price=rng.randint(10, 990) / 1000,
            size=round(rng.uniform(5, 500), 2),
            order_type=rng.choice([OrderType.GTC, OrderType.FOK]),
            tick_size=0.001,
        )
        for _ in range(count)
    ]


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def _time_each(sign: Callable[[OrderTerms], Any], orders: list[OrderTerms]) -> list[float]:
    samples = []
    for terms in orders:
        started = time.perf_counter_ns()
        sign(terms)
        samples.append((time.perf_counter_ns() - started) / 1000)
    return samples


def _check_same_signature(signer_key: PrivateKey) -> None:
    salt, ts = 123_456_789, 1_767_225_600_000
    ours = OrderSigner(signer_key, 137, salt=lambda: salt, now_ms=lambda: ts)
    terms = OrderTerms(TOKEN, Side.BUY, 0.517, 42.5, OrderType.GTC, 0.001)
    signed = ours.sign(terms)
    builder = ExchangeOrderBuilderV2(
        get_contract_config(137).exchange_v2, 137, Signer(signer_key.hex, 137),
        generate_salt=lambda: str(salt),
    )
    reference = builder.build_signed_order(
        OrderDataV2(
            maker=ours.maker, tokenId=TOKEN, makerAmount=str(signed.maker_amount),
            takerAmount=str(signed.taker_amount), side=signed.order.side, signer=ours.address,
            timestamp=str(ts),
        )
    )
    if reference.signature != signed.order.signature:
        raise SystemExit("sign bench: executor and client signatures differ; not timing")


def run(orders_per_round: int, repeats: int, seed: int) -> dict[str, Any]:
    """Time both paths; return the figures as a dict (times in microseconds)."""
    key = PrivateKey(hex=BENCH_KEY, source="bench")
    _check_same_signature(key)
    signer = OrderSigner(key, 137)
    client_builder = OrderBuilder(Signer(BENCH_KEY, 137))
    options = CreateOrderOptions(tick_size="0.001", neg_risk=False)

    def executor_path(terms: OrderTerms) -> Any:
        return signer.sign(terms)

    def client_path(terms: OrderTerms) -> Any:
        args = OrderArgsV2(
            token_id=terms.token_id, price=terms.price, size=terms.size, side=terms.side.value
        )
        return client_builder.build_order(args, options)

    warm = _orders(50, seed - 1)
    _time_each(executor_path, warm)
    _time_each(client_path, warm)
    paths: dict[str, Callable[[OrderTerms], Any]] = {
        "executor": executor_path,
        "client": client_path,
    }
    samples: dict[str, list[float]] = {name: [] for name in paths}
    round_medians: dict[str, list[float]] = {name: [] for name in paths}
    for index in range(repeats):
        batch = _orders(orders_per_round, seed + index)
        for name, path in paths.items():
            timed = _time_each(path, batch)
            samples[name].extend(timed)
            round_medians[name].append(statistics.median(timed))
    figures = {
        name: {
            "median_us": statistics.median(values),
            "p99_us": _percentile(values, 0.99),
            "median_of_round_medians_us": statistics.median(round_medians[name]),
            "round_median_spread_us": max(round_medians[name]) - min(round_medians[name]),
            "orders": len(values),
        }
        for name, values in samples.items()
    }
    executor_median = figures["executor"]["median_us"]
    return {
        "benchmark": "sign",
        "machine": f"{platform.machine()} {platform.python_implementation()} "
        f"{platform.python_version()}",
        "executor_backend": OrderSigner.backend(),
        "client_backend": type(get_backend()).__name__,
        "paths": figures,
        "ratio_client_over_executor": figures["client"]["median_us"] / executor_median,
        "target_us": TARGET_US,
        "meets_target": executor_median <= TARGET_US,
    }


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, print the figures, optionally write them as JSON."""
    parser = argparse.ArgumentParser(prog="polyloly bench sign", description=__doc__.split("\n")[0])
    parser.add_argument("--orders", type=int, default=300, help="orders per round and path")
    parser.add_argument("--repeats", type=int, default=5, help="rounds")
    parser.add_argument("--seed", type=int, default=7, help="random seed")
    parser.add_argument("--json", dest="json_out", default="", help="write results to this file")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if args.orders < 1 or args.repeats < 1:
        parser.error("--orders and --repeats must be at least 1")
    result = run(args.orders, args.repeats, args.seed)
    print(f"sign bench ({result['machine']}), {args.repeats} rounds × {args.orders} orders")
    print(f"  executor backend: {result['executor_backend']}")
    print(f"  client backend:   eth_keys {result['client_backend']}")
    for name, figures in result["paths"].items():
        print(
            f"  {name:<8} median {figures['median_us']:8.1f} µs   p99 {figures['p99_us']:8.1f} µs"
            f"   round medians spread {figures['round_median_spread_us']:.1f} µs"
        )
    verdict = "meets" if result["meets_target"] else "MISSES"
    print(
        f"  client / executor = {result['ratio_client_over_executor']:.1f}×; "
        f"executor {verdict} the {TARGET_US:.0f} µs target"
    )
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
