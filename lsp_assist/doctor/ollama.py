"""The doctor's check of an Ollama host (`/api/version`) and its models (`/api/show`: pulled, able
to fill in the middle, context length).

Settings without `lspAssist.endpoints` get the Ollama-only report, whose fixes name `OLLAMA_HOST`
and `--host`; a named Ollama endpoint's fixes name its settings.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence

from lsp_assist.backends.ollama import OllamaBackend
from lsp_assist.config import Endpoint
from lsp_assist.doctor.report import EndpointReport, HostReport, ModelReport, Role
from lsp_assist.doctor.verdicts import START_FIXES
from lsp_assist.errors import BackendError, BackendUnavailable, ModelNotFound
from lsp_assist.prompts.templates import detect_template

log = logging.getLogger(__name__)

INSTALL_URL = "https://ollama.com/download"


async def check_ollama(
    backend: OllamaBackend, chosen: Sequence[tuple[Role, str]], endpoint: Endpoint | None
) -> EndpointReport:
    """An Ollama host and its models; `endpoint` None: `ollama.host` of the Ollama-only report."""
    name = endpoint.name if endpoint is not None else "ollama"
    host_report = await _check_host(backend, endpoint)
    if not host_report.reachable:
        reports = tuple(
            ModelReport(model, role, endpoint=_named(endpoint)) for role, model in chosen
        )
    else:
        reports = tuple(
            [await _check_model(backend, model, role, endpoint) for role, model in chosen]
        )
    return EndpointReport(
        name,
        "ollama",
        tuple(dict.fromkeys(role for role, _ in chosen)),
        host_report,
        reports,
        endpoint,
    )


def _named(endpoint: Endpoint | None) -> str:
    return endpoint.name if endpoint is not None else ""


def _unreachable_fix(endpoint: Endpoint | None) -> str:
    if endpoint is not None:
        return f"{START_FIXES['ollama']}, or fix lspAssist.endpoints.{endpoint.name}.url"
    return (
        f"start Ollama with `ollama serve` (install it from {INSTALL_URL}), "
        "or set OLLAMA_HOST (or --host) to where it runs"
    )


def _not_ollama_fix(endpoint: Endpoint | None) -> str:
    if endpoint is not None:
        return f"check lspAssist.endpoints.{endpoint.name}.url and kind"
    return "check that OLLAMA_HOST (or --host) points at Ollama, e.g. http://127.0.0.1:11434"


async def _check_host(backend: OllamaBackend, endpoint: Endpoint | None) -> HostReport:
    url = backend.host
    try:
        version = await backend.version()
    except BackendUnavailable as exc:
        log.debug("host check failed: %s", exc)
        return HostReport(
            url, False, problem="Ollama is not reachable", fix=_unreachable_fix(endpoint)
        )
    except BackendError as exc:
        log.debug("host check failed: %s", exc)
        return HostReport(
            url,
            False,
            problem=f"something answers, but not like Ollama ({short(exc)})",
            fix=_not_ollama_fix(endpoint),
        )
    if not version:
        return HostReport(
            url,
            False,
            problem="/api/version did not say which Ollama this is",
            fix=_not_ollama_fix(endpoint),
        )
    return HostReport(url, True, version=version)


async def _check_model(
    backend: OllamaBackend, name: str, role: Role, endpoint: Endpoint | None
) -> ModelReport:
    named = _named(endpoint)
    try:
        info = await backend.model_info(name)
    except ModelNotFound:
        return ModelReport(
            name, role, pulled=False, present=False, problem="not pulled",
            fix=f"ollama pull {name}", endpoint=named,
        )  # fmt: skip
    except BackendError as exc:
        return ModelReport(
            name,
            role,
            problem=f"Ollama could not describe it ({short(exc)})",
            fix="see Ollama's log; `ollama show " + name + "` shows the same question",
            endpoint=named,
        )
    template = detect_template(name, info.template)
    if template is not None:
        fim, via = True, f"{template.family} FIM template"
    elif info.supports_insert:
        fim, via = True, "Ollama's template (insert capability)"
    else:
        fim, via = False, ""
    report = ModelReport(
        name, role, pulled=True, fim=fim, fim_via=via, context_length=info.context_length,
        present=True, endpoint=named,
    )  # fmt: skip
    if role == "completion" and not fim:
        return dataclasses.replace(
            report,
            problem="cannot fill in the middle (no `insert` capability, no known FIM family)",
            fix=(
                "use a base code model such as qwen2.5-coder:1.5b-base "
                "(`ollama pull qwen2.5-coder:1.5b-base`)"
            ),
        )
    return report


def short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text if len(text) <= 160 else text[:157] + "..."
