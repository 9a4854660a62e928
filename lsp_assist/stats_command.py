"""`lsp-assist stats [--days N] [--json]`: what became of the suggestions, from the local log.

Reads the stats log the server keeps in the state directory (`stats/`), nothing else, and
prints per model (or endpoint) and language: suggestions shown, acceptance rate, accepted and
retained characters, latency p50/p95 (new suggestions, and type-through), and generations per
accepted suggestion — `stats/aggregate.py` says how each is counted.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from lsp_assist.stats.aggregate import GroupStats, Latency, aggregate, total
from lsp_assist.stats.log import StatsLog, stats_dir

DEFAULT_DAYS = 30


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--days",
        type=_days,
        default=DEFAULT_DAYS,
        metavar="N",
        help=f"the last N days (default: {DEFAULT_DAYS}; 0: everything kept)",
    )
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")


def _days(value: str) -> float:
    try:
        days = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of days: {value!r}") from None
    if days < 0:
        raise argparse.ArgumentTypeError("the number of days cannot be negative")
    return days


def run(args: argparse.Namespace, out: TextIO = sys.stdout) -> int:
    from lsp_assist.review.store import default_state_dir  # not for `serve`'s start: lazy

    directory = stats_dir(default_state_dir())
    now = time.time()
    since = now - args.days * 86_400 if args.days else 0.0
    groups = aggregate(StatsLog(directory).read(since))
    if args.json:
        out.write(json.dumps(to_json(groups, args.days, since, directory), indent=2) + "\n")
    else:
        out.write(format_text(groups, args.days, directory))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lsp-assist stats", description=__doc__)
    add_arguments(parser)
    return run(parser.parse_args(argv))


def to_json(groups: list[GroupStats], days: float, since: float, directory: Path) -> dict[str, Any]:
    return {
        "days": days or None,
        "since": _iso(since) if since else None,
        "log": str(directory),
        "groups": [group.to_json() for group in groups],
        "total": total(groups).to_json(),
    }


def _iso(at: float) -> str:
    return datetime.datetime.fromtimestamp(at, datetime.timezone.utc).isoformat(timespec="seconds")


def format_text(groups: list[GroupStats], days: float, directory: Path) -> str:
    period = _period(days)
    if not groups:
        return f"lsp-assist stats: no suggestions recorded in {period} ({directory})\n"
    lines = [f"lsp-assist stats: {period} ({directory})"]
    for group in groups:
        lines += ["", f"{group.model} — {group.language}", *_figures(group)]
    if len(groups) > 1:
        lines += ["", "all together", *_figures(total(groups))]
    return "\n".join(lines) + "\n"


def _period(days: float) -> str:
    if not days:
        return "everything kept"
    return "the last day" if days == 1 else f"the last {days:g} days"


def _figures(group: GroupStats) -> list[str]:
    rows = [
        ("suggestions shown", str(group.shown)),
        (
            "accepted",
            f"{group.accepted} ({_percent(group.acceptance_rate)}): "
            f"{group.accepted_full} in full, {group.accepted_partial} in part; "
            f"{group.dismissed} dismissed",
        ),
        ("characters accepted", str(group.accepted_chars)),
        (
            "characters retained",
            f"{group.retained_chars} of {group.measured_chars} measured "
            f"({_percent(group.retention_rate)})",
        ),
        ("latency, new suggestion", _latency(Latency.of(group.first_ms))),
        ("latency, type-through", _latency(Latency.of(group.type_through_ms))),
        (
            "generations per accept",
            f"{_number(group.generations_per_accepted)} "
            f"({group.generations} generation{'' if group.generations == 1 else 's'})",
        ),
    ]
    return [f"  {name:<25}{value}" for name, value in rows]


def _percent(rate: float | None) -> str:
    return "–" if rate is None else f"{rate:.0%}"


def _number(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def _latency(latency: Latency) -> str:
    if not latency.count or latency.p50_ms is None or latency.p95_ms is None:
        return "–"
    return f"p50 {_ms(latency.p50_ms)}, p95 {_ms(latency.p95_ms)} ({latency.count})"


def _ms(value: float) -> str:
    return f"{value:.1f} ms" if value < 10 else f"{value:.0f} ms"


if __name__ == "__main__":
    sys.exit(main())
