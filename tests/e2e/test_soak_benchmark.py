"""benchmarks/soak.py: one `--quick` run (a few hundred keystrokes in six files), as a script
against the fake Ollama. What is checked is what it reports and that the server answered every
request, not how fast it was nor whether a run this short is flat."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "soak.py"


@pytest.fixture(scope="module")
def quick_run() -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=110,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    report: dict[str, Any] = json.loads(result.stdout)
    return report


def test_every_request_sent_is_answered(quick_run: dict[str, Any]) -> None:
    requests = quick_run["requests"]
    assert requests["sent"] == requests["answered"]
    assert requests["unanswered"] == requests["timeouts"] == 0
    assert requests["sent"]["textDocument/inlineCompletion"] == quick_run["keystrokes"] == 400
    assert requests["sent"]["textDocument/completion"] > 0
    assert requests["sent"]["workspace/executeCommand"] > 0


def test_the_session_does_what_an_editor_does(quick_run: dict[str, Any]) -> None:
    session = quick_run["session"]
    for event in ("saved", "closed", "reopened", "settings_changed", "event_shown", "bursts"):
        assert session.get(event, 0) > 0, event
    assert quick_run["fake"]["generate"] > 0
    assert quick_run["fake"]["reviews"] > 0
    assert quick_run["fake"]["format_violation_count"] == 0
    assert quick_run["server_requests"]["workspace/configuration"] > 1
    assert quick_run["workspace"]["files"] == 6


def test_memory_is_reported_after_the_warm_up_at_the_end_and_along_the_way(
    quick_run: dict[str, Any],
) -> None:
    warmup, end = quick_run["checkpoints"]["warmup"], quick_run["checkpoints"]["end"]
    assert warmup["keystroke"] == 100
    assert end["keystroke"] == 400
    for checkpoint in (warmup, end):
        assert checkpoint["rss_mb"] > 0
        assert checkpoint["peak_rss_mb"] >= checkpoint["rss_mb"]
    assert len(quick_run["rss_series"]) >= 2
    assert quick_run["verdicts"]["memory"]["ratio"] == pytest.approx(
        end["rss_mb"] / warmup["rss_mb"], abs=0.001
    )


def test_tasks_and_connections_are_reported_at_both_checkpoints(
    quick_run: dict[str, Any],
) -> None:
    for checkpoint in quick_run["checkpoints"].values():
        assert checkpoint["tasks"] >= 1
        assert "serve" in checkpoint["task_kinds"]
        assert checkpoint["threads"] >= 1
        descriptors = checkpoint["descriptors"]
        assert descriptors["fds"] >= descriptors["sockets"] >= 1
    sampled = [probe for probe in quick_run["probes"] if "tasks" in probe]
    assert len(sampled) >= 2
    assert all(probe["tasks"] >= 1 for probe in sampled)


def test_overhead_is_compared_between_the_first_and_the_last_keystrokes(
    quick_run: dict[str, Any],
) -> None:
    overhead = quick_run["overhead_ms"]
    assert overhead["window"] == 100
    for name in ("first", "last"):
        assert overhead[name]["n"] > 0
        assert 0 <= overhead[name]["p50"] <= overhead[name]["p95"]
    assert len(overhead["p95_by_window"]) == 4
    assert overhead["answered_by"]["model"] > 0
    assert quick_run["others_cores"]["first"] is not None


def test_each_of_the_three_conditions_has_a_verdict(quick_run: dict[str, Any]) -> None:
    verdicts = quick_run["verdicts"]
    assert set(verdicts) == {"memory", "tasks_and_connections", "overhead"}
    for verdict in verdicts.values():
        assert isinstance(verdict["ok"], bool)
        assert verdict["text"]
