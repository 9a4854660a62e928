"""Runs lsp-assist with an audit hook that writes down every network step the process takes.

    python -m tests.e2e.audit_hook EVENTS_FILE serve -vv
    python -m tests.e2e.audit_hook EVENTS_FILE doctor --host http://127.0.0.1:11434

Python raises an audit event (PEP 578) for every socket connect, name lookup, datagram sent,
URL opened and program started, whichever library does it (httpx and the `ollama` client,
asyncio, urllib, a telemetry or update-check package). The hook, installed before lsp-assist
is imported, appends each of those events to EVENTS_FILE as one JSON line; then
`lsp_assist.cli.main` runs with the remaining arguments, as `lsp-assist` would.

It sees this process only. A child it starts (git, the embedded engine) shows as a
`subprocess.Popen` event; what happens inside it does not (the embedded engine's server is C++:
no Python hook could see its sockets — test_network_audit.py watches it with strace).
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

AUDITED = frozenset(
    {
        "socket.connect",
        "socket.bind",
        "socket.sendto",
        "socket.sendmsg",
        "socket.getaddrinfo",
        "socket.gethostbyname",
        "socket.gethostbyaddr",
        "socket.getnameinfo",
        "http.client.connect",
        "urllib.Request",
        "webbrowser.open",
        "ftplib.connect",
        "smtplib.connect",
        "subprocess.Popen",
        "os.system",
        "os.exec",
        "os.posix_spawn",
    }
)
"""Events that reach (or could reach) the network, or start a program that might."""


def _plain(value: Any) -> Any:
    """A JSON-friendly copy of an address: tuples as lists, bytes as text."""
    if isinstance(value, (tuple, list)):
        return [_plain(item) for item in value]
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", errors="replace")
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return repr(value)


def describe(event: str, args: tuple[Any, ...]) -> dict[str, Any]:
    """The facts of one event worth keeping."""
    if event in ("socket.connect", "socket.bind", "socket.sendto", "socket.sendmsg"):
        family = getattr(args[0], "family", None)
        return {
            "family": getattr(family, "name", str(family)),
            "address": _plain(args[1] if len(args) > 1 else None),
        }
    if event == "socket.getaddrinfo":
        return {"host": _plain(args[0]), "port": _plain(args[1])}
    if event in ("socket.gethostbyname", "socket.gethostbyaddr"):
        return {"host": _plain(args[0])}
    if event == "socket.getnameinfo":
        return {"address": _plain(args[0])}
    if event == "http.client.connect":
        return {"host": _plain(args[1]), "port": _plain(args[2])}
    if event in ("urllib.Request", "webbrowser.open"):
        return {"url": _plain(args[0])}
    if event == "subprocess.Popen":
        argv = args[1]
        return {"argv": [_plain(argv)] if isinstance(argv, (str, bytes)) else _plain(list(argv))}
    return {"args": repr(args)[:300]}


def install(path: str) -> None:
    """From now on, every audited event of this process is appended to `path`."""
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    def hook(event: str, args: tuple[Any, ...]) -> None:
        if event not in AUDITED:
            return
        try:
            record = {"pid": os.getpid(), "event": event, **describe(event, args)}
            os.write(fd, (json.dumps(record) + "\n").encode())
        except Exception:  # a hook that raises would break the call it audits
            pass

    sys.addaudithook(hook)


def read_events(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as events:
        return [json.loads(line) for line in events if line.strip()]


def main() -> None:
    if len(sys.argv) < 2:
        sys.exit("usage: python -m tests.e2e.audit_hook EVENTS_FILE LSP_ASSIST_ARGS...")
    path, *argv = sys.argv[1:]
    install(path)
    from lsp_assist.cli import main as lsp_assist

    lsp_assist(argv)


if __name__ == "__main__":
    main()
