"""benchmarks/review_eval.py: the QuixBugs review benchmark, run as a script against the scripted
fake Ollama (a perfect reviewer), and the dataset's gold lines it scores against."""

from __future__ import annotations

import functools
import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.fakes.review_script import ReviewRule, scripted_review

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "review_eval.py"
DATA = ROOT / "benchmarks" / "review_data" / "quixbugs"
FIRST_THREE = ["bitcount", "breadth_first_search", "bucketsort"]
SAVES = 3


@functools.cache
def load_benchmark() -> ModuleType:
    spec = importlib.util.spec_from_file_location("review_eval", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["review_eval"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def fake_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("review-eval") / "out.json"
    args = ["--fake", "--limit", "3", "--saves", str(SAVES), "--timeout", "30", "--json", str(out)]
    result = subprocess.run(
        [sys.executable, str(SCRIPT), *args], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    results: dict[str, Any] = json.loads(out.read_text())
    return results


def test_the_scripted_perfect_reviewer_scores_full_marks(fake_run: dict[str, Any]) -> None:
    summary = fake_run["summary"]
    assert fake_run["backend"] == "fake"
    assert fake_run["dataset"]["programs"] == 3
    assert summary["detection_recall"] == 1.0
    assert summary["localisation_at_1"] == 1.0
    assert summary["false_positive_rate"] == 0.0
    assert summary["fixed_with_any_finding"] == 0.0
    assert summary["valid_json_rate"] == 1.0


def test_each_function_is_one_model_call(fake_run: dict[str, Any]) -> None:
    rows = fake_run["rows"]
    assert fake_run["summary"]["review_calls"] == sum(row["functions"] for row in rows)
    # The benchmark's own save rounds are reviews too, one call each after the first.
    assert fake_run["summary"]["fake_review_requests"] >= len(rows) + SAVES


def test_rows_place_findings_of_buggy_files_on_their_gold_lines(fake_run: dict[str, Any]) -> None:
    rows = fake_run["rows"]
    assert [(r["program"], r["version"]) for r in rows] == [
        (program, version) for program in FIRST_THREE for version in ("buggy", "fixed")
    ]
    gold = json.loads((DATA / "gold.json").read_text())
    for row in rows:
        if row["version"] == "fixed":
            assert row["findings"] == []
            continue
        assert [f["line"] for f in row["findings"]] == gold[row["program"]]["lines"]
        assert all(f["severity"] == 2 for f in row["findings"])  # Warning


def test_latencies_include_the_fakes_time_and_the_servers(fake_run: dict[str, Any]) -> None:
    backend_ms = fake_run["fake_review_call_ms"]
    summary = fake_run["summary"]
    assert summary["latency_per_function_ms"]["n"] == 6
    assert summary["latency_per_function_ms"]["p50"] >= backend_ms
    assert summary["server_overhead_per_file_ms"]["p50"] > 0
    save = fake_run["save"]
    assert save["measured_to"] == "diagnostics"
    assert save["save_to_diagnostics_ms"]["n"] == SAVES
    assert save["save_to_diagnostics_ms"]["p50"] >= backend_ms
    assert save["minus_backend_ms"]["p50"] > 0


def test_the_dataset_pairs_every_buggy_program_with_its_fixed_version() -> None:
    buggy = sorted(p.name for p in (DATA / "buggy").glob("*.py"))
    fixed = sorted(p.name for p in (DATA / "fixed").glob("*.py"))
    assert buggy == fixed
    assert len(buggy) == 40
    assert (DATA / "LICENSE").exists() and (DATA / "README.md").exists()


def test_gold_json_is_what_difflib_gives_for_each_pair() -> None:
    benchmark = load_benchmark()
    stored = json.loads((DATA / "gold.json").read_text())
    for name, gold in stored.items():
        buggy = (DATA / "buggy" / f"{name}.py").read_text()
        fixed = (DATA / "fixed" / f"{name}.py").read_text()
        assert benchmark.gold_of(buggy, fixed) == gold, name
        lines = buggy.split("\n")
        assert gold["evidence"] in [lines[n - 1] for n in gold["lines"]], name


def test_a_missing_line_is_gold_on_the_code_lines_around_it() -> None:
    benchmark = load_benchmark()
    buggy = "def f(xs):\n    out = []\n\n    return out\n"
    fixed = "def f(xs):\n    out = []\n    out.extend(xs)\n\n    return out\n"
    gold = benchmark.gold_of(buggy, fixed)
    assert gold["kind"] == "insert"
    assert gold["lines"] == [2, 4]
    assert gold["evidence"] == "    out = []"


def review_call(*lines: str) -> dict[str, Any]:
    numbered = "\n".join(f"{n} | {line}" for n, line in enumerate(lines, start=1))
    unit = f"File: x.py (python)\nFunction to review:\n{numbered}"
    example = {"role": "user", "content": "Function to review:\n1 | while True:"}
    return {"format": {"type": "object"}, "messages": [example, {"role": "user", "content": unit}]}


def test_the_scripted_reviewer_quotes_a_line_only_between_its_neighbours() -> None:
    rule = ReviewRule("    while True:", before="    seen = set()", after="        step()")
    buggy = review_call("def f():", "    seen = set()", "", "    while True:", "        step()")
    other = review_call("def g():", "    while True:", "        wait()")
    found = json.loads(scripted_review(buggy, [rule]))["findings"]
    assert [(f["line"], f["evidence"]) for f in found] == [(4, "    while True:")]
    assert json.loads(scripted_review(other, [rule])) == {"findings": []}
