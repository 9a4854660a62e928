"""What the soak benchmark reads of the server's process: memory, file descriptors and
connections from `/proc` (Linux), tasks and timers from the probe inside it (`soak_probe.py`).

Open connections are the server's sockets (`/proc/<pid>/fd` links `socket:[inode]`), sorted by
kind: TCP ones by state (from `/proc/<pid>/net/tcp` and `tcp6`, matched by inode), Unix ones,
and any other.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections import Counter
from pathlib import Path
from typing import Any

TCP_STATES = {
    "01": "established",
    "02": "syn_sent",
    "03": "syn_recv",
    "04": "fin_wait1",
    "05": "fin_wait2",
    "06": "time_wait",
    "07": "close",
    "08": "close_wait",
    "09": "last_ack",
    "0A": "listen",
    "0B": "closing",
}


class ProbeTimeout(Exception):
    """The server's probe did not answer."""


class ServerGauge:
    def __init__(self, pid: int, probe_file: Path) -> None:
        self.pid = pid
        self.probe_file = probe_file
        self._seq = 0

    # -- /proc ------------------------------------------------------------------------------

    def status(self) -> dict[str, int]:
        """VmRSS and VmHWM (kB), Threads."""
        values: dict[str, int] = {}
        try:
            lines = Path(f"/proc/{self.pid}/status").read_text().splitlines()
        except OSError:
            return values
        for line in lines:
            name, _, rest = line.partition(":")
            if name in ("VmRSS", "VmHWM", "Threads"):
                values[name] = int(rest.split()[0])
        return values

    def rss_mb(self) -> float:
        return round(self.status().get("VmRSS", 0) / 1024, 1)

    def descriptors(self) -> dict[str, Any]:
        """{"fds": n, "sockets": n, "tcp": {state: n}, "unix": n, "pipes": n, "other": {…}}."""
        kinds: Counter[str] = Counter()
        sockets: set[str] = set()
        folder = f"/proc/{self.pid}/fd"
        try:
            names = os.listdir(folder)
        except OSError:
            return {}
        for name in names:
            try:
                target = os.readlink(f"{folder}/{name}")
            except OSError:
                continue  # closed meanwhile
            if target.startswith("socket:["):
                sockets.add(target[len("socket:[") : -1])
            elif target.startswith("pipe:["):
                kinds["pipes"] += 1
            elif target.startswith("anon_inode:"):
                kinds[target[len("anon_inode:") :].strip("[]")] += 1
            else:
                kinds["files"] += 1
        tcp = self._tcp_states(sockets)
        return {
            "fds": len(names),
            "sockets": len(sockets),
            "tcp": dict(sorted(Counter(tcp.values()).items())),
            "unix_or_other_sockets": len(sockets) - len(tcp),
            **dict(sorted(kinds.items())),
        }

    def _tcp_states(self, inodes: set[str]) -> dict[str, str]:
        states: dict[str, str] = {}
        for table in ("tcp", "tcp6"):
            try:
                rows = Path(f"/proc/{self.pid}/net/{table}").read_text().splitlines()[1:]
            except OSError:
                continue
            for row in rows:
                fields = row.split()
                if len(fields) > 9 and fields[9] in inodes:
                    states[fields[9]] = TCP_STATES.get(fields[3], fields[3])
        return states

    # -- the probe ------------------------------------------------------------------------------

    async def probe(self, census: bool = False, timeout: float = 20.0) -> dict[str, Any]:
        """The probe's report (tasks, timers, threads; with `census`, objects per type)."""
        os.kill(self.pid, signal.SIGUSR2 if census else signal.SIGUSR1)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                report: dict[str, Any] = json.loads(self.probe_file.read_text())
            except (OSError, ValueError):
                report = {}
            if report.get("seq", 0) > self._seq:
                self._seq = report["seq"]
                return report
            await asyncio.sleep(0.005)
        raise ProbeTimeout(f"the server's probe did not answer in {timeout} s")


class MachineLoad:
    """How many cores the machine's other processes kept busy (this machine is shared): the
    CPU time of the whole machine (`/proc/stat`) minus that of the soak's own processes,
    between two samples."""

    def __init__(self, pids: list[int]) -> None:
        self.pids = pids
        self._last = self._times()

    def _times(self) -> tuple[float, float, float]:
        """(machine busy, ours, elapsed) in clock ticks."""
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
        ticks = [int(f) for f in fields]
        idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)  # idle + iowait
        ours = 0
        for pid in self.pids:
            try:
                stat = Path(f"/proc/{pid}/stat").read_text()
            except OSError:
                continue
            after_name = stat.rsplit(")", 1)[1].split()
            ours += int(after_name[11]) + int(after_name[12])  # utime, stime
        return float(sum(ticks) - idle), float(ours), float(sum(ticks))

    def others_cores(self) -> float:
        """Cores busy with other processes since the previous call."""
        busy, ours, total = self._times()
        last_busy, last_ours, last_total = self._last
        self._last = (busy, ours, total)
        elapsed = total - last_total
        if elapsed <= 0:
            return 0.0
        cores = os.cpu_count() or 1
        return round(max(0.0, (busy - last_busy) - (ours - last_ours)) / elapsed * cores, 2)


def type_growth(
    before: dict[str, list[int]], after: dict[str, list[int]], top: int = 12
) -> list[dict[str, Any]]:
    """The object types whose count grew most between two censuses (`[count, bytes]` per
    type; a type missing from one census counts 0 there)."""
    rows: list[dict[str, Any]] = []
    for name in set(before) | set(after):
        n0, b0 = before.get(name, [0, 0])
        n1, b1 = after.get(name, [0, 0])
        if n1 > n0:
            rows.append({"type": name, "before": n0, "after": n1, "kb": round((b1 - b0) / 1024, 1)})
    rows.sort(key=lambda row: int(row["after"]) - int(row["before"]), reverse=True)
    return rows[:top]
