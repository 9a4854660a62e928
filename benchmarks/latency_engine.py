"""Typing against llama.cpp's real server: what the engine evaluates per keystroke.

`latency.py --endpoint llamacpp` starts llama.cpp's server (`team_engine.py`: the tests' server
in a process of its own, one thread) on the tiny random-weight model (and, with `--engine-model
big`, a bigger variant: 4 layers, 256 wide, 8192 tokens of context), and `lsp-assist serve`
with one `llamacpp` endpoint, driven over stdio as in the typing scenario. It types real code
again (`team_corpus.py`): in each of `--engine-files` standard-library modules, a block of
`--engine-lines` consecutive lines is removed and typed back, Enter included, with a ghost-text
request per keystroke, each answered before the next.

After each answer it reads the engine's own counters (`/metrics`): prompt tokens evaluated
(`prompt_tokens_total`, which excludes the cached ones) and reused (`prompt_tokens_cached_total`)
by that keystroke's request. Reported, p50 and p95:

* fresh prompt tokens per keystroke that needed a generation: along a line (the target: at most
  4 at p50), after Enter, and at the block's first keystroke (the cursor came from elsewhere);
* cached prompt tokens reused per generation;
* end-to-end latency of keystrokes that needed a generation, and of type-through (typing the
  characters of a suggestion shown: no request to the engine).

Then the first `--infill-keystrokes` of them go straight to the engine, once with our prompt to
`/completion` and once to `/infill` with the same window (`input_prefix` before the cursor,
`input_suffix` after it): llama.cpp lays that out prefix, suffix, middle marker, so the typed
text comes before the suffix and each keystroke re-evaluates the suffix — why lsp-assist does
not use `/infill`.

The model is random: the cursor is in code, so most suggestions are dropped as syntax errors
(nothing is shown); what the engine evaluated is measured regardless. Type-through is measured
in a comment, where any text is valid.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass
from typing import Any

import httpx
from latency_support import BenchServer, server_log, summary
from team_corpus import apply, block_edits, find_blocks, module_source
from team_engine import (
    MAX_TOKENS,
    BenchModel,
    EngineProcess,
    bench_model,
    engine_metrics,
    settings_for,
)

REPLAY_MODULES = ("argparse", "difflib", "inspect", "logging", "tarfile", "zipfile")
"""Standard-library modules whose lines are typed again, one file each."""
COMMENT = "        # note: "  # where type-through is measured: any suggestion is valid here


# -- the replay through lsp-assist -----------------------------------------------------------------


@dataclass
class Keystroke:
    kind: str
    """"jump", "enter", "along" (`team_corpus.py`) or "type-through"."""
    ms: float
    fresh: float
    """Prompt tokens the engine evaluated for it (0: no request reached the engine)."""
    cached: float
    source: str | None
    """Where the suggestion shown came from ("model", "type-through"), None if none was."""


async def _keystroke(
    server: BenchServer, http: httpx.AsyncClient, uri: str, offset: int, kind: str
) -> Keystroke:
    client = server.client
    before = await engine_metrics(http)
    seen = len(client.statuses)
    started = time.perf_counter()
    text = await client.inline_completion(uri, offset, timeout=60)
    ms = (time.perf_counter() - started) * 1000
    status = await client.ready_status(seen, timeout=2) if text is not None else None
    after = await engine_metrics(http)

    def delta(name: str) -> float:
        return after.get(name, 0.0) - before.get(name, 0.0)

    source = status.get("source") if status else None
    return Keystroke(kind, ms, delta("prompt_tokens_total"), delta("prompt_tokens_cached_total"),
                     source)  # fmt: skip


async def _replay(server: BenchServer, http: httpx.AsyncClient, args: Any) -> list[Keystroke]:
    client = server.client
    keystrokes: list[Keystroke] = []
    for module in REPLAY_MODULES[: args.engine_files]:
        source = module_source(module)
        uri = server.uri(f"{module.replace('.', '_')}.py")
        client.open(uri, source, "python")
        for block in find_blocks(source, 1, args.engine_lines):
            for edit in block_edits(block, args.chars_per_line):
                offset = client.replace(uri, edit.start, edit.end, edit.text)
                if edit.kind:
                    keystrokes.append(await _keystroke(server, http, uri, offset, edit.kind))
        client.close(uri)
    return keystrokes


async def _type_through(
    server: BenchServer, http: httpx.AsyncClient, chars: int
) -> list[Keystroke]:
    """Types the characters of a suggestion shown in a comment."""
    client = server.client
    uri = server.uri("area.py")
    before = "def area(w, h):\n" + COMMENT
    client.open(uri, before + "\n        return w * h\n", "python")
    offset = len(before)
    suggestion = await client.inline_completion(uri, offset, timeout=60) or ""
    keystrokes = []
    for char in suggestion[: min(chars, len(suggestion) - 1)]:
        offset = client.insert(uri, offset, char)
        keystrokes.append(await _keystroke(server, http, uri, offset, "type-through"))
    return keystrokes


async def run_engine_typing(args: Any) -> dict[str, Any]:
    """The replay on each model of `--engine-model` (default: tiny)."""
    models = {
        name: await _run_on(bench_model(name), args) for name in args.engine_model or ["tiny"]
    }
    return {"models": models}


async def _run_on(model: BenchModel, args: Any) -> dict[str, Any]:
    engine = await EngineProcess(model).start()
    server = BenchServer(log_file=server_log(args, f"llamacpp-{model.name}"))
    try:
        async with httpx.AsyncClient(base_url=engine.url, timeout=60) as http:
            await server.start(settings_for(engine.url, model))
            keystrokes = await _replay(server, http, args)
            keystrokes += await _type_through(server, http, args.type_through_chars)
            infill = await replay_direct(http, model, args)
        rss = engine.peak_rss_mb()
    finally:
        await server.stop()
        await engine.stop()

    def of(kind: str) -> list[Keystroke]:
        return [k for k in keystrokes if k.kind == kind]

    generated = [k for k in keystrokes if k.fresh > 0]
    through = [k for k in of("type-through") if k.source == "type-through"]
    return {
        "model": model.name,
        "model_file": model.path.name,
        "slot_ctx": model.ctx,
        "num_ctx_setting": model.ctx // 3,
        "files": list(REPLAY_MODULES[: args.engine_files]),
        "keystrokes": len(keystrokes),
        "generations": len(generated),
        "shown_from_model": sum(k.source == "model" for k in keystrokes),
        **{
            f"fresh_tokens_{kind}": summary([k.fresh for k in of(kind) if k.fresh > 0])
            for kind in ("along", "enter", "jump")
        },
        "cached_tokens": summary([k.cached for k in generated]),
        "cache_reuse": _reuse(generated),
        "generation_ms": summary([k.ms for k in generated]),
        "type_through_ms": summary([k.ms for k in through]),
        "type_through_engine_tokens": sum(k.fresh for k in of("type-through")),
        "engine_peak_rss_mb": rss,
        **infill,
    }


def _reuse(keystrokes: list[Keystroke]) -> float | None:
    total = sum(k.fresh + k.cached for k in keystrokes)
    return round(sum(k.cached for k in keystrokes) / total, 4) if total else None


# -- the same keystrokes straight to the engine: our prompt, and /infill's layout -----------------

INFILL_PREFIX_TAKE = 1536
"""`/infill` keeps the last 3/4 of a batch (n_batch 2048) of `input_prefix` tokens: a longer
prefix is cut at its start, which then moves by a token with each one typed."""


@dataclass(frozen=True)
class DirectKeystroke:
    kind: str
    block: int
    """Which block of the replay (its index)."""
    name: str
    lines: list[str]
    row: int
    column: int


async def replay_direct(http: httpx.AsyncClient, model: BenchModel, args: Any) -> dict[str, Any]:
    """The first `infill_keystrokes` of the replay sent straight to the engine (no lsp-assist),
    one layout per pass (one slot: interleaved, they would evict each other's cache):

    * `completion`: our FIM prompt (`build_fim_prompt`, as lsp-assist builds it) to `/completion`;
    * `infill`: `/infill` with the same window (`input_prefix`: before the cursor,
      `input_suffix`: after it), which llama.cpp lays out prefix, suffix, middle marker;
    * `infill_fitted`: the same with the prefix's first lines left out, so that `/infill` does
      not cut it (`INFILL_PREFIX_TAKE`): the cost of the layout alone."""
    from lsp_assist.prompts.builder import build_fim_prompt
    from lsp_assist.prompts.templates import TEMPLATES
    from lsp_assist.prompts.window import PromptBudget

    budget = PromptBudget(num_ctx=model.ctx // 3, max_tokens=MAX_TOKENS)
    options = {"n_predict": MAX_TOKENS, "temperature": 0, "cache_prompt": True, "id_slot": 0,
               "stop": ["\n"], "samplers": ["top_k", "top_p", "temperature"]}  # fmt: skip
    keystrokes = list(itertools.islice(_direct_keystrokes(args), args.infill_keystrokes))
    # Room for what the block's typing adds to the prefix.
    headroom = (args.chars_per_line + 16) * args.engine_lines
    results: dict[str, Any] = {}
    for layout in ("completion", "infill", "infill_fitted"):
        requests: list[tuple[str, dict[str, Any]]] = []
        first_lines: dict[int, int] = {}  # per block: the prefix's first line, fitted
        for key in keystrokes:
            prompt = build_fim_prompt(
                TEMPLATES["qwen"], key.lines, key.row, key.column, budget, path=key.name
            )
            window = prompt.window  # the same window in both layouts
            prefix = window.prefix + window.middle
            if layout == "completion":
                path, body = "/completion", {"prompt": prompt.text, **options}
            else:
                if layout == "infill_fitted":
                    if key.block not in first_lines:
                        limit = INFILL_PREFIX_TAKE - headroom
                        first_lines[key.block] = await _fitted_first_line(
                            http, key, window.start_line, limit
                        )
                    first = max(first_lines[key.block], window.start_line)
                    prefix = "".join(t + "\n" for t in key.lines[first : key.row]) + window.middle
                path = "/infill"
                body = {"input_prefix": prefix, "input_suffix": window.suffix, "prompt": ""}
                body.update(options)
            requests.append((key.kind, await _post(http, path, body)))
        results[f"direct_{layout}"] = _direct_summary(requests)
    return results


def _direct_keystrokes(args: Any) -> Any:
    """The replay's keystrokes, as documents (lines) and cursors."""
    number = 0
    for module in REPLAY_MODULES[: args.engine_files]:
        text = module_source(module)
        for block in find_blocks(text, 1, args.engine_lines):
            for edit in block_edits(block, args.chars_per_line):
                text, cursor = apply(text, edit)
                if edit.kind:
                    row = text.count("\n", 0, cursor)
                    column = cursor - (text.rfind("\n", 0, cursor) + 1)
                    lines = text.split("\n")
                    yield DirectKeystroke(edit.kind, number, f"{module}.py", lines, row, column)
            number += 1


async def _fitted_first_line(
    http: httpx.AsyncClient, key: DirectKeystroke, first: int, limit: int
) -> int:
    """The first line from which the lines above the cursor have at most `limit` tokens."""
    while first < key.row:
        prefix = "".join(t + "\n" for t in key.lines[first : key.row])
        response = await http.post("/tokenize", json={"content": prefix})
        excess = len(response.json()["tokens"]) - limit
        if excess <= 0:
            break
        # A token is at least one character: leaving out `excess` more is not too many.
        while excess > 0 and first < key.row:
            excess -= len(key.lines[first]) + 1
            first += 1
    return first


async def _post(http: httpx.AsyncClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
    started = time.perf_counter()
    response = await http.post(path, json=body)
    response.raise_for_status()
    timings = dict(response.json().get("timings") or {})
    timings["ms"] = (time.perf_counter() - started) * 1000
    return timings


def _direct_summary(requests: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    along = [t for kind, t in requests if kind == "along"]
    fresh = sum(t["prompt_n"] for _, t in requests)
    cached = sum(t["cache_n"] for _, t in requests)
    return {
        "requests": len(requests),
        **{
            f"fresh_tokens_{kind}": summary([t["prompt_n"] for k, t in requests if k == kind])
            for kind in ("along", "enter", "jump")
        },
        "prompt_tokens": summary([t["prompt_n"] + t["cache_n"] for _, t in requests]),
        "cache_reuse": round(cached / (fresh + cached), 4) if fresh + cached else None,
        "request_ms_along": summary([t["ms"] for t in along]),
    }


# -- printing ------------------------------------------------------------------------------------


def print_engine_typing(results: dict[str, Any]) -> None:
    for result in results["models"].values():
        print(
            f"lsp-assist on llama.cpp — {result['model']} model ({result['model_file']}), "
            f"{result['slot_ctx']}-token slot, completion.numCtx {result['num_ctx_setting']}: "
            f"{result['keystrokes']} keystrokes typing blocks of {', '.join(result['files'])}"
        )
        rows = [
            ("fresh prompt tokens, along a line", result["fresh_tokens_along"]),
            ("fresh prompt tokens, after Enter", result["fresh_tokens_enter"]),
            ("fresh prompt tokens, cursor moved", result["fresh_tokens_jump"]),
            ("cached prompt tokens reused", result["cached_tokens"]),
            ("keystroke with a generation, ms", result["generation_ms"]),
            ("type-through keystroke, ms", result["type_through_ms"]),
        ]
        for name, row in rows:
            print(f"  {name:<36} p50 {row['p50']:>9}   p95 {row['p95']:>9}   (n={row['n']})")
        print(
            f"  cache reuse {result['cache_reuse']}; {result['generations']} generations, "
            f"{result['shown_from_model']} shown; engine tokens while typing through: "
            f"{result['type_through_engine_tokens']:g}; engine peak RSS "
            f"{result['engine_peak_rss_mb']} MB"
        )
        count = result["direct_completion"]["requests"]
        print(
            f"  the first {count} keystrokes straight to the engine (no lsp-assist), fresh tokens:"
        )
        for name, key in (
            ("our prompt → /completion", "direct_completion"),
            ("/infill, same window", "direct_infill"),
            ("/infill, prefix fitted", "direct_infill_fitted"),
        ):
            row = result[key]
            along, enter = row["fresh_tokens_along"], row["fresh_tokens_enter"]
            ms = row["request_ms_along"]
            print(
                f"    {name:<26} along a line p50 {along['p50']:>7} p95 {along['p95']:>7}; "
                f"after Enter p50 {enter['p50']:>7}; prompt p50 {row['prompt_tokens']['p50']}; "
                f"reuse {row['cache_reuse']}; request p50 {ms['p50']} ms, p95 {ms['p95']} ms"
            )
