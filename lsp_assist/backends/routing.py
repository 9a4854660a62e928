"""Which backend serves: endpoints in failover order, per role.

The completion route is `completion.endpoint` in order, then (with `completion.backend` "auto")
the embedded engine when a model was pulled, then the offline engine. The first that answers
serves. An endpoint that cannot be reached leaves the route: the user is told once who serves
meanwhile, the endpoint is probed with growing pauses (1 s … 1 min), and when it answers it
takes its place back — told once too. Reviews take the first reachable endpoint of
`review.endpoint`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from lsp_assist.backends.answers import ChatAnswer
from lsp_assist.backends.base import CompletionBackend
from lsp_assist.backends.endpoints import Client, EndpointChat, EndpointClients
from lsp_assist.completion.health import BackendHealth
from lsp_assist.config import Endpoint, Settings
from lsp_assist.errors import OFFLINE_FALLBACK, BackendUnavailable, FaultNotifier
from lsp_assist.model_store import default_model_path

log = logging.getLogger(__name__)

DEFAULT_EMBEDDED = Endpoint(name="embedded", kind="embedded")
"""The embedded engine on the pulled model, when no endpoint names it."""


class RoutedChat:
    """A review endpoint's chat that tells the router when the endpoint cannot be reached."""

    def __init__(self, chat: EndpointChat, failed: Callable[[Endpoint], None]) -> None:
        self._chat = chat
        self._failed = failed
        self.host = chat.host
        self.endpoint = chat.endpoint

    @property
    def client(self) -> Client:
        return self._chat.client

    async def chat(
        self,
        *,
        model: str,
        messages: list[dict[str, str]],
        options: Mapping[str, Any],
        format: Mapping[str, Any] | None = None,
    ) -> ChatAnswer:
        try:
            return await self._chat.chat(
                model=model, messages=messages, options=options, format=format
            )
        except BackendUnavailable:
            self._failed(self.endpoint)
            raise


class EndpointRouter:
    def __init__(
        self,
        settings: Callable[[], Settings],
        clients: EndpointClients,
        offline: CompletionBackend,
        notifier: FaultNotifier,
        show_message: Callable[[str, str], None],
    ) -> None:
        self._settings = settings
        self._clients = clients
        self._offline = offline
        self._notifier = notifier
        self._show_message = show_message
        self._health: dict[str, BackendHealth] = {}
        self._route: tuple[Settings, frozenset[str], tuple[CompletionBackend, ...]] | None = None

    # -- completion -----------------------------------------------------------------------------

    def completion_route(self) -> Sequence[CompletionBackend]:
        """The backends to try for a completion, in order (asked several times a keystroke:
        kept until the settings or an endpoint's health change)."""
        settings, down = self._settings(), self._down()
        route = self._route
        if route is None or route[0] is not settings or route[1] != down:
            route = self._route = (settings, down, self._build(settings, down))
        return route[2]

    def _build(self, settings: Settings, down: frozenset[str]) -> tuple[CompletionBackend, ...]:
        choice = settings.completion.backend
        if choice == "offline":
            return (self._offline,)
        endpoints = list(settings.completion_endpoints)
        if choice == "auto" and not any(e.kind == "embedded" for e in endpoints):
            if default_model_path() is not None:
                endpoints.append(DEFAULT_EMBEDDED)
        route: list[CompletionBackend] = []
        for endpoint in endpoints:
            if endpoint.kind == "offline":
                route.append(self._offline)
            elif endpoint.name not in down:
                route.append(self._clients.completion(endpoint))
        if choice == "auto" and self._offline not in route:
            route.append(self._offline)
        if not route:  # every model server is down and nothing else may serve: keep asking
            route = [self._clients.completion(e) for e in endpoints if e.kind != "offline"]
        return tuple(route)

    def endpoint(self, name: str) -> Endpoint | None:
        settings = self._settings()
        if name == DEFAULT_EMBEDDED.name and not any(
            e.name == name for e in settings.all_endpoints()
        ):
            return DEFAULT_EMBEDDED
        return next((e for e in settings.all_endpoints() if e.name == name), None)

    def unavailable(self, backend: str, error: BackendUnavailable) -> None:
        """`backend` could not be reached: the next one serves until it answers again."""
        endpoint = self.endpoint(backend)
        if endpoint is None:
            return
        route = [b.name for b in self.completion_route()]
        after = route[route.index(backend) + 1 :] if backend in route else route
        if after:
            nxt = self.endpoint(after[0])
            error.fallback = (
                OFFLINE_FALLBACK if after[0] == "offline" or nxt is None else nxt.description
            )
        self._health_of(endpoint).mark_unreachable()

    def answered(self, backend: str) -> None:
        if (health := self._health.get(backend)) is not None:
            health.mark_reachable()

    def _down(self) -> frozenset[str]:
        return frozenset(name for name, health in self._health.items() if not health.reachable)

    def _health_of(self, endpoint: Endpoint) -> BackendHealth:
        name = endpoint.name
        if (health := self._health.get(name)) is None:
            health = self._health[name] = BackendHealth(
                lambda: self._probe(name), lambda: self._back(name)
            )
        return health

    async def _probe(self, name: str) -> bool:
        endpoint = self.endpoint(name)
        return endpoint is not None and await self._clients.completion(endpoint).probe()

    def _back(self, name: str) -> None:
        self._notifier.recovered()
        endpoint = self.endpoint(name)
        if endpoint is None:
            return
        log.info("%s answers again", endpoint.description)
        if endpoint.kind == "ollama" and name == "ollama":  # today's `ollama.host`
            message = (
                f"lsp-assist: Ollama at {endpoint.resolved_url} answers again — completions "
                "come from the model"
            )
        else:
            message = f"lsp-assist: {endpoint.description} answers again — completions come from it"
        self._show_message("info", message)

    def reachable(self, name: str = "") -> bool:
        """Whether the endpoint (by default: the first completion endpoint) is not known to be
        down."""
        if not name:
            endpoints = self._settings().completion_endpoints
            name = endpoints[0].name if endpoints else ""
        health = self._health.get(name)
        return health is None or health.reachable

    # -- review ---------------------------------------------------------------------------------

    def review_backend(self) -> RoutedChat:
        """The first review endpoint not known to be down (the first of all, if all are)."""
        settings = self._settings()
        candidates = [e for e in settings.review_endpoints if e.kind != "offline"]
        if not candidates:
            candidates = [e for e in settings.all_endpoints() if e.kind != "offline"]
        down = self._down()
        chosen = next((e for e in candidates if e.name not in down), candidates[0])
        return RoutedChat(self._clients.chat(chosen), self._review_failed)

    def _review_failed(self, endpoint: Endpoint) -> None:
        """A review endpoint could not be reached: the next review call goes to the next one
        (completions pass over it too: the host is down for both)."""
        self._health_of(endpoint).mark_unreachable()

    async def close(self) -> None:
        for health in self._health.values():
            await health.close()
        self._health.clear()
