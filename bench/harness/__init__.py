"""Shared pieces of the latency, throughput and isolation benchmarks.

* :mod:`bench.harness.stats` — percentiles, medians of repeated runs, ratios;
* :mod:`bench.harness.machine` — the machine a figure came from, JSON result files;
* :mod:`bench.harness.load` — the pure load model (markets, books, frames, trigger schedule);
* :mod:`bench.harness.feed_server` — a WebSocket server speaking the market channel at a rate;
* :mod:`bench.harness.procs` — launching, health-waiting, CPU accounting and stopping processes;
* :mod:`bench.harness.stamps` — per-intent stage stamps from the engine's event log;
* :mod:`bench.harness.floor` — the floor processes (an empty shm + ZeroMQ path);
* :mod:`bench.harness.runs` — one measured run of PolyLOL, the floor or the baseline.
"""
