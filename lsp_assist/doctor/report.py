"""The doctor's findings as typed values: per model server, is it there, and per model, can it do
its job — each problem with its fix.

`DoctorReport.to_json` is the shape tools and editors read. Settings without `lspAssist.endpoints`
keep the shape of the Ollama-only doctor (`host`, `models`) and gain `endpoints`; with endpoints,
`endpoints` holds the whole story, `models` lists every endpoint's models (each naming its
endpoint) and `host` is the first Ollama endpoint's server, when one is used.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

from lsp_assist.config import Endpoint, EndpointKind

Role = Literal["completion", "review"]
Roles = tuple[tuple[Role, str], ...]
"""The roles an endpoint serves, each with the model name the settings want for it (one role
may come more than once: `doctor --model A --model B` checks both as completion models)."""


@dataclass(frozen=True)
class HostReport:
    """The server of an endpoint: reachable, what it says it is (for the embedded engine: the
    `xllamacpp` package, which is its server)."""

    url: str
    reachable: bool
    version: str = ""
    problem: str = ""
    fix: str = ""

    @property
    def ok(self) -> bool:
        return self.reachable and not self.problem


@dataclass(frozen=True)
class ModelReport:
    name: str
    """The server's name for it (llama.cpp and the embedded engine: its file name)."""
    role: Role
    """"completion" also when the same model serves reviews on that endpoint."""
    pulled: bool | None = None
    """Ollama only: pulled (None: not checked, or not an Ollama model)."""
    fim: bool | None = None  # can fill in the middle (None: unknown)
    fim_via: str = ""  # "qwen FIM template", "Ollama's template (insert capability)", …
    context_length: int | None = None
    problem: str = ""
    fix: str = ""
    present: bool | None = None
    """Pulled (Ollama), listed in `/models` (openai), served (llama.cpp), the file is there
    (embedded); None: not checked (the server is unreachable)."""
    endpoint: str = ""
    """The endpoint it was checked on ("" for the Ollama-only report)."""
    note: str = ""
    """A fact worth knowing that is no problem ("the one model it serves", "trained on …")."""

    @property
    def ok(self) -> bool:
        return self.present is True and not self.problem


@dataclass(frozen=True)
class EndpointReport:
    name: str
    kind: EndpointKind
    roles: tuple[Role, ...]
    server: HostReport
    models: tuple[ModelReport, ...] = ()
    endpoint: Endpoint | None = field(default=None, compare=False, repr=False)
    """Its settings (for pulling with its key); not part of the JSON."""

    @property
    def ok(self) -> bool:
        return self.server.ok and all(m.ok for m in self.models)

    @property
    def problems(self) -> int:
        return bool(self.server.problem) + sum(1 for m in self.models if m.problem)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "roles": list(self.roles),
            "ok": self.ok,
            **dataclasses.asdict(self.server),
            "models": [dataclasses.asdict(m) for m in self.models],
        }


NO_OLLAMA = HostReport("", False, problem="no Ollama endpoint is used")


@dataclass(frozen=True)
class DoctorReport:
    endpoints: tuple[EndpointReport, ...]
    named: bool = False
    """The settings name endpoints (`lspAssist.endpoints`); else the Ollama-only report."""
    unused: tuple[str, ...] = ()
    """Endpoints neither role uses (not checked)."""
    routes: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Per role, the endpoints it tries in order (only the roles that are on)."""

    @property
    def ok(self) -> bool:
        return all(e.ok for e in self.endpoints)

    @property
    def problems(self) -> int:
        return sum(e.problems for e in self.endpoints)

    @property
    def ollama(self) -> EndpointReport | None:
        """The first Ollama endpoint (the Ollama-only report's one)."""
        return next((e for e in self.endpoints if e.kind == "ollama"), None)

    @property
    def host(self) -> HostReport:
        """The first Ollama endpoint's server (the Ollama-only report's host)."""
        ollama = self.ollama
        return ollama.server if ollama is not None else NO_OLLAMA

    @property
    def models(self) -> tuple[ModelReport, ...]:
        return tuple(m for e in self.endpoints for m in e.models)

    @property
    def missing_models(self) -> list[str]:
        """The models to pull on the first Ollama endpoint (`pull_missing` pulls on each)."""
        ollama = self.ollama
        return [m.name for m in ollama.models if m.pulled is False] if ollama else []

    @property
    def to_pull(self) -> list[tuple[EndpointReport, list[str]]]:
        """Per reachable Ollama endpoint, the models it lacks (what `pull_missing` pulls)."""
        wanted = [
            (e, [m.name for m in e.models if m.pulled is False])
            for e in self.endpoints
            if e.kind == "ollama" and e.server.reachable
        ]
        return [(endpoint, names) for endpoint, names in wanted if names]

    def to_json(self) -> dict[str, Any]:
        shape: dict[str, Any] = {"ok": self.ok}
        if not self.named or self.ollama is not None:
            shape["host"] = dataclasses.asdict(self.host)
        shape["models"] = [dataclasses.asdict(m) for m in self.models]
        shape["endpoints"] = [e.to_json() for e in self.endpoints]
        if self.named:
            shape["routes"] = {role: list(names) for role, names in self.routes.items()}
            shape["unused"] = list(self.unused)
        return shape
