"""llama.cpp's real HTTP server, run in-process from the `xllamacpp` wheel, for tests and benches.

`xllamacpp.Server(params)` starts llama.cpp's C++ server (HTTP thread plus inference loop) inside
this Python process and keeps it running for as long as the object lives; dropping the last
reference stops it. The constructor returns before the model is loaded, so we poll `/health`.

In a test:

    with running_llamacpp(tiny_model_path()) as server:
        httpx.get(server.url + "/health")

From another process (benchmarks, end-to-end tests of the language server):

    python -m tests.engines.llamacpp_server --model M [--parallel N] [--ctx N] [--ready-file F]

prints `READY <url>` on stdout and serves until SIGTERM or SIGINT, then exits 0.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx

READY_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 5.0
POLL_INTERVAL_S = 0.005


@dataclass(frozen=True)
class LlamaServer:
    url: str  # e.g. "http://127.0.0.1:43453", no trailing slash
    model_path: Path
    parallel: int  # slots
    n_ctx: int  # total KV context, split across the slots


class LlamaServerError(RuntimeError):
    pass


def _params(
    model_path: Path,
    *,
    port: int,
    parallel: int,
    n_ctx: int,
    threads: int,
    metrics: bool,
    cache_reuse: int,
    api_key: str | None = None,
) -> object:
    import xllamacpp  # imported late: only the processes that run a server need the wheel

    params = xllamacpp.CommonParams()
    params.model.path = str(model_path)
    params.hostnames = ["127.0.0.1"]
    params.port = port  # 0: the OS picks a free port; `listening_address` reports it
    params.n_ctx = n_ctx
    params.n_parallel = parallel
    # One thread each: on this 2-core machine two OpenMP threads gave 100-800 ms stalls.
    params.cpuparams.n_threads = threads
    params.cpuparams_batch.n_threads = threads
    params.cache_prompt = True
    params.n_cache_reuse = cache_reuse
    params.endpoint_slots = True
    params.endpoint_metrics = metrics
    params.endpoint_props = True
    params.verbosity = 1  # warnings and errors only; 3 logs every request
    if api_key:
        params.api_keys = [api_key]  # every request but /health must carry it
    return params


def _wait_until_healthy(url: str, deadline: float) -> None:
    """Poll /health: it answers 503 while the model loads and 200 once slots are ready."""
    last = "no answer"
    with httpx.Client(timeout=1.0) as client:
        while time.monotonic() < deadline:
            try:
                response = client.get(url + "/health")
                if response.status_code == 200:
                    return
                last = f"{response.status_code} {response.text}"
            except httpx.TransportError as error:
                last = repr(error)
            time.sleep(POLL_INTERVAL_S)
    raise LlamaServerError(
        f"llama.cpp server at {url} not healthy after {READY_TIMEOUT_S}s: {last}"
    )


def _port_is_closed(url: str) -> bool:
    parts = urlsplit(url)
    assert parts.hostname is not None and parts.port is not None
    try:
        with socket.create_connection((parts.hostname, parts.port), timeout=0.5):
            return False
    except OSError:
        return True


def _wait_until_port_closed(url: str) -> None:
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while not _port_is_closed(url):
        if time.monotonic() > deadline:
            raise LlamaServerError(f"llama.cpp server at {url} still listening after stop")
        time.sleep(POLL_INTERVAL_S)


@contextmanager
def running_llamacpp(
    model_path: Path,
    *,
    parallel: int = 1,
    n_ctx: int = 4096,
    threads: int = 1,
    metrics: bool = True,
    cache_reuse: int = 0,
    port: int = 0,
    api_key: str | None = None,
) -> Iterator[LlamaServer]:
    """A healthy llama.cpp server on 127.0.0.1 for the duration of the block."""
    import xllamacpp

    params = _params(
        Path(model_path),
        port=port,
        parallel=parallel,
        n_ctx=n_ctx,
        threads=threads,
        metrics=metrics,
        cache_reuse=cache_reuse,
        api_key=api_key,
    )
    server = xllamacpp.Server(params)
    url = server.listening_address.rstrip("/")
    try:
        _wait_until_healthy(url, time.monotonic() + READY_TIMEOUT_S)
        yield LlamaServer(url=url, model_path=Path(model_path), parallel=parallel, n_ctx=n_ctx)
    finally:
        # The only reference: dropping it runs the C++ destructor, which stops the HTTP thread
        # and joins the inference loop before returning.
        del server
        _wait_until_port_closed(url)


def _write_ready_file(path: Path, url: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps({"url": url, "pid": os.getpid()}))
    os.replace(tmp, path)  # a watcher never reads half a file


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Run llama.cpp's server (xllamacpp) until SIGTERM."
    )
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--port", type=int, default=0, help="0 (default): any free port")
    parser.add_argument("--parallel", type=int, default=1)
    parser.add_argument("--ctx", type=int, default=4096)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--cache-reuse", type=int, default=0)
    parser.add_argument("--no-metrics", action="store_true")
    parser.add_argument("--ready-file", type=Path, help='write {"url": ..., "pid": ...} when ready')
    args = parser.parse_args(argv)

    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())

    started = time.monotonic()
    with running_llamacpp(
        args.model,
        port=args.port,
        parallel=args.parallel,
        n_ctx=args.ctx,
        threads=args.threads,
        metrics=not args.no_metrics,
        cache_reuse=args.cache_reuse,
    ) as server:
        if args.ready_file:
            _write_ready_file(args.ready_file, server.url)
        startup_s = time.monotonic() - started
        print(f"READY {server.url} startup_s={startup_s:.3f} pid={os.getpid()}", flush=True)
        while not stop.wait(timeout=1.0):  # a timeout so Python gets to run the signal handler
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
