"""`tonypi-console --demo`: the one command a newcomer runs, end to end, offscreen."""

from __future__ import annotations

import subprocess
import sys

from tests.support.processes import ROOT


def test_demo_starts_shows_robots_and_shuts_down_cleanly(tmp_path):
    shot = tmp_path / "demo.png"
    result = subprocess.run(
        [sys.executable, "-m", "app", "--demo", "--run-for", "12", "--screenshot", str(shot),
         "--log-level", "INFO"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={"QT_QPA_PLATFORM": "offscreen", "PATH": "/usr/bin:/bin",
             "HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "config")})
    assert result.returncode == 0, result.stderr[-3000:]
    assert shot.exists() and shot.stat().st_size > 10_000
    log = result.stderr
    assert "Traceback" not in log
    for robot in ("tonypi_demo_01", "tonypi_demo_02", "tonypi_demo_03"):
        assert f"registered robot {robot}" in log
