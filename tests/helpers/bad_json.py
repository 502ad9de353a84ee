"""A seeded generator of bad JSON payloads for the parser fuzz tests (issue 20 #4, #5).

Starting from a valid payload it replaces, deletes or nests values: out-of-range numbers
(2**63, 2**64, 1e308, -1, a 5000-digit string), wrong types, NaN/inf spelled as strings; and
whole-frame damage: truncation, flipped bytes, deep nesting, many small unknown events, noise.
Integers beyond 64 bits are serialised by hand (orjson refuses them; a provider may send them).
"""

from __future__ import annotations

import copy
import random
from collections.abc import Callable
from typing import Any

import orjson

BAD_VALUES: list[Any] = [
    2**63, 2**63 - 1, 2**64, 2**64 + 1, -(2**63) - 1, 10**30, -1, -1e308, 1e308, 1e-320, 0, 3,
    1000, "1e400", "-1e400", "nan", "NaN", "inf", "-inf", "", " ", "0x10", "1_000", "١٢", None,
    True, [], {}, [1, 2], {"a": 1}, "9" * 5000, "x" * 100_000, 1.5, -0.0, "0.5", ".48",
    "BUY", "SELL", "HOLD", "\u0000", "é" * 10, "2025-13-45T99:99:99Z", "9999-12-31T23:59:59Z",
]


def mutate(rng: random.Random, node: Any) -> Any:
    """Replace (or delete) one value somewhere in ``node``, a JSON tree; returns ``node``."""
    if isinstance(node, dict) and node:
        key = rng.choice(list(node))
        if rng.random() < 0.15:
            del node[key]
        elif isinstance(node[key], dict | list) and node[key] and rng.random() < 0.7:
            mutate(rng, node[key])
        else:
            node[key] = copy.deepcopy(rng.choice(BAD_VALUES))
    elif isinstance(node, list) and node:
        i = rng.randrange(len(node))
        if isinstance(node[i], dict | list) and node[i] and rng.random() < 0.7:
            mutate(rng, node[i])
        else:
            node[i] = copy.deepcopy(rng.choice(BAD_VALUES))
    return node


def dumps(node: Any) -> bytes:
    """JSON of ``node``, integers of any size included."""
    return _dumps_big(node) if _has_big_int(node) else orjson.dumps(node)


def _has_big_int(node: Any) -> bool:
    if isinstance(node, int) and not isinstance(node, bool):
        return not -(2**63) <= node < 2**64
    if isinstance(node, dict):
        return any(_has_big_int(v) for v in node.values())
    if isinstance(node, list):
        return any(_has_big_int(v) for v in node)
    return False


def _dumps_big(node: Any) -> bytes:
    if isinstance(node, bool) or node is None:
        return orjson.dumps(node)
    if isinstance(node, int):
        return str(node).encode()
    if isinstance(node, dict):
        return b"{" + b",".join(orjson.dumps(str(k)) + b":" + _dumps_big(v)
                                for k, v in node.items()) + b"}"
    if isinstance(node, list):
        return b"[" + b",".join(_dumps_big(v) for v in node) + b"]"
    return orjson.dumps(node)


def bad_frame(rng: random.Random, valid: Callable[[random.Random], Any],
              wrap: Callable[[Any, Any], Any] | None = None) -> bytes:
    """One bad payload made from ``valid(rng)``; ``wrap(valid, bad)`` may put a mutated
    payload among valid ones (the market channel's arrays)."""
    shape = rng.randrange(10)
    if shape <= 4:  # one or more values out of range / wrong type / missing
        event = valid(rng)
        for _ in range(rng.randint(1, 3)):
            mutate(rng, event)
        body = wrap(valid(rng), event) if wrap is not None and rng.random() < 0.5 else event
        return dumps(body)
    good = orjson.dumps(valid(rng))
    if shape == 5:  # truncated
        return good[: rng.randrange(len(good))]
    if shape == 6:  # flipped bytes
        data = bytearray(good)
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        return bytes(data)
    if shape == 7:  # deep nesting
        depth = rng.choices([100, 1000, 10_000], weights=[60, 30, 10])[0]
        return b"[" * depth + good + b"]" * rng.choice([depth, 0])
    if shape == 8:  # many small unknown events in one frame
        n = rng.choices([100, 1000, 60_000], weights=[90, 9, 1])[0]
        return b"[" + b",".join([b'{"event_type":"zzz"}'] * n) + b"]"
    return bytes(rng.randrange(256) for _ in range(rng.randint(0, 64)))  # noise
