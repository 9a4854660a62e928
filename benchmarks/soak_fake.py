"""The soak benchmark's model server: the project's fake Ollama in a process of its own, made to
run for hours.

As `tests/fakes/serve.py`, but:

* it forgets the requests it records (every second, keeping only counts): the fake keeps every
  request's body, which over 50,000 keystrokes would be gigabytes of prompts;
* ghost text is a line comment in the language of the file being completed (read from the
  prompt's last `<|file_sep|>` path), so that it fits wherever the cursor is;
* reviews are answered by the scripted reviewer (`tests/fakes/review_script.py`), held to the
  review schema by the fake's strict `format` check.

The parent talks to it over stdin/stdout, one line each way: `counts` → a JSON object of what
it has answered so far (`generate`, `reviews`, `findings`, `chats`, `disconnects`,
`connections`, `format_violations`); `quit` (or EOF) → exit.

    python benchmarks/soak_fake.py --ttft-ms 2 --token-ms 0.2 --review-script rules.json
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from soak_workspace import comment_for  # noqa: E402

from tests.fakes.fake_ollama import FakeOllama, Reply  # noqa: E402
from tests.fakes.review_script import ReviewRule, is_review_call, scripted_review  # noqa: E402

FORGET_EVERY_S = 1.0
SUGGESTION = " soak: checked against the limit"


class ForgetfulFakeOllama(FakeOllama):
    """A FakeOllama that can drop what it has recorded (its counters stay)."""

    def forget_requests(self) -> None:
        with self._lock:
            self._requests.clear()


class Answers:
    """The responder: counts what it answers (it runs on the fake's one thread)."""

    def __init__(self, rules: list[ReviewRule], review_ttft_s: float) -> None:
        self.rules = rules
        self.review_ttft_s = review_ttft_s
        self.generate = 0
        self.reviews = 0
        self.findings = 0
        self.chats = 0

    def __call__(self, body: dict[str, Any]) -> Reply:
        if is_review_call(body):
            self.reviews += 1
            text = scripted_review(body, self.rules)
            self.findings += len(json.loads(text)["findings"])
            return Reply(text=text, ttft=self.review_ttft_s, token_delay=0.0)
        if "messages" in body:
            self.chats += 1  # Explain, or anything else that chats without a schema
            return Reply(text="It adds the items up.")
        self.generate += 1
        prompt = str(body.get("prompt", ""))
        at = prompt.rfind("<|file_sep|>")
        path = prompt[at + len("<|file_sep|>") :].split("\n", 1)[0] if at >= 0 else ""
        return Reply(text=f"  {comment_for(path)}{SUGGESTION}")


class SoakFake:
    """The parent's handle on the fake's process."""

    def __init__(
        self, *, ttft_ms: float, token_ms: float, review_ms: float, rules: list[dict[str, str]]
    ) -> None:
        with tempfile.NamedTemporaryFile(
            "w", suffix=".json", prefix="soak-review-rules-", delete=False
        ) as file:
            json.dump(rules, file)
        self._rules = Path(file.name)
        self._args = [
            sys.executable,
            str(Path(__file__).resolve()),
            f"--ttft-ms={ttft_ms}",
            f"--token-ms={token_ms}",
            f"--review-ms={review_ms}",
            f"--review-script={self._rules}",
        ]
        self._process: subprocess.Popen[str] | None = None
        self.url = ""

    def start(self) -> SoakFake:
        self._process = subprocess.Popen(
            self._args, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self._process.stdout is not None
        self.url = self._process.stdout.readline().strip()
        if not self.url.startswith("http://"):
            raise RuntimeError(f"the fake Ollama did not start: {self.url!r}")
        return self

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def counts(self) -> dict[str, Any]:
        assert self._process is not None and self._process.stdin and self._process.stdout
        self._process.stdin.write("counts\n")
        self._process.stdin.flush()
        result: dict[str, Any] = json.loads(self._process.stdout.readline())
        return result

    def stop(self) -> None:
        if self._process is not None:
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
        self._rules.unlink(missing_ok=True)


def _forget_regularly(fake: ForgetfulFakeOllama, stop: threading.Event) -> None:
    while not stop.wait(FORGET_EVERY_S):
        fake.forget_requests()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ttft-ms", type=float, default=2.0)
    parser.add_argument("--token-ms", type=float, default=0.2)
    parser.add_argument("--review-ms", type=float, default=5.0, help="a review's answer time")
    parser.add_argument("--review-script", type=Path, required=True)
    args = parser.parse_args()
    rules = [ReviewRule.from_json(raw) for raw in json.loads(args.review_script.read_text())]
    answers = Answers(rules, args.review_ms / 1000)
    violations: list[str] = []
    stop = threading.Event()
    fake = ForgetfulFakeOllama(ttft=args.ttft_ms / 1000, token_delay=args.token_ms / 1000)
    with fake:
        fake.set_responder(answers)
        threading.Thread(target=_forget_regularly, args=(fake, stop), daemon=True).start()
        print(fake.url, flush=True)
        for line in sys.stdin:
            if line.strip() != "counts":
                break
            violations += fake.take_format_violations()
            counts = {
                "generate": answers.generate,
                "reviews": answers.reviews,
                "findings": answers.findings,
                "chats": answers.chats,
                "disconnects": fake.disconnects,
                "connections": fake.connections,
                "format_violations": violations[:5],
                "format_violation_count": len(violations),
            }
            print(json.dumps(counts), flush=True)
        stop.set()
        violations += fake.take_format_violations()  # told above; not a failure at exit


if __name__ == "__main__":
    main()
