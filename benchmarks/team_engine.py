"""llama.cpp's real server for the benchmarks that type against it (`latency_engine.py`,
`team_load.py`): the models, the server in a process of its own, its counters, and the settings
that point lsp-assist at it.

The server is the tests' (`tests/engines/llamacpp_server.py`: xllamacpp, one thread, prompt cache
on, `/metrics` and `/slots` on). Its context (`--ctx`) is the total over its slots: `parallel`
slots of `slot_ctx` tokens take `parallel * slot_ctx` tokens of KV cache.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from latency_support import memory_kb

MAX_TOKENS = 16  # the random model's longer answers repeat themselves (test_engines.py)
ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class BenchModel:
    name: str
    path: Path
    ctx: int
    """Tokens of context per slot (the model's training context)."""


def bench_model(name: str) -> BenchModel:
    """`tiny`: the tests' model (2 layers, 128 wide); `big`: 4 layers, 256 wide, n_ff 512,
    8192 tokens (11 MB, built once into the tests' model cache)."""
    from tests.engines import tiny_gguf

    if name == "tiny":
        return BenchModel("tiny", tiny_gguf.tiny_model_path(), 4096)
    if name != "big":
        raise ValueError(f"unknown model {name!r} (tiny or big)")
    source = hashlib.sha256(Path(tiny_gguf.__file__).read_bytes()).hexdigest()[:10]
    path = tiny_gguf.CACHE_DIR / f"bench-e256-l4-ff512-ctx8192-{source}.gguf"
    if not path.exists():
        tiny_gguf.CACHE_DIR.mkdir(parents=True, exist_ok=True)
        tiny_gguf.build_tiny_gguf(path, n_embd=256, n_layer=4, n_ff=512, n_ctx=8192)
        for stale in tiny_gguf.CACHE_DIR.glob("bench-*.gguf"):
            if stale != path:
                stale.unlink(missing_ok=True)
    return BenchModel("big", path, 8192)


class EngineProcess:
    """`python -m tests.engines.llamacpp_server` in a process of its own (as a user runs
    llama-server), with `parallel` slots of `slot_ctx` tokens each; with `n_batch`, this
    module's `serve` instead (the same server with that logical batch size)."""

    def __init__(
        self,
        model: BenchModel,
        parallel: int = 1,
        slot_ctx: int | None = None,
        n_batch: int | None = None,
    ) -> None:
        self.model = model
        self.parallel = parallel
        self.n_ctx = (slot_ctx or model.ctx) * parallel  # the total is split across the slots
        self.n_batch = n_batch
        self.url = ""
        self._process: asyncio.subprocess.Process | None = None

    async def start(self, timeout_s: float = 60) -> EngineProcess:
        how = ["-m", "tests.engines.llamacpp_server"]
        if self.n_batch is not None:
            how = [str(Path(__file__).resolve()), "serve", "--batch", str(self.n_batch)]
        self._process = await asyncio.create_subprocess_exec(
            sys.executable,
            *how,
            *("--model", str(self.model.path)),
            *("--parallel", str(self.parallel), "--ctx", str(self.n_ctx)),
            cwd=ROOT,
            stdout=asyncio.subprocess.PIPE,
        )
        assert self._process.stdout is not None
        line = await asyncio.wait_for(self._process.stdout.readline(), timeout_s)
        if not line.startswith(b"READY "):
            raise RuntimeError(f"llama.cpp server did not start: {line!r}")
        self.url = line.split()[1].decode()
        return self

    @property
    def pid(self) -> int:
        assert self._process is not None
        return self._process.pid

    def peak_rss_mb(self) -> float:
        return round(memory_kb(self.pid).get("VmHWM", 0) / 1024, 1)

    async def stop(self) -> None:
        if self._process is None or self._process.returncode is not None:
            return
        self._process.terminate()
        try:
            await asyncio.wait_for(self._process.wait(), 10)
        except asyncio.TimeoutError:
            self._process.kill()
            await self._process.wait()


METRIC = re.compile(r"^llamacpp:(\w+) (\S+)$", re.M)


async def engine_metrics(http: httpx.AsyncClient) -> dict[str, float]:
    """The engine's Prometheus counters, by name without the `llamacpp:` prefix."""
    text = (await http.get("/metrics")).text
    return {name: float(value) for name, value in METRIC.findall(text)}


def settings_for(
    url: str, model: BenchModel, *, slot: int = -1, debounce_ms: int = 0
) -> dict[str, Any]:
    """lsp-assist's settings: one llama.cpp endpoint; answers that survive the random model
    (single lines of at most 16 tokens, temperature 0); `completion.numCtx` a third of the
    slot's context, since the prompt budget assumes ~3 bytes per token and the tiny model's
    vocabulary has ~1."""
    return {
        "endpoints": {"lcpp": {"kind": "llamacpp", "url": url, "slot": slot}},
        "completion": {
            "endpoint": ["lcpp"],
            "backend": "model",
            "debounceMs": debounce_ms,
            "temperature": 0,
            "multiline": "never",
            "maxTokens": MAX_TOKENS,
            "numCtx": model.ctx // 3,
        },
        "review": {"enabled": False},
    }


# -- `serve`: the tests' server with another batch size ------------------------------------------


def serve(argv: list[str]) -> int:
    """`python benchmarks/team_engine.py serve --model M --parallel N --ctx C --batch B`: as
    `python -m tests.engines.llamacpp_server`, with llama.cpp's logical batch (`n_batch`,
    llama-server's `-b`; 2048 by default) set to B. Prints `READY <url>`; stops on SIGTERM."""
    import argparse
    import signal
    import threading
    import time

    import xllamacpp

    from tests.engines.llamacpp_server import READY_TIMEOUT_S, _params, _wait_until_healthy

    parser = argparse.ArgumentParser(prog="team_engine.py serve")
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--parallel", type=int, default=1)
    parser.add_argument("--ctx", type=int, default=4096)
    parser.add_argument("--batch", type=int, required=True)
    args = parser.parse_args(argv)
    params: Any = _params(args.model, port=0, parallel=args.parallel, n_ctx=args.ctx, threads=1,
                          metrics=True, cache_reuse=0)  # fmt: skip
    params.n_batch = args.batch
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    server = xllamacpp.Server(params)
    url = server.listening_address.rstrip("/")
    _wait_until_healthy(url, time.monotonic() + READY_TIMEOUT_S)
    print(f"READY {url}", flush=True)
    while not stop.wait(timeout=1.0):
        pass
    del server
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    if sys.argv[1:2] != ["serve"]:
        sys.exit("usage: team_engine.py serve --model M [--parallel N] [--ctx C] --batch B")
    sys.exit(serve(sys.argv[2:]))
