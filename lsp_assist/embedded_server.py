"""The embedded engine's process: llama.cpp's own server from the `xllamacpp` wheel, on one GGUF
file, for as long as lsp-assist lives.

A child process rather than a thread of the language server: constructing `xllamacpp.Server`
holds the GIL until the model is loaded (measured: 0.24 s for a 540 MB model, seconds for a
real one), which would freeze every keystroke meanwhile. It prints `READY <url>` on stdout
when it listens, answers only requests that carry the key it was given (in its environment,
never on its command line), and exits when its stdin closes — when lsp-assist exits or dies.
"""

from __future__ import annotations

import argparse
import os
import sys

KEY_ENV = "LSP_ASSIST_EMBEDDED_KEY"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", required=True)
    parser.add_argument("--ctx", type=int, default=4096)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args(argv)
    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = args.model
    params.hostnames = ["127.0.0.1"]
    params.port = 0
    params.n_ctx = args.ctx
    params.n_parallel = 1
    params.cpuparams.n_threads = args.threads
    params.cpuparams_batch.n_threads = args.threads
    params.cache_prompt = True
    params.endpoint_props = True
    params.offline = True  # never download anything
    params.verbosity = 3 if args.verbose else 1
    if key := os.environ.pop(KEY_ENV, ""):
        params.api_keys = [key]
    server = xllamacpp.Server(params)
    print(f"READY {str(server.listening_address).rstrip('/')}", flush=True)
    sys.stdin.read()  # until lsp-assist closes the pipe (or is gone)
    del server
    return 0


if __name__ == "__main__":
    sys.exit(main())
