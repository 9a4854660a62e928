"""How well the offline engine's n-gram model predicts code it has not seen.

It trains on 80 % of a real package's .py files (an installed pure-Python package, e.g. httpx)
and measures on the other 20 % — every fifth file in sorted path order, so the split is
deterministic and not one alphabetical corner of the package:

- next-token top-1 accuracy: each token predicted from the tokens before it;
- exact-line rate: for each line of ≥ 2 tokens, given the tokens of its first half (and all the
  lines before), is the greedy completion of the rest of the line exactly right? Reported both
  ungated (always complete) and gated as the engine's ghost text is (`confident_rest_of_line`):
  then how often it offers anything (coverage), how often what it offers is exactly the rest
  of the line (precision), and how often it is right as far as it goes (prefix precision:
  a partial accept is still useful);
- training time (tokenizing + counting) and model size (contexts stored).

    .venv/bin/python benchmarks/offline_accuracy.py [--package httpx] [--json]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from pathlib import Path

from lsp_assist.languages import language_for
from lsp_assist.offline.engine import confident_rest_of_line
from lsp_assist.offline.ngram import NgramModel
from lsp_assist.offline.tokens import NEWLINE, render, symbols_of, tokenize

MAX_TOKEN_PREDICTIONS = 60_000
MAX_LINES = 4_000
"""Deterministic sampling caps (every n-th item) to keep a run well under two minutes."""


def package_files(package: str) -> list[Path]:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"{package} is not an installed package")
    root = Path(next(iter(spec.submodule_search_locations)))
    return sorted(root.rglob("*.py"))


def split_lines(symbols: list[str]) -> list[tuple[int, int]]:
    """(start, end) symbol index ranges of each line, newline excluded."""
    lines, start = [], 0
    for index, symbol in enumerate(symbols):
        if symbol == NEWLINE:
            lines.append((start, index))
            start = index + 1
    lines.append((start, len(symbols)))
    return [(s, e) for s, e in lines if e > s]


def run(package: str) -> dict[str, float | int | str]:
    files = package_files(package)
    held_out = [path for index, path in enumerate(files) if index % 5 == 4]
    training = [path for index, path in enumerate(files) if index % 5 != 4]
    grammar = language_for("python").grammar

    model = NgramModel()
    started = time.perf_counter()
    training_tokens = 0
    for path in training:
        symbols = symbols_of(tokenize(path.read_text("utf-8"), grammar))
        training_tokens += len(symbols)
        model.add_file(str(path), symbols)
    training_s = time.perf_counter() - started

    tests = [symbols_of(tokenize(path.read_text("utf-8"), grammar)) for path in held_out]
    positions = [(f, i) for f, symbols in enumerate(tests) for i in range(1, len(symbols))]
    stride = max(1, len(positions) // MAX_TOKEN_PREDICTIONS)
    sampled = positions[::stride]
    started = time.perf_counter()
    correct = 0
    for f, i in sampled:
        guess = model.predict(tests[f][max(0, i - 3) : i], k=1)
        correct += bool(guess) and guess[0].symbol == tests[f][i]
    predict_ms = (time.perf_counter() - started) * 1000 / max(1, len(sampled))

    lines = [
        (f, start, end)
        for f, symbols in enumerate(tests)
        for start, end in split_lines(symbols)
        if end - start >= 2
    ]
    lines = lines[:: max(1, len(lines) // MAX_LINES)]
    exact = offered = offered_exact = offered_prefix = 0
    for f, start, end in lines:
        middle = start + (end - start) // 2
        prefix, expected = tests[f][max(0, middle - 3) : middle], render(tests[f][middle:end])
        exact += model.complete_line(prefix, 24) == expected
        gated = confident_rest_of_line(model, prefix)
        if gated:
            offered += 1
            offered_exact += gated == expected
            offered_prefix += expected.startswith(gated)

    return {
        "package": package,
        "training_files": len(training),
        "held_out_files": len(held_out),
        "training_tokens": training_tokens,
        "training_s": round(training_s, 3),
        "contexts_stored": model.context_count,
        "tokens_predicted": len(sampled),
        "next_token_top1": round(correct / max(1, len(sampled)), 4),
        "predict_ms": round(predict_ms, 4),
        "lines_completed": len(lines),
        "exact_line_rate": round(exact / max(1, len(lines)), 4),
        "gated_coverage": round(offered / max(1, len(lines)), 4),
        "gated_precision": round(offered_exact / max(1, offered), 4),
        "gated_prefix_precision": round(offered_prefix / max(1, offered), 4),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--package", default="httpx", help="an installed pure-Python package")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args(argv)
    results = run(args.package)
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        width = max(len(key) for key in results)
        print(f"{'metric':<{width}}  value")
        for key, value in results.items():
            print(f"{key:<{width}}  {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
