"""The benchmarks that type against llama.cpp's real server (`latency.py --endpoint llamacpp`,
`team_load.py`): one tiny run of each, as a script. What is checked is what they report, not
how fast anything was."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
LATENCY = ROOT / "benchmarks" / "latency.py"
TEAM_LOAD = ROOT / "benchmarks" / "team_load.py"
ENGINE_RUN = [
    *("--endpoint", "llamacpp", "--scenario", "typing", "--engine-files", "1"),
    *("--engine-lines", "2", "--chars-per-line", "6", "--type-through-chars", "3"),
    *("--infill-keystrokes", "10"),
]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def run_json(script: Path, *args: str, timeout: float = 100) -> Any:
    result = subprocess.run(
        [sys.executable, str(script), *args, "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def engine_typing() -> dict[str, Any]:
    results: dict[str, Any] = run_json(LATENCY, *ENGINE_RUN)
    return results


@pytest.fixture(scope="module")
def team_quick(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[dict[str, Any]], Path]:
    out = tmp_path_factory.mktemp("team")
    plot = [] if importlib.util.find_spec("matplotlib") else ["--no-plot"]
    rows: list[dict[str, Any]] = run_json(TEAM_LOAD, "--quick", "--out", str(out), *plot)
    return rows, out


def test_the_engine_scenario_reports_the_tokens_the_engine_evaluated_per_keystroke(
    engine_typing: dict[str, Any],
) -> None:
    assert list(engine_typing) == ["typing"]
    tiny = engine_typing["typing"]["models"]["tiny"]
    assert tiny["files"] == ["argparse"]
    # Two lines, six characters typed of each, Enter between: the first character comes from
    # elsewhere ("jump"), 11 are along a line (a few may be typed through, with no request).
    assert 8 <= tiny["fresh_tokens_along"]["n"] <= 11
    assert tiny["fresh_tokens_enter"]["n"] == tiny["fresh_tokens_jump"]["n"] == 1
    for name in ("fresh_tokens_along", "cached_tokens", "generation_ms"):
        assert tiny[name]["p50"] <= tiny[name]["p95"]
    assert 0 < tiny["cache_reuse"] <= 1
    assert tiny["engine_peak_rss_mb"] > 0


def test_typing_along_a_line_costs_the_engine_a_few_tokens_and_type_through_none(
    engine_typing: dict[str, Any],
) -> None:
    tiny = engine_typing["typing"]["models"]["tiny"]
    assert tiny["fresh_tokens_along"]["p50"] <= 4
    assert tiny["fresh_tokens_jump"]["p50"] > tiny["fresh_tokens_along"]["p95"]
    assert tiny["type_through_ms"]["n"] > 0
    assert tiny["type_through_engine_tokens"] == 0


def test_the_same_keystrokes_through_infill_re_evaluate_the_suffix(
    engine_typing: dict[str, Any],
) -> None:
    tiny = engine_typing["typing"]["models"]["tiny"]
    ours, infill = tiny["direct_completion"], tiny["direct_infill_fitted"]
    assert ours["requests"] == infill["requests"] == tiny["direct_infill"]["requests"] == 10
    assert ours["fresh_tokens_along"]["p50"] <= 4
    assert infill["fresh_tokens_along"]["p50"] > 100 * ours["fresh_tokens_along"]["p50"]


def test_team_load_reports_each_run_with_latency_and_the_engines_cache_reuse(
    team_quick: tuple[list[dict[str, Any]], Path],
) -> None:
    rows, _ = team_quick
    runs = [(row["editors"], row["parallel"], row["slot_mode"]) for row in rows]
    modes = ("pinned", "sticky", "any")
    assert runs == [
        *((1, 1, m) for m in modes), *((2, 1, m) for m in modes), *((2, 2, m) for m in modes)
    ]  # fmt: skip
    for row in rows:
        assert row["editors_as"] == "inprocess"
        assert row["keystrokes"] == 8 * row["editors"]
        assert len(row["per_editor"]) == row["editors"]
        assert 0 <= row["answered_in_time"] <= 1
        assert 0 < row["cache_reuse"] <= 1
        assert row["engine_n_ctx"] == 4096 * row["parallel"]
        assert row["generations"] >= row["generations_without_timings"]
        if row["latency_ms"]["n"]:
            assert row["latency_ms"]["p50"] <= row["latency_ms"]["p95"]


def test_team_load_writes_a_markdown_table_and_a_plot(
    team_quick: tuple[list[dict[str, Any]], Path],
) -> None:
    rows, out = team_quick
    table = (out / "team_load.md").read_text()
    assert table.startswith("# Team load")
    assert sum(line.startswith("| ") for line in table.splitlines()) == 1 + len(rows)
    if importlib.util.find_spec("matplotlib"):
        assert (out / "team_load.png").read_bytes().startswith(PNG_MAGIC)


def test_team_load_can_drive_real_language_server_processes(tmp_path: Path) -> None:
    rows = run_json(
        TEAM_LOAD, "--quick", "--editors", "1", "--editors-as", "process",
        "--out", str(tmp_path), "--no-plot",
    )  # fmt: skip
    assert [(row["editors_as"], row["slot_mode"]) for row in rows] == [
        ("process", "pinned"), ("process", "sticky"), ("process", "any")
    ]  # fmt: skip
    assert all(row["keystrokes"] == 8 and "generations" not in row for row in rows)
    assert (tmp_path / "team_load.md").exists() and not (tmp_path / "team_load.png").exists()
