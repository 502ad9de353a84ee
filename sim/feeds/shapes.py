"""Compare the shape of two JSON values: same keys and same value types, recursively.

Used by the tests to check that every feed speaks exactly like the recorded or documented
fixtures in ``tests/fixtures/esports``. Rules: dict key sets must be equal; a ``null`` on either
side matches any type (fixtures use null for optional values); an int matches a float fixture
(JSON does not distinguish ``2`` from ``2.0``) but not the reverse; ``bool`` is not a number;
list items are compared with the fixture item whose key set is the same (else the first); an
empty fixture list or dict accepts any content.
"""

from __future__ import annotations

from typing import Any


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "str"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "dict"
    return type(value).__name__


def shape_differences(actual: Any, fixture: Any, path: str = "$") -> list[str]:
    """Return human-readable differences between ``actual`` and ``fixture`` shapes."""
    kind_a, kind_f = _kind(actual), _kind(fixture)
    if "null" in (kind_a, kind_f):
        return []
    if kind_a != kind_f and not (kind_a == "int" and kind_f == "float"):
        return [f"{path}: type {kind_a}, fixture has {kind_f}"]
    problems: list[str] = []
    if isinstance(fixture, dict):
        if not fixture:
            return []
        missing = sorted(set(fixture) - set(actual))
        extra = sorted(set(actual) - set(fixture))
        if missing:
            problems.append(f"{path}: missing keys {missing}")
        if extra:
            problems.append(f"{path}: extra keys {extra}")
        for key in sorted(set(fixture) & set(actual)):
            problems += shape_differences(actual[key], fixture[key], f"{path}.{key}")
    elif isinstance(fixture, list):
        if not fixture:
            return []
        for index, item in enumerate(actual):
            template = fixture[0]
            if isinstance(item, dict):
                for candidate in fixture:
                    if isinstance(candidate, dict) and set(candidate) == set(item):
                        template = candidate
                        break
            problems += shape_differences(item, template, f"{path}[{index}]")
    return problems


def assert_same_shape(actual: Any, fixture: Any, what: str = "payload") -> None:
    """Raise ``AssertionError`` listing every shape difference."""
    problems = shape_differences(actual, fixture)
    if problems:
        raise AssertionError(f"{what} differs from its fixture:\n  " + "\n  ".join(problems))
