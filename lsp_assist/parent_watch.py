"""The editor's process, watched: when it dies, the session ends.

`initialize` carries `processId`: "the process Id of the parent process that started the
server … If the parent process is not alive then the server should exit". Usually the editor's
death closes our stdin and the transport ends the session by itself; the watch is for when it
does not: a wrapper or a child of the editor still holds the pipe open, or the session is over
TCP.

- **An event on Linux, not a poll.** A pidfd (`os.pidfd_open`, Linux 5.3+) becomes readable when
  the process ends, and the event loop watches it like a socket: nothing runs until then, and a
  pid reused by another process cannot fool it. Elsewhere (macOS, older kernels) `os.kill(pid, 0)`
  every few seconds, a timer on the loop that costs microseconds. Never on Windows, where
  `os.kill` would terminate the editor.
- **A pid that is not there at `initialize` is not watched.** The server then runs in another
  pid namespace than the editor: a container started through `docker run -i`, Flatpak, a
  remote shell. Servers that exit there (vscode-languageserver-node's 3-second watchdog) die
  on every start (vscode-languageserver-node#857, neovim#14504); Deno now skips such a pid too.
  The closing pipe still ends those sessions.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
from collections.abc import Callable

log = logging.getLogger(__name__)

POLL_S = 3.0


class ParentWatch:
    """Calls `on_gone` once, on the loop, when process `pid` has ended."""

    def __init__(self, pid: int, on_gone: Callable[[], None]) -> None:
        self.pid = pid
        self._on_gone = on_gone
        self._loop = asyncio.get_running_loop()
        self._pidfd: int | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._done = False

    def start(self) -> None:
        try:
            self._pidfd = os.pidfd_open(self.pid)
        except (AttributeError, OSError) as exc:  # not Linux, or a kernel before 5.3
            log.debug("no pidfd for %d (%s): polling every %.0f s", self.pid, exc, POLL_S)
            self._timer = self._loop.call_later(POLL_S, self._poll)
            return
        self._loop.add_reader(self._pidfd, self._gone)

    def stop(self) -> None:
        self._done = True
        if self._timer is not None:
            self._timer.cancel()
        if self._pidfd is not None:
            self._loop.remove_reader(self._pidfd)
            with contextlib.suppress(OSError):
                os.close(self._pidfd)
            self._pidfd = None

    def _poll(self) -> None:
        if is_alive(self.pid):
            self._timer = self._loop.call_later(POLL_S, self._poll)
        else:
            self._gone()

    def _gone(self) -> None:
        if self._done:
            return
        self.stop()
        log.warning("the editor's process %d has ended: ending the session", self.pid)
        self._on_gone()


def is_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, as another user's
        return True
    return True


def watch_parent(pid: int | None, on_gone: Callable[[], None]) -> ParentWatch | None:
    """A running watch of the editor's process, or None when there is nothing to watch."""
    if pid is None:
        return None  # "null if the process has not been started by another process"
    if sys.platform == "win32":
        log.info("the editor's process %d is not watched on Windows", pid)
        return None
    if pid <= 0 or pid == os.getpid():  # 0 and -1 would mean process groups to os.kill
        log.warning("processId %d is not a process lsp-assist can watch", pid)
        return None
    if not is_alive(pid):
        log.info(
            "the editor's process %d is not visible from here (another pid namespace, such as "
            "a container?): not watching it",
            pid,
        )
        return None
    watch = ParentWatch(pid, on_gone)
    watch.start()
    return watch
