"""A backend that accepts the request and then sends nothing: when is the ghost text answered?

The fake Ollama answers the model's load (an empty prompt) and `/api/show` at once but takes an
hour before the first token of any generation, withholding even the headers, as an Ollama stuck
in prompt evaluation does. One ghost-text request is sent; the benchmark waits up to
`hang_wait_s` for its answer. With `completion.firstTokenMs` (passed with `--first-token-ms`;
else the server's default applies) the answer should come, empty, after about that long;
without such a deadline it takes the HTTP read timeout (`ollama.timeoutS`, 60 s by default).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from latency_stalls import SMALL_SOURCE_AFTER, SMALL_SOURCE_BEFORE, SUGGESTION
from latency_support import BenchServer, server_log

from lsp_assist.lsp_client import ServerGone
from tests.fakes.serve import FakeOllamaProcess

HANG_S = 3600.0


def default_first_token_ms() -> int | None:
    """The server's default `completion.firstTokenMs`, or None if it has no such setting."""
    from lsp_assist.config import CompletionSettings

    value = getattr(CompletionSettings(), "firstTokenMs", None)
    return value if isinstance(value, int) else None


async def run_hanging_backend(args: Any) -> dict[str, Any]:
    fake = FakeOllamaProcess(ttft=HANG_S, token_delay=0.002, reply=SUGGESTION).start()
    server = BenchServer(log_file=server_log(args, "hang"))
    completion: dict[str, Any] = {"model": args.model, "debounceMs": 0, "maxTokens": 32}
    if args.first_token_ms is not None:
        completion["firstTokenMs"] = args.first_token_ms
    answered_ms: float | None = None
    items: str | None = None
    try:
        await server.start({"ollama": {"host": fake.url}, "completion": completion})
        client = server.client
        uri = server.uri("hanging.py")
        client.open(uri, SMALL_SOURCE_BEFORE + SMALL_SOURCE_AFTER, "python")
        seen = len(client.statuses)
        started = time.perf_counter()
        try:
            items = await client.inline_completion(
                uri, len(SMALL_SOURCE_BEFORE), timeout=args.hang_wait_s
            )
            answered_ms = (time.perf_counter() - started) * 1000
        except ServerGone:
            pass  # not answered within hang_wait_s
        await asyncio.sleep(0.2)  # the status that says why comes right after the answer
        statuses = client.statuses[seen:]
        generations = sum(1 for r in fake.generate_requests() if r["prompt"])
    finally:
        await server.stop()
        fake.stop()
    return {
        "first_token_ms_setting": args.first_token_ms,  # None: the server's default
        "deadline_ms": default_first_token_ms()
        if args.first_token_ms is None
        else args.first_token_ms,
        "waited_up_to_s": args.hang_wait_s,
        "answered": answered_ms is not None,
        "answered_ms": round(answered_ms, 1) if answered_ms is not None else None,
        "answer": items,
        "backend_requests": generations,
        "statuses": [
            {k: v for k, v in s.items() if k in ("state", "reason", "message", "source")}
            for s in statuses
        ],
    }
