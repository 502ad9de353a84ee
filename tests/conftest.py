"""Session-wide guards shared by every test directory (keep small; helpers in tests/helpers/)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.helpers import leaks

SLOW_DIRECTORIES = ("integration", "chaos")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Real processes and sockets are slow: `pytest -m "not slow"` is the inner loop."""
    for item in items:
        if any(part in SLOW_DIRECTORIES for part in item.path.parts):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session", autouse=True)
def no_leftover_segments_or_run_dirs() -> Iterator[None]:
    """Fail the session when it leaves a PolyLOL shm segment or /tmp/polyloly-* dir behind."""
    before = leaks.snapshot()
    yield
    left = leaks.leftovers(before)
    if left:
        pytest.fail("the test session left behind (remove them, and fix the test that made "
                    "them): " + "; ".join(left), pytrace=False)
