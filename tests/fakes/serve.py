"""The fake Ollama in a process of its own, as a real Ollama runs.

Benchmarks use it so that the fake's Python work never competes with the measuring process for
its interpreter lock. The parent talks to it over stdin/stdout, one line each way:
`requests` → a JSON list of the `/api/generate` requests seen so far; `chats` → the same for
`/api/chat`; `quit` (or EOF) → exit.

With `--review-script FILE` (a JSON list of rules, see tests/fakes/review_script.py), review
calls (chat with a `format`) are answered by that scripted reviewer after `--review-ttft-ms`,
all at once; everything else still answers `--reply`.

    python -m tests.fakes.serve --ttft-ms 15 --token-ms 2 --reply "  # a comment"
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from tests.fakes.fake_ollama import FakeOllama, Reply
from tests.fakes.review_script import ReviewRule, is_review_call, scripted_review

ROOT = Path(__file__).resolve().parents[2]


class FakeOllamaProcess:
    def __init__(
        self,
        *,
        ttft: float,
        token_delay: float,
        reply: str,
        review_script: list[dict[str, Any]] | None = None,
        review_ttft: float | None = None,
    ) -> None:
        """`review_script`: rules for review calls (tests/fakes/review_script.py), answered
        after `review_ttft` seconds (default `ttft`) with no per-token delay."""
        self._args = [
            sys.executable,
            "-m",
            "tests.fakes.serve",
            f"--ttft-ms={ttft * 1000}",
            f"--token-ms={token_delay * 1000}",
            f"--reply={reply}",
        ]
        self._script_file: Path | None = None
        if review_script is not None:
            with tempfile.NamedTemporaryFile(
                "w", suffix=".json", prefix="review-script-", delete=False
            ) as file:
                json.dump(review_script, file)
            self._script_file = Path(file.name)
            self._args.append(f"--review-script={file.name}")
            if review_ttft is not None:
                self._args.append(f"--review-ttft-ms={review_ttft * 1000}")
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
        return self._ask("requests")

    def chat_requests(self) -> list[dict[str, Any]]:
        """Each: {"review" (had a format), "output", "status", "disconnected"}."""
        return self._ask("chats")

    def _ask(self, command: str) -> list[dict[str, Any]]:
        assert self._process is not None and self._process.stdin and self._process.stdout
        self._process.stdin.write(f"{command}\n")
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
        if self._script_file is not None:
            self._script_file.unlink(missing_ok=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ttft-ms", type=float, default=15.0)
    parser.add_argument("--token-ms", type=float, default=2.0)
    parser.add_argument("--reply", default="pass")
    parser.add_argument("--review-script", type=Path, help="JSON rules for review calls")
    parser.add_argument("--review-ttft-ms", type=float, help="default: --ttft-ms")
    args = parser.parse_args()
    rules: list[ReviewRule] | None = None
    if args.review_script is not None:
        rules = [ReviewRule.from_json(raw) for raw in json.loads(args.review_script.read_text())]
    review_ttft_ms = args.ttft_ms if args.review_ttft_ms is None else args.review_ttft_ms

    def responder(body: dict[str, Any]) -> Reply:
        if rules is not None and is_review_call(body):
            text = scripted_review(body, rules)
            return Reply(text=text, ttft=review_ttft_ms / 1000, token_delay=0.0)
        return Reply(text=args.reply)

    with FakeOllama(ttft=args.ttft_ms / 1000, token_delay=args.token_ms / 1000) as fake:
        fake.set_responder(responder)
        print(fake.url, flush=True)
        for line in sys.stdin:
            command = line.strip()
            if command == "requests":
                rows = [
                    {
                        "prompt": r.body.get("prompt", ""),
                        "fresh_chars": r.fresh_chars,
                        "cached_chars": r.cached_chars,
                        "disconnected": r.disconnected,
                    }
                    for r in fake.generate_requests
                ]
            elif command == "chats":
                rows = [
                    {
                        "review": bool(r.body.get("format")),
                        "output": r.output,
                        "status": r.status,
                        "disconnected": r.disconnected,
                    }
                    for r in fake.chat_requests
                ]
            else:
                break
            print(json.dumps(rows), flush=True)


if __name__ == "__main__":
    main()
