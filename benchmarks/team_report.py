"""What `team_load.py` writes: a markdown table and a PNG plot (matplotlib, only here: install
it into the venv for the plot, `.venv/bin/python -m pip install matplotlib`)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any


def finite(value: Any) -> Any:
    """JSON has no NaN: an empty summary's figures become null."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [finite(v) for v in value]
    return value


def _ms(value: Any) -> str:
    return (
        "–" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.0f}"
    )


def _num(value: Any, digits: int = 0) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.{digits}f}"


def markdown_table(results: list[dict[str, Any]], args: Any) -> str:
    editors_as = {
        "process": "one `lsp-assist serve` process per editor, over stdio",
        "inprocess": "lsp-assist's own classes in the benchmark's process "
        "(LlamaCppClient + EngineCompletion + CompletionEngine, no LSP)",
    }[args.editors_as]
    lines = [
        "# Team load: editors typing at once against one llama.cpp server",
        "",
        f"`benchmarks/team_load.py`: the tests' tiny model (one thread), {args.slot_ctx} tokens "
        f"per slot; each editor types {args.lines} lines (up to {args.chars} characters) of its "
        f"own standard-library module at ~{args.cps:g} characters/s (seed {args.seed}), "
        f"debounce {args.debounce_ms} ms, 16 tokens per answer; editors: {editors_as}.",
        "",
        "Latency: keystroke → answer. *At a pause*: keystrokes followed by a pause (a word or "
        "a line end), when the user looks for the ghost text; worst editor: the highest of the "
        "editors' own p95 there. *In time*: keystrokes answered before the editor typed on "
        "(75 ms of debounce plus the answer, against ~110 ms between keystrokes). Tokens and "
        "cache reuse: the engine's own `/metrics` over the run (reuse = cached / all prompt "
        "tokens, cancelled requests included); fresh / generation: each finished "
        "generation's `timings.prompt_n` (in-process editors only). n_batch: llama.cpp's "
        "logical batch (`-b`, 2048 by default).",
        "",
        "| n_batch | editors | slots | slot | at a pause p50 | p95 | worst editor p95 "
        "| answered in time | in time p50 | p95 | fresh tokens / keystroke "
        "| fresh / generation p50 | p95 | cache reuse | engine RSS "
        "| CPU s engine / editors / bench (wall s) |",
        "|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for row in results:
        latency, pause = row["latency_ms"], row["at_pause_ms"]
        per_generation = row.get("fresh_tokens_per_generation") or {}
        cpu = row["cpu_s"]
        editors_cpu = cpu["lsp_servers"] if row["editors_as"] == "process" else "(in bench)"
        lines.append(
            f"| {row['n_batch']} | {row['editors']} | {row['parallel']} "
            f"| {row['slot_mode']} "
            f"| {_ms(pause['p50'])} ms | {_ms(pause['p95'])} ms "
            f"| {_ms(row['worst_editor_p95_ms'])} ms "
            f"| {_num(100 * row['answered_in_time'])}% | {_ms(latency['p50'])} ms "
            f"| {_ms(latency['p95'])} ms "
            f"| {_num(row['fresh_tokens_per_keystroke'], 1)} "
            f"| {_num(per_generation.get('p50'))} | {_num(per_generation.get('p95'))} "
            f"| {_num(100 * (row['cache_reuse'] or 0), 1)}% | {row['engine_peak_rss_mb']} MB "
            f"| {cpu['engine']} / {editors_cpu} / {cpu['benchmark_process']} ({row['wall_s']}) |"
        )
    return "\n".join(lines) + "\n"


def save_plot(results: list[dict[str, Any]], path: Path) -> None:
    """Per n_batch, a row of two panels against the number of editors: latency at a pause
    (p50 solid, p95 dashed) and the engine's cache reuse, by slot mode (pinned, sticky, any),
    for slots = editors and slots = min(editors, 4)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise SystemExit(
            f"the plot needs matplotlib ({exc}): `.venv/bin/python -m pip install matplotlib`, "
            "or run with --no-plot"
        ) from None
    batches = sorted({row["n_batch"] for row in results})
    figure, grid = plt.subplots(len(batches), 2, figsize=(11, 4 * len(batches)), squeeze=False)
    editors = sorted({row["editors"] for row in results})
    for (left, right), batch in zip(grid, batches, strict=True):
        rows = [row for row in results if row["n_batch"] == batch]
        _plot_panels(left, right, rows)
        left.set_title(f"n_batch {batch}: keystroke → ghost text at a pause")
        right.set_title(f"n_batch {batch}: engine prompt-cache reuse")
        for axes in (left, right):
            axes.set_xscale("log", base=2)
            axes.set_xticks(editors, [str(n) for n in editors])
            axes.set_xlabel("editors typing at once")
            axes.grid(True, alpha=0.3)
        left.set_yscale("log")
        left.set_ylabel("ms, log scale (p50 —, p95 --)")
        right.set_ylabel("prompt tokens reused (%)")
        right.set_ylim(0, 100)
        left.legend(fontsize=7)
        right.legend(fontsize=7)
    figure.suptitle("lsp-assist: editors sharing one llama.cpp server (tiny model, one thread)")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def _plot_panels(left: Any, right: Any, results: list[dict[str, Any]]) -> None:
    bounded = max((r["parallel"] for r in results if r["parallel"] < r["editors"]), default=None)
    series: list[tuple[str, str, Any]] = [("slots = editors", "o", lambda r: True)]
    if bounded is not None:
        series = [
            ("slots = editors", "o", lambda r: r["parallel"] == r["editors"]),
            (f"slots = min(editors, {bounded})", "s",
             lambda r: r["parallel"] == min(r["editors"], bounded)),
        ]  # fmt: skip
    modes = (("pinned", "tab:blue"), ("sticky", "tab:green"), ("any", "tab:orange"))
    for mode, colour in modes:
        for name, marker, picks in series:
            rows = sorted((r for r in results if r["slot_mode"] == mode and picks(r)),
                          key=lambda r: r["editors"])  # fmt: skip
            xs = [r["editors"] for r in rows]
            label = f"{mode}, {name}"
            style = {
                "color": colour,
                "marker": marker,
                "fillstyle": "full" if marker == "o" else "none",
            }
            left.plot(xs, [r["at_pause_ms"]["p50"] for r in rows], "-", label=label, **style)
            left.plot(xs, [r["at_pause_ms"]["p95"] for r in rows], "--", **style)
            right.plot(xs, [100 * (r["cache_reuse"] or 0) for r in rows], "-", label=label, **style)
