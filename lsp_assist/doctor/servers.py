"""The doctor's checks of model servers other than Ollama: llama.cpp's own server (`llamacpp`)
and OpenAI-compatible servers (`openai`: vLLM, TGI, SGLang, LM Studio, llama-server's `/v1`).

Each is asked through the client a completion uses (same URL, key, CA bundle, no redirects),
with the doctor's short time-out.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from lsp_assist.backends.engine_completion import EngineCompletion
from lsp_assist.backends.engine_http import EngineHttp
from lsp_assist.backends.llamacpp import LlamaCppClient
from lsp_assist.backends.openai_compat import OpenAIClient
from lsp_assist.config import CompletionSettings, Endpoint
from lsp_assist.doctor.report import EndpointReport, HostReport, ModelReport, Roles
from lsp_assist.doctor.verdicts import (
    completion_verdict,
    endpoint_report,
    fault_report,
    one_served_model,
    unchecked,
)
from lsp_assist.errors import BackendError, ModelNotFound

VERSION_PROBES = (("/version", "version"), ("/props", "build_info"), ("/info", "version"))
"""Where OpenAI-compatible servers say their version, at the URL's root: vLLM, llama-server,
TGI (others say nothing, and none is reported)."""


async def check_llamacpp(
    endpoint: Endpoint,
    client: LlamaCppClient,
    completion: EngineCompletion,
    roles: Roles,
    settings: CompletionSettings,
    timeout_s: float,
) -> EndpointReport:
    """`/health`, `/props` (its build, the model file, the context per slot) and the FIM
    tokens (`/tokenize`, as a completion asks)."""
    url = client.host
    try:
        await client.http.get_json("/health")  # 503 while it loads its model
        props = await client.http.get_json("/props")
        facts = await client.facts()
    except BackendError as exc:
        server = fault_report(url, endpoint, exc, timeout_s)
        return endpoint_report(endpoint, roles, server, unchecked(roles, endpoint, True))
    version = str(props.get("build_info", "")) if isinstance(props, dict) else ""
    server = HostReport(url, True, version=version)
    note = f"{facts.slots} slots" if facts.slots > 1 else ""
    context = facts.slot_ctx or None
    return await one_served_model(
        endpoint, completion, roles, settings, server, facts.model, context, note
    )


async def check_openai(
    endpoint: Endpoint,
    client: OpenAIClient,
    completion: EngineCompletion,
    roles: Roles,
    settings: CompletionSettings,
    timeout_s: float,
) -> EndpointReport:
    """`/models` (what it serves, and their context), the version where the server says it,
    and per role the model the settings mean."""
    url = client.host
    try:
        await client.models()  # asked once: `served_model` answers from it
    except BackendError as exc:
        server = fault_report(url, endpoint, exc, timeout_s)
        return endpoint_report(endpoint, roles, server, unchecked(roles, endpoint, False))
    server = HostReport(url, True, version=await _openai_version(endpoint))
    reports: list[ModelReport] = []
    for role, wanted in roles:
        setting = f"lspAssist.endpoints.{endpoint.name}.{role}Model"
        try:
            model = await client.served_model(wanted, setting)
        except ModelNotFound as exc:
            reports.append(
                ModelReport(
                    wanted,
                    role,
                    present=False,
                    endpoint=endpoint.name,
                    problem=f"not served (it serves: {', '.join(exc.available) or 'nothing'})",
                    fix=f"set {setting} to the server's name for the model",
                )  # fmt: skip
            )
            continue
        same = [i for i, r in enumerate(reports) if r.name == model.id]
        if same:  # one model for both roles: reported once, as the completion model
            first = reports[same[0]]
            note = ", ".join(filter(None, [first.note, "also serves reviews"]))
            reports[same[0]] = dataclasses.replace(first, note=note)
            continue
        note = "" if model.id == wanted else f"the one model it serves (settings: {wanted})"
        report = ModelReport(
            model.id, role, present=True, context_length=model.context_length,
            endpoint=endpoint.name, note=note,
        )  # fmt: skip
        if role == "completion":
            report = await completion_verdict(
                endpoint, completion, dataclasses.replace(settings, model=wanted), report,
                found="from its name",
                found_nothing="its FIM tokens cannot be told from its name (the server does "
                "not say them)",
            )  # fmt: skip
        reports.append(report)
    return endpoint_report(endpoint, roles, server, tuple(reports))


async def _openai_version(endpoint: Endpoint) -> str:
    root = endpoint.resolved_url.rstrip("/")
    if not root.endswith("/v1"):
        return ""
    http = EngineHttp(endpoint, root.removesuffix("/v1"))
    try:
        for path, key in VERSION_PROBES:
            try:
                answer: Any = await http.get_json(path)
            except BackendError:
                continue
            if isinstance(answer, dict) and isinstance(answer.get(key), str) and answer[key]:
                return str(answer[key])
    finally:
        await http.close()
    return ""
