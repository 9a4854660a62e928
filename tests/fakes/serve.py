"""The fake Ollama in a process of its own, as a real Ollama runs.

Benchmarks use it so that the fake's Python work never competes with the measuring process for
its interpreter lock. The parent talks to it over stdin/stdout, one line each way:
`requests` → a JSON list of the `/api/generate` requests seen so far; `quit` (or EOF) → exit.

    python -m tests.fakes.serve --ttft-ms 15 --token-ms 2 --reply "  # a comment"
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.fakes.fake_ollama import FakeOllama, Reply

ROOT = Path(__file__).resolve().parents[2]


class FakeOllamaProcess:
    def __init__(self, *, ttft: float, token_delay: float, reply: str) -> None:
        self._args = [
            sys.executable,
            "-m",
            "tests.fakes.serve",
            f"--ttft-ms={ttft * 1000}",
            f"--token-ms={token_delay * 1000}",
            f"--reply={reply}",
        ]
        self._process: subprocess.Popen[str] | None = None
        self.url = ""

    def start(self) -> FakeOllamaProcess:
        self._process = subprocess.Popen(
            self._args, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self._process.stdout is not None
        self.url = self._process.stdout.readline().strip()
        if not self.url.startswith("http://"):
            raise RuntimeError(f"the fake Ollama did not start: {self.url!r}")
        return self

    def generate_requests(self) -> list[dict[str, Any]]:
        """Each: {"prompt", "fresh_chars", "cached_chars", "disconnected"}."""
        assert self._process is not None and self._process.stdin and self._process.stdout
        self._process.stdin.write("requests\n")
        self._process.stdin.flush()
        result: list[dict[str, Any]] = json.loads(self._process.stdout.readline())
        return result

    def stop(self) -> None:
        if self._process is None:
            return
        try:
            assert self._process.stdin is not None
            self._process.stdin.write("quit\n")
            self._process.stdin.flush()
        except (BrokenPipeError, ValueError):
            pass
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
        self._process = None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ttft-ms", type=float, default=15.0)
    parser.add_argument("--token-ms", type=float, default=2.0)
    parser.add_argument("--reply", default="pass")
    args = parser.parse_args()
    with FakeOllama(ttft=args.ttft_ms / 1000, token_delay=args.token_ms / 1000) as fake:
        fake.set_responder(lambda body: Reply(text=args.reply))
        print(fake.url, flush=True)
        for line in sys.stdin:
            if line.strip() != "requests":
                break
            rows = [
                {
                    "prompt": r.body.get("prompt", ""),
                    "fresh_chars": r.fresh_chars,
                    "cached_chars": r.cached_chars,
                    "disconnected": r.disconnected,
                }
                for r in fake.generate_requests
            ]
            print(json.dumps(rows), flush=True)


if __name__ == "__main__":
    main()
