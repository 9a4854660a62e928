"""Faults scripted for the fake vLLM's next requests: what a GPU box and whatever stands in front
of it (a gateway, nginx, a load balancer) do to a client besides answering.

* `status`: an error status with vLLM's error body, optionally `Retry-After: N` (a 429 from a
  rate-limiting gateway, a 503 while the engine is overloaded or restarting); or any body.
* `redirect`: 307/302/301/308 with a `Location` (a moved endpoint, an http→https or a login
  redirect). The client must not carry its bearer key to another origin.
* `hang`: nothing at all is sent, not even headers, until the test calls `release_hangs()`
  (a stuck proxy, a server that accepted the connection and stalled); the request then goes on.
* `html_404`: nginx's HTML 404 page: the URL points at a web server, not an inference engine.

Faults are taken in order by the requests they match (by default the generation endpoints),
before the API key is checked or the route looked up: they come from in front of vLLM.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Literal

from tests.fakes.http11 import HttpRequest
from tests.fakes.openai_requests import GENERATION_PATHS
from tests.fakes.openai_wire import (
    HTML,
    JSON,
    NGINX_404,
    ErrorFormat,
    UvicornConnection,
    dumps,
    error_body,
)

FaultKind = Literal["status", "redirect", "hang", "html_404"]


@dataclass
class Fault:
    kind: FaultKind
    status: int = 0
    retry_after: float | str | None = None  # seconds, or an HTTP date; None: no header
    message: str = ""
    body: bytes | None = None  # the whole body instead of vLLM's error body
    content_type: str = JSON
    location: str = ""  # redirect target: a base URL (keep_path) or a whole URL
    keep_path: bool = True  # append the request's path and query to `location`
    paths: tuple[str, ...] | None = GENERATION_PATHS  # which requests it hits; None: any
    remaining: int | None = 1  # how many more requests it hits; None: all of them

    def matches(self, path: str) -> bool:
        return self.paths is None or path in self.paths


def take_fault(faults: list[Fault], path: str) -> Fault | None:
    """The first fault for `path`, used up once (call with the fake's lock held)."""
    for fault in faults:
        if fault.matches(path):
            if fault.remaining is not None:
                fault.remaining -= 1
                if fault.remaining <= 0:
                    faults.remove(fault)
            return fault
    return None


async def send_fault(
    conn: UvicornConnection, request: HttpRequest, fault: Fault, fmt: ErrorFormat
) -> int:
    """Answers a status, redirect or html_404 fault; returns the status sent."""
    if fault.kind == "redirect":
        target = fault.location.rstrip("/") + request.target if fault.keep_path else fault.location
        status = fault.status or 307
        await conn.send_whole(status, b"", None, [("location", target)])
        return status
    if fault.kind == "html_404":
        await conn.send_whole(404, NGINX_404, HTML, server="nginx")
        return 404
    headers = []
    if fault.retry_after is not None:
        retry = fault.retry_after
        headers.append(("retry-after", str(int(retry)) if isinstance(retry, float) else str(retry)))
    message = fault.message or _default_message(fault.status)
    body = (
        fault.body if fault.body is not None else dumps(error_body(message, fault.status, fmt=fmt))
    )
    await conn.send_whole(fault.status, body, fault.content_type, headers)
    return fault.status


def _default_message(status: int) -> str:
    if status == 429:
        return "Too many requests: the server's waiting queue is full. Please retry later."
    if status == 503:
        return "The server is overloaded or restarting. Please retry later."
    return "Scripted failure."


class HangGate:
    """Holds hung requests until `release()` (callable from any thread) lets them all go on."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._event: asyncio.Event | None = None

    def on_new_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop, self._event = loop, asyncio.Event()

    def ticket(self) -> asyncio.Event:
        """Taken synchronously when a request starts hanging; released by the next release()."""
        assert self._event is not None
        return self._event

    async def hold(self, conn: UvicornConnection, ticket: asyncio.Event) -> bool:
        """Waits for the release; False if the client hung up first."""
        released = asyncio.ensure_future(ticket.wait())
        gone = asyncio.ensure_future(conn.hung_up())
        try:
            await asyncio.wait({released, gone}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            released.cancel()
            gone.cancel()
        return ticket.is_set() and not conn.gone

    def release(self) -> None:
        if self._loop is None:
            return
        try:
            self._loop.call_soon_threadsafe(self._release)
        except RuntimeError:  # the loop is closed: nothing is hanging
            pass

    def _release(self) -> None:
        assert self._event is not None
        self._event.set()
        self._event = asyncio.Event()
