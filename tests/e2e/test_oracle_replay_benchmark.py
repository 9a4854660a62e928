"""benchmarks/oracle_replay.py: a small replay against the perfect (oracle) model. What is checked
is what it reports and that the replay is sound — the oracle's suggestions are right, accepting
them rebuilds the function — not how fast the server was."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "oracle_replay.py"


@pytest.fixture(scope="module")
def rows(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    state = tmp_path_factory.mktemp("state")
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--functions", "3", "--max-tokens", "32", "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(ROOT), "XDG_STATE_HOME": str(state)},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    found: list[dict[str, Any]] = json.loads(result.stdout)
    return found


def test_it_reports_typing_and_accepting_with_and_without_prefetch(
    rows: list[dict[str, Any]],
) -> None:
    assert [row["replay"] for row in rows] == ["typing", "accepting", "accepting, no prefetch"]
    typing, accepting, without = rows
    assert typing["lines"] > 0 and typing["keystrokes"] > typing["lines"]
    assert 0 < typing["generations_per_line"] and 0 < typing["right_suggestion_share"] <= 1
    assert accepting["accepts"] > 0 and accepting["accepts_with_more_to_come"] > 0
    assert "extra_generations_from_prefetch" in accepting


def test_prefetch_is_what_makes_the_next_suggestion_ready(rows: list[dict[str, Any]]) -> None:
    _, accepting, without = rows
    assert accepting["from_prefetch_share"] > 0
    assert without["from_prefetch_share"] == 0 and without["ready_after_accept_share"] == 0
