"""Fuzzing the LSP surface at length: 10,000 random editing sessions against `lsp-assist serve`.

The sequences are those of the test suite's fuzz test (`tests/e2e/fuzz_sequences.py`: didOpen,
incremental and full didChange with CR/LF/CRLF, lone and paired surrogates, emoji, combining
marks, NUL and 100 kB lines, positions past the ends and inside characters, interleaved with
inline completions, completions, code actions, saves and reviews), checked the same way
(`tests/e2e/fuzz_runner.py`): after each, the server's text, version, line index and
incrementally edited tree equal the editor's, every request got an answer in its own
coordinates, and the server is alive and logged no error. One server per position encoding
(UTF-16, UTF-8, UTF-32, in turn), against the fake Ollama, both started afresh every
`--restart-every` sequences so that neither grows with the run; a server that crashed is
started again and the crash counted.

Sequence i is drawn from `Random(f"{seed}:{i}")`: a failure is replayed alone, op by op, with
`--seed S --only i`.

    python benchmarks/fuzz_lsp.py                       # 10,000 sequences, a new seed
    python benchmarks/fuzz_lsp.py --sequences 600 --seed 7
    python benchmarks/fuzz_lsp.py --seed 7 --only 1234  # one sequence, in full
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shlex
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.e2e.fuzz_model import ENCODINGS  # noqa: E402
from tests.e2e.fuzz_runner import FuzzServer, Outcome, fuzz_reply  # noqa: E402
from tests.e2e.fuzz_sequences import Sequence, generate_sequence  # noqa: E402
from tests.fakes.fake_ollama import FakeOllama  # noqa: E402

FAILURE_ROWS = [
    ("crash", "crashes (server gone or hung)"),
    ("text", "text mismatches"),
    ("version", "version mismatches"),
    ("line index", "line index unlike a fresh one"),
    ("tree", "incremental tree unlike a fresh parse"),
    ("unanswered", "requests unanswered"),
    ("error answer", "error answers"),
    ("bad answer", "malformed answers"),
    ("misplaced answer", "answers not where asked"),
    ("misplaced fix", "quick fixes misplaced"),
    ("server error", "errors in the server's log"),
]


@dataclass
class Tally:
    sequences: int = 0
    ops: int = 0
    edits: int = 0
    full_edits: int = 0
    requests: Counter[str] = field(default_factory=Counter)
    cancelled: int = 0
    fixes: int = 0
    failures: Counter[str] = field(default_factory=Counter)
    failing: int = 0
    slowest_s: float = 0.0
    warnings: Counter[str] = field(default_factory=Counter)

    def add(self, sequence: Sequence, outcome: Outcome) -> None:
        self.sequences += 1
        self.ops += len(sequence.ops)
        self.edits += outcome.edits
        self.full_edits += outcome.full_edits
        self.requests.update(outcome.requests)
        self.cancelled += outcome.cancelled
        self.fixes += outcome.fixes
        self.failures.update(f.kind for f in outcome.failures)
        self.failing += bool(outcome.failures)
        self.slowest_s = max(self.slowest_s, outcome.slowest_s)
        self.warnings.update(outcome.warnings)


def sequence_of(seed: int, index: int, encodings: list[str], max_steps: int) -> Sequence:
    encoding = encodings[index % len(encodings)]
    return generate_sequence(random.Random(f"{seed}:{index}"), encoding, max_steps)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    tallies = {encoding: Tally() for encoding in args.encodings}
    reported: list[str] = []
    starts = 0
    started = time.perf_counter()
    for first in range(0, args.sequences, args.restart_every):
        last = min(args.sequences, first + args.restart_every)
        with FakeOllama(ttft=0.005, token_delay=0.001) as fake:
            fake.set_responder(fuzz_reply)
            servers = {e: FuzzServer(fake.url, e, command=args.server_command) for e in tallies}
            try:
                for server in servers.values():
                    await server.start()
                for index in range(first, last):
                    sequence = sequence_of(args.seed, index, args.encodings, args.max_steps)
                    uri = f"file:///workspace/fuzz-{index}{sequence.extension}"
                    outcome = await servers[sequence.encoding].run(sequence, uri)
                    tallies[sequence.encoding].add(sequence, outcome)
                    if outcome.failures and len(reported) < args.show:
                        reported.append(f"sequence {index}: {outcome.report(sequence)}")
                    if (index + 1) % 500 == 0:
                        elapsed = time.perf_counter() - started
                        failing = sum(t.failing for t in tallies.values())
                        print(f"{index + 1} sequences, {elapsed:.0f} s, {failing} failing",
                              file=sys.stderr, flush=True)  # fmt: skip
            finally:
                for server in servers.values():
                    starts += server.starts
                    await server.stop()
    return {
        "seed": args.seed,
        "max_steps": args.max_steps,
        "seconds": time.perf_counter() - started,
        "server_starts": starts,
        "tallies": tallies,
        "reported": reported,
    }


def _rows(tallies: dict[str, Tally]) -> list[tuple[str, list[Any]]]:
    columns = [*tallies.values()]
    total = Tally()
    for tally in columns:
        total.sequences += tally.sequences
        total.ops += tally.ops
        total.edits += tally.edits
        total.full_edits += tally.full_edits
        total.requests.update(tally.requests)
        total.cancelled += tally.cancelled
        total.fixes += tally.fixes
        total.failures.update(tally.failures)
        total.failing += tally.failing
        total.slowest_s = max(total.slowest_s, tally.slowest_s)
    columns.append(total)

    def row(name: str, value: Any) -> tuple[str, list[Any]]:
        return name, [value(t) for t in columns]

    requests = sorted(total.requests)
    return [
        row("sequences", lambda t: t.sequences),
        row("ops (notifications and requests)", lambda t: t.ops),
        row("content changes", lambda t: t.edits),
        row("  of which full texts", lambda t: t.full_edits),
        row("requests", lambda t: sum(t.requests.values())),
        *[row(f"  {name}", lambda t, name=name: t.requests[name]) for name in requests],
        row("  answered as cancelled", lambda t: t.cancelled),
        row("quick fixes checked", lambda t: t.fixes),
        row("slowest answer (s)", lambda t: f"{t.slowest_s:.2f}"),
        *[row(label, lambda t, kind=kind: t.failures[kind]) for kind, label in FAILURE_ROWS],
        row("failing sequences", lambda t: t.failing),
    ]


def print_table(result: dict[str, Any]) -> None:
    tallies: dict[str, Tally] = result["tallies"]
    rows = _rows(tallies)
    headers = ["", *tallies, "all"]
    width = max(len(name) for name, _ in rows)
    print(f"{headers[0]:<{width}}" + "".join(f"{h:>10}" for h in headers[1:]))
    for name, values in rows:
        print(f"{name:<{width}}" + "".join(f"{v:>10}" for v in values))
    print()
    print(f"seed {result['seed']} (sequence i: Random('{result['seed']}:i')), "
          f"up to {result['max_steps']} steps a sequence, "
          f"{result['server_starts']} server processes, {result['seconds']:.0f} s")  # fmt: skip
    warnings = Counter[str]()
    for tally in tallies.values():
        warnings.update(tally.warnings)
    for warning, count in warnings.most_common(5):
        print(f"warning x{count}: {warning}")
    for report in result["reported"]:
        print(f"\n{report}")


async def replay(args: argparse.Namespace, index: int) -> int:
    sequence = sequence_of(args.seed, index, args.encodings, args.max_steps)
    with FakeOllama(ttft=0.005, token_delay=0.001) as fake:
        fake.set_responder(fuzz_reply)
        server = FuzzServer(fake.url, sequence.encoding, command=args.server_command)
        await server.start()
        try:
            outcome = await server.run(sequence, f"file:///workspace/fuzz-{index}")
        finally:
            await server.stop()
    print(f"sequence {index} (seed {args.seed}): {len(outcome.failures)} failures")
    print(outcome.report(sequence))
    return 1 if outcome.failures else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sequences", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=None, help="default: a new one, printed")
    parser.add_argument("--max-steps", type=int, default=30, help="steps in a sequence, at most")
    parser.add_argument("--encodings", default=",".join(ENCODINGS))
    parser.add_argument("--restart-every", type=int, default=2_500, help="sequences")
    parser.add_argument("--show", type=int, default=5, help="failing sequences shown in full")
    parser.add_argument("--only", type=int, help="replay sequence i alone, in full")
    parser.add_argument("--server-command", help="instead of `python -m lsp_assist serve`")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    args.seed = random.randrange(2**31) if args.seed is None else args.seed
    args.encodings = args.encodings.split(",")
    args.server_command = shlex.split(args.server_command) if args.server_command else None
    # The server's review cache and statistics go to a fresh state directory, not the user's.
    os.environ["XDG_STATE_HOME"] = tempfile.mkdtemp(prefix="fuzz-lsp-state-")
    if args.only is not None:
        return asyncio.run(replay(args, args.only))
    result = asyncio.run(run(args))
    if args.json:
        rows = {name: values for name, values in _rows(result["tallies"])}
        print(json.dumps({**{k: v for k, v in result.items() if k != "tallies"}, "rows": rows}))
    else:
        print_table(result)
    return 1 if any(t.failing for t in result["tallies"].values()) else 0


if __name__ == "__main__":
    sys.exit(main())
