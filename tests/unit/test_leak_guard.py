"""tests/helpers/leaks.py (the session guard in tests/conftest.py) names what a session left."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

from shm.writer import reclaim_stale_store
from tests.helpers import leaks

_CRASH = ("import os, sys\nfrom shm import BookWriter\n"
          "BookWriter.create(sys.argv[1], ['1001'])\nos._exit(0)\n")


def test_a_dead_writers_store_is_named_until_reclaimed() -> None:
    before = leaks.snapshot()
    name = f"plleak_{uuid.uuid4().hex[:8]}"
    subprocess.run([sys.executable, "-c", _CRASH, name], check=True, timeout=30)
    try:
        found = [item for item in leaks.leftovers(before) if name in item]
        assert found == [found[0]] and "gone" in found[0] and f"/dev/shm/{name}" in found[0]
    finally:
        assert reclaim_stale_store(name)
    assert not [item for item in leaks.leftovers(before) if name in item]


def test_a_run_dir_is_named_unless_a_live_process_serves_in_it() -> None:
    before = leaks.snapshot()
    path = Path(tempfile.mkdtemp(prefix="polyloly-leak-", dir="/tmp"))
    try:
        assert f"run dir {path}" in leaks.leftovers(before)
        with socket.socket(socket.AF_UNIX) as sock:
            sock.bind(str(path / "x.sock"))
            assert f"run dir {path}" not in leaks.leftovers(before)
    finally:
        shutil.rmtree(path)
    assert f"run dir {path}" not in leaks.leftovers(before)


def test_descent_follows_the_parent_chain() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"],
                             stdin=subprocess.PIPE)
    try:
        assert leaks.descends_from(child.pid, os.getpid())
        assert not leaks.descends_from(os.getpid(), child.pid)
    finally:
        assert child.stdin is not None
        child.stdin.close()
        child.wait(10)
