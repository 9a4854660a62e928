"""`lsp-assist doctor`: is everything a completion needs in place, and if not, what is the fix?

A diagnosis checks every model server the settings use, for the roles that use it: reachable
(and its version or build, where the server says it), then per role the model — there (Ollama:
pulled; an OpenAI-compatible server: listed in `/models`; llama.cpp and the embedded engine: the
file it serves), able to fill in the middle for completions, its context size. Every problem
comes with its fix, such as `ollama pull <model>`. Settings without `lspAssist.endpoints` get the
Ollama-only report (`ollama.host` and its models), as before endpoints existed.

`diagnose` returns a typed `DoctorReport` (`report`) and never raises for a backend fault: a
server that is down or answers garbage is a reported problem. The command line and the editor
command `lspAssist.doctor` only format it: `format_report` for people, `DoctorReport.to_json`
for tools. `pull_missing` pulls what Ollama lacks (`pulling`).

The checks per kind: `ollama`, `servers` (llama.cpp, OpenAI-compatible), `embedded`; what they
conclude about a server fault or a model's FIM: `verdicts`.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Mapping, Sequence

from lsp_assist.backends.embedded import EmbeddedEngine
from lsp_assist.backends.endpoints import EndpointClients
from lsp_assist.backends.engine_completion import EngineCompletion
from lsp_assist.backends.llamacpp import LlamaCppClient
from lsp_assist.backends.ollama import OllamaBackend
from lsp_assist.backends.openai_compat import OpenAIClient
from lsp_assist.config import Endpoint, Settings
from lsp_assist.doctor.embedded import check_embedded
from lsp_assist.doctor.format import format_report
from lsp_assist.doctor.ollama import check_ollama
from lsp_assist.doctor.pulling import (
    PullProgress,
    PullProgressPrinter,
    PullResult,
    pull_missing,
    pull_models,
)
from lsp_assist.doctor.report import (
    DoctorReport,
    EndpointReport,
    HostReport,
    ModelReport,
    Role,
    Roles,
)
from lsp_assist.doctor.servers import check_llamacpp, check_openai

__all__ = [
    "DoctorReport",
    "EndpointReport",
    "HostReport",
    "ModelReport",
    "PullProgress",
    "PullProgressPrinter",
    "PullResult",
    "Role",
    "diagnose",
    "format_report",
    "pull_missing",
    "pull_models",
]

DOCTOR_TIMEOUT_S = 10.0
"""The doctor asks small questions: no need to wait a cold model load's worth of time."""


def default_models(settings: Settings) -> list[tuple[str, Role]]:
    """The configured models: the completion model, then the review model (once each)."""
    chosen: list[tuple[str, Role]] = [(settings.completion.model, "completion")]
    if settings.review.model != settings.completion.model:
        chosen.append((settings.review.model, "review"))
    return chosen


async def diagnose(
    settings: Settings, models: Sequence[str] | None = None, *, start_embedded: bool = False
) -> DoctorReport:
    """Checks every endpoint the settings use, and their models. `models` replaces the
    configured ones: each is checked as a completion model (it must fill in the middle), on
    every endpoint completions use. `start_embedded` starts the embedded engine to ask it
    (else its GGUF file's header is read: no model is loaded)."""
    if not settings.endpoints:
        return DoctorReport((await _diagnose_ollama_only(settings, models),))
    return await _diagnose_endpoints(settings, models, start_embedded)


async def _diagnose_ollama_only(settings: Settings, models: Sequence[str] | None) -> EndpointReport:
    (endpoint,) = settings.all_endpoints()
    chosen = (
        default_models(settings)
        if models is None
        else [(m, "completion") for m in dict.fromkeys(models)]
    )
    backend = OllamaBackend(endpoint.resolved_url, timeout_s=DOCTOR_TIMEOUT_S)
    try:
        report = await check_ollama(backend, [(role, name) for name, role in chosen], None)
    finally:
        await backend.close()
    return dataclasses.replace(report, endpoint=endpoint)


async def _diagnose_endpoints(
    settings: Settings, models: Sequence[str] | None, start_embedded: bool
) -> DoctorReport:
    routes: dict[str, tuple[Endpoint, ...]] = {}
    if settings.completion.enabled:
        routes["completion"] = settings.completion_endpoints
    if settings.review.enabled and models is None:
        routes["review"] = settings.review_endpoints
    used = {e.name for route in routes.values() for e in route}
    # The doctor asks small questions: a cold model load's worth of waiting is not needed.
    endpoints = [
        dataclasses.replace(e, timeoutS=min(e.timeoutS, DOCTOR_TIMEOUT_S))
        for e in settings.all_endpoints()
        if e.name in used
    ]
    if models is not None:  # the names asked for, not the endpoint's own
        endpoints = [dataclasses.replace(e, completionModel="") for e in endpoints]
    clients = EndpointClients(lambda: settings.ollama)
    try:
        reports = await asyncio.gather(
            *(
                _check_endpoint(
                    settings, e, _roles(settings, e, routes, models), clients, start_embedded
                )
                for e in endpoints
            )
        )
    finally:
        await clients.close()
    return DoctorReport(
        tuple(reports),
        named=True,
        unused=tuple(e.name for e in settings.all_endpoints() if e.name not in used),
        routes={role: tuple(e.name for e in route) for role, route in routes.items()},
    )


def _roles(
    settings: Settings,
    endpoint: Endpoint,
    routes: Mapping[str, tuple[Endpoint, ...]],
    models: Sequence[str] | None,
) -> Roles:
    def on(role: str) -> bool:
        return any(e.name == endpoint.name for e in routes.get(role, ()))

    roles: list[tuple[Role, str]] = []
    if on("completion"):
        names = [endpoint.completionModel or settings.completion.model]
        roles += [("completion", name) for name in dict.fromkeys(models or names)]
    if on("review"):
        roles.append(("review", endpoint.reviewModel or settings.review.model))
    return tuple(roles)


async def _check_endpoint(
    settings: Settings,
    endpoint: Endpoint,
    roles: Roles,
    clients: EndpointClients,
    start_embedded: bool,
) -> EndpointReport:
    if endpoint.kind == "offline":
        server = HostReport("", True)
        return EndpointReport(
            endpoint.name, endpoint.kind, _role_names(roles), server, (), endpoint
        )
    client = clients.client(endpoint)
    completion = clients.completion(endpoint)
    if isinstance(client, OllamaBackend):
        # Once per model name: the same model for both roles is checked as a completion model
        # (the completion role comes first).
        unique: dict[str, tuple[Role, str]] = {}
        for role, name in roles:
            unique.setdefault(name, (role, name))
        report = await check_ollama(client, list(unique.values()), endpoint)
        return dataclasses.replace(report, roles=_role_names(roles))
    assert isinstance(completion, EngineCompletion)
    completion_settings = settings.completion
    if isinstance(client, LlamaCppClient):
        return await check_llamacpp(
            endpoint, client, completion, roles, completion_settings, DOCTOR_TIMEOUT_S
        )
    if isinstance(client, OpenAIClient):
        return await check_openai(
            endpoint, client, completion, roles, completion_settings, DOCTOR_TIMEOUT_S
        )
    assert isinstance(client, EmbeddedEngine)
    return await check_embedded(
        endpoint, client, completion, roles, completion_settings, start=start_embedded
    )


def _role_names(roles: Roles) -> tuple[Role, ...]:
    return tuple(dict.fromkeys(role for role, _ in roles))
