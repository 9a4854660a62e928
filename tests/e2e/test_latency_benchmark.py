"""benchmarks/latency.py: one small run of its stall and deadline scenarios, as a script against
the fake Ollama. What is checked is what it reports, not how fast the server was."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "latency.py"
SMALL_RUN = [
    *("--scenario", "big-file", "--scenario", "workspace", "--scenario", "hang"),
    *("--big-file-mb", "0.2", "--phase-s", "0.3", "--interval-ms", "10"),
    *("--workspace-files", "20", "--workspace-mb", "0.3", "--workspace-timeout-s", "60"),
    *("--first-token-ms", "300", "--hang-wait-s", "20"),
]


@pytest.fixture(scope="module")
def small_run() -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), *SMALL_RUN, "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=110,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    results: dict[str, Any] = json.loads(result.stdout)
    return results


def test_keystrokes_are_reported_per_phase_of_the_big_file(small_run: dict[str, Any]) -> None:
    big = small_run["big-file"]
    assert list(big["keystroke_ms"]) == ["idle", "open", "edit", "save"]
    for row in big["keystroke_ms"].values():
        assert row["n"] > 0
        assert row["p50"] <= row["p95"] <= row["worst"]
    assert big["worst_keystroke_ms"] >= big["keystroke_ms"]["open"]["worst"]
    assert big["file_bytes"] > 150_000
    assert big["backend_requests_during_keystrokes"] == 0


def test_reading_the_workspace_reports_the_keystrokes_and_the_peak_memory(
    small_run: dict[str, Any],
) -> None:
    workspace = small_run["workspace"]
    assert workspace["workspace_files"] > 0
    assert workspace["learnt"]["state"] == "learnt"
    assert workspace["keystroke_ms"]["reading"]["n"] > 0
    assert workspace["worst_keystroke_ms"] == workspace["keystroke_ms"]["reading"]["worst"]
    assert workspace["peak_rss_mb"] >= workspace["rss_start_mb"] > 0


def test_a_hanging_backend_is_reported_with_the_deadline_it_was_given(
    small_run: dict[str, Any],
) -> None:
    hang = small_run["hang"]
    assert hang["first_token_ms_setting"] == hang["deadline_ms"] == 300
    assert hang["backend_requests"] == 1
    assert isinstance(hang["answered"], bool)
