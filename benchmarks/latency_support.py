"""What the latency benchmark's scenarios share: summaries, a server to drive, its memory.

A `BenchServer` is `lsp-assist serve` driven over stdio by the project's lean client
(`lsp_assist/lsp_client.py`), with its own empty state folder (so that no answer cached by an
earlier run, or by the user's own editor, is reused) and, unless told otherwise, an empty
workspace root (so that no workspace scan runs behind a scenario that does not ask for one).
Its memory is read from `/proc/<pid>/status` (Linux): `VmHWM` is the peak resident set.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from lsp_assist.lsp_client import LspClient  # noqa: E402

SERVER_ARGV = ("-m", "lsp_assist", "serve")


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def summary(values: list[float]) -> dict[str, float]:
    return {
        "p50": round(statistics.median(values), 3) if values else float("nan"),
        "p95": round(percentile(values, 0.95), 3),
        "n": len(values),
    }


def summary_with_worst(values: list[float]) -> dict[str, float]:
    return {**summary(values), "worst": round(max(values), 3) if values else float("nan")}


# -- the server process's memory (Linux /proc) ----------------------------------------------------


def _children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for task in tasks:
        try:
            found += [int(p) for p in Path(f"/proc/{pid}/task/{task}/children").read_text().split()]
        except (OSError, ValueError):
            continue
    return found


def _descendants(pid: int) -> list[int]:
    found, todo = [], _children(pid)
    while todo:
        child = todo.pop()
        found.append(child)
        todo += _children(child)
    return found


def _argv(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return []


def memory_kb(pid: int) -> dict[str, int]:
    """{"VmRSS": kB, "VmHWM": kB} of one process ({} once it is gone)."""
    values: dict[str, int] = {}
    try:
        lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    except OSError:
        return values
    for line in lines:
        name, _, rest = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            values[name] = int(rest.split()[0])
    return values


def server_pids() -> set[int]:
    """The `lsp-assist serve` processes this benchmark started."""
    return {pid for pid in _descendants(os.getpid()) if tuple(_argv(pid)[1:4]) == SERVER_ARGV}


class MemoryWatch:
    """Samples a server's resident set: its own (VmRSS, VmHWM) and that of the processes it
    started (workers), summed, since a peak in a worker process is memory the user pays too."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.tree_peak_kb = 0
        self.workers_seen = 0
        self.start_kb = memory_kb(pid).get("VmRSS", 0)
        self.sample()

    def sample(self) -> None:
        children = _descendants(self.pid)
        self.workers_seen = max(self.workers_seen, len(children))
        total = sum(memory_kb(pid).get("VmRSS", 0) for pid in [self.pid, *children])
        self.tree_peak_kb = max(self.tree_peak_kb, total)

    def report(self) -> dict[str, Any]:
        """MB figures; read before the server stops."""
        self.sample()
        own = memory_kb(self.pid)
        mb = 1024
        return {
            "rss_start_mb": round(self.start_kb / mb, 1),
            "rss_end_mb": round(own.get("VmRSS", 0) / mb, 1),
            "peak_rss_mb": round(own.get("VmHWM", 0) / mb, 1),
            "peak_rss_with_workers_mb": round(self.tree_peak_kb / mb, 1),
            "worker_processes": self.workers_seen,
        }


def server_log(args: Any, scenario: str) -> str | None:
    """Where the server of `scenario` writes its debug log: `--server-log DIR`/<scenario>.log."""
    folder = getattr(args, "server_log", None)
    if not folder:
        return None
    Path(folder).mkdir(parents=True, exist_ok=True)
    return str(Path(folder) / f"{scenario}.log")


# -- a server to drive ---------------------------------------------------------------------------


class BenchServer:
    """One `lsp-assist serve` with its own state folder and workspace root."""

    def __init__(self, root: Path | None = None, log_file: str | None = None) -> None:
        """`log_file`: where the server writes its debug log (default: no log kept)."""
        self._temp = tempfile.TemporaryDirectory(prefix="lsp-assist-bench-")
        temp = Path(self._temp.name)
        self.root = root if root is not None else temp / "workspace"
        self.root.mkdir(parents=True, exist_ok=True)
        self.state = temp / "state"
        self.messages: list[str] = []
        self.client = LspClient(self._message)
        self.pid: int | None = None
        self.log_args = ["--log-file", log_file, "-vv"] if log_file else []

    def _message(self, message: str) -> None:
        self.messages.append(message)
        print(f"server says: {message}", file=sys.stderr)

    def uri(self, name: str) -> str:
        """A document in the workspace root (it need not exist on disk)."""
        return (self.root / name).as_uri()

    async def start(self, options: dict[str, Any], timeout: float = 60) -> None:
        before = server_pids()
        env = {**os.environ, "XDG_STATE_HOME": str(self.state)}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
        await self.client.start([sys.executable, *SERVER_ARGV, *self.log_args], env=env)
        new = server_pids() - before
        self.pid = min(new) if new else None
        await self.client.initialize(self.root.as_uri(), options, timeout=timeout)

    async def stop(self) -> None:
        try:
            await self.client.stop()
        finally:
            self._temp.cleanup()
