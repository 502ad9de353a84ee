"""A real demo's report.html in headless Chromium: the page loads with no console message,
a screenshot is taken, and the equity curve plotly drew ends at the summary's P&L (issue 19).

Skips, saying so, where no chromium binary is installed (``apt-get install -y chromium``).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import orjson
import pytest

pytestmark = pytest.mark.slow

CHROMIUM = next((path for name in ("chromium", "chromium-browser", "google-chrome")
                 if (path := shutil.which(name))), None)


def _chromium(page: Path, profile: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    return subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
         "--disable-background-networking", "--disable-component-update", "--no-first-run",
         f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0",
         "--virtual-time-budget=5000", *extra, page.as_uri()],
        capture_output=True, text=True, timeout=120, check=False)


def _console_messages(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "CONSOLE" in line]


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium binary (apt-get install -y chromium)")
def test_demo_report_renders_in_chromium_and_its_equity_ends_at_the_pnl() -> None:
    work = Path(tempfile.mkdtemp(prefix="report-browser-"))
    try:
        runs = work / "runs"
        demo = subprocess.run(
            [sys.executable, "-m", "ops.cli", "demo", "--no-ui", "--speed", "4",
             "--runs-dir", str(runs)],
            capture_output=True, text=True, timeout=300, check=False,
            env={**os.environ, "PYTHONUNBUFFERED": "1"})
        assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
        assert "FILL" in demo.stdout and "PROGRESS" in demo.stdout  # --no-ui prints lines
        (run_dir,) = runs.iterdir()
        summary = orjson.loads((run_dir / "summary.json").read_bytes())
        page = run_dir / "report.html"

        shot = work / "report.png"
        result = _chromium(page, work / "profile-shot", f"--screenshot={shot}",
                           "--window-size=1200,2400", "--hide-scrollbars")
        assert shot.exists() and shot.stat().st_size > 10_000, result.stderr[-2000:]
        assert _console_messages(result.stderr) == []

        dom = _chromium(page, work / "profile-dom", "--dump-dom")
        assert _console_messages(dom.stderr) == []
        body = re.search(r"<body[^>]*>", dom.stdout)
        assert body is not None, dom.stderr[-2000:]
        drawn = re.search(r'data-equity-last="([^"]+)"', body.group(0))
        assert drawn is not None, "the equity chart was not drawn"
        assert float(drawn.group(1)) == pytest.approx(summary["pnl_usdc"], abs=1e-9)
        # the run's P&L: the engine's realized + unrealized (every market resolved here)
        engine_total = summary["realized_pnl_usdc"] + (summary["unrealized_pnl_usdc"] or 0.0)
        assert summary["pnl_usdc"] == pytest.approx(engine_total, abs=1e-6)
        assert 'class="js-plotly-plot"' in dom.stdout or "js-plotly-plot" in dom.stdout
        names = [m["name"] for m in summary["markets"]]
        assert all(name in dom.stdout for name in names)
    finally:
        shutil.rmtree(work, ignore_errors=True)
