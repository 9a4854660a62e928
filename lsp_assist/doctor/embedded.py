"""The doctor's check of the embedded engine: llama.cpp run by lsp-assist on a GGUF file.

It is not started by default: a real model takes gigabytes of memory and seconds to load, which a
check should not cost (and the editor's `lspAssist.doctor` may run while the session's own engine
holds the model). The file's GGUF header says what the started engine would: its vocabulary —
searched for FIM tokens the way the server's `/tokenize` probe is, family by family — and the
context it was trained on (`gguf_header` reads just that part). `start=True` starts the engine
and asks it instead, as a completion would.
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib.metadata
import importlib.util
from pathlib import Path

from lsp_assist.backends.embedded import DEFAULT_CTX, EmbeddedEngine
from lsp_assist.backends.engine_completion import EngineCompletion, looks_like_instruct
from lsp_assist.config import CompletionSettings, Endpoint
from lsp_assist.doctor.report import EndpointReport, HostReport, ModelReport, Roles
from lsp_assist.doctor.verdicts import (
    NO_FIM_TOKENS,
    both_roles,
    endpoint_report,
    fim_via,
    first_role,
    one_served_model,
    problem_and_fix,
    refusal,
)
from lsp_assist.errors import BackendError
from lsp_assist.gguf_header import GgufError, read_model
from lsp_assist.model_store import models_dir
from lsp_assist.prompts.templates import TEMPLATES, FimTemplate, detect_template

INSTALL_FIX = "pip install 'lsp-assist[embedded]'"


async def check_embedded(
    endpoint: Endpoint,
    engine: EmbeddedEngine,
    completion: EngineCompletion,
    roles: Roles,
    settings: CompletionSettings,
    *,
    start: bool,
) -> EndpointReport:
    """`xllamacpp` installed, the model file there, and what its header (or, with `start`, the
    running engine) says about FIM and context."""
    path = engine.model_path
    server = _xllamacpp_report(path)
    if not path.is_file():
        fix = "run `lsp-assist models pull`"
        if endpoint.modelPath:
            name, problem = path.name, f"no model file at {path}"
            fix += f", or fix lspAssist.endpoints.{endpoint.name}.modelPath"
        else:
            name, problem = "(the pulled model)", f"no model pulled (none in {models_dir()})"
        missing = ModelReport(
            name, first_role(roles), present=False, endpoint=endpoint.name,
            problem=problem, fix=fix,
        )  # fmt: skip
        return endpoint_report(endpoint, roles, server, (missing,))
    if start and server.ok:
        return await _ask_running_engine(endpoint, engine, completion, roles, settings, server)
    # Off the loop: a real vocabulary is ~150,000 tokens (0.15 s to read), and the editor's
    # `lspAssist.doctor` runs on the language server's loop.
    model = await asyncio.to_thread(_header_model, endpoint, path, roles)
    return endpoint_report(endpoint, roles, server, (model,))


def _xllamacpp_report(path: Path) -> HostReport:
    where = f"embedded:{path}"
    if importlib.util.find_spec("xllamacpp") is None:
        return HostReport(
            where,
            False,
            problem="the xllamacpp package is not installed (it runs llama.cpp in lsp-assist)",
            fix=INSTALL_FIX,
        )
    try:
        version = importlib.metadata.version("xllamacpp")
    except importlib.metadata.PackageNotFoundError:
        version = ""
    return HostReport(where, True, version=f"xllamacpp {version}".strip())


def _header_model(endpoint: Endpoint, path: Path, roles: Roles) -> ModelReport:
    first = first_role(roles)
    try:
        header = read_model(path)
    except (GgufError, OSError) as exc:
        return ModelReport(
            path.name, first, present=True, endpoint=endpoint.name,
            problem=f"the file is not a GGUF model llama.cpp can load ({exc})",
            fix="download it again with `lsp-assist models pull`, or point modelPath at a .gguf",
        )  # fmt: skip
    notes = [f"{path.stat().st_size / 1e6:,.0f} MB"]
    if header.context_length:
        notes.append(f"trained on {header.context_length} tokens")
    if both_roles(roles):
        notes.append("also serves reviews")
    report = ModelReport(
        path.name, first, present=True, endpoint=endpoint.name, note=", ".join(notes),
        context_length=min(DEFAULT_CTX, header.context_length or DEFAULT_CTX),
    )  # fmt: skip
    if first != "completion":
        return report
    # What `EngineCompletion.model_plan` would decide on the started engine's facts.
    template = TEMPLATES[endpoint.fim] if endpoint.fim else _fim_template(path, header.tokens)
    if template is None or looks_like_instruct(path.name):
        problem, fix = refusal(endpoint, path.name, NO_FIM_TOKENS)
        return dataclasses.replace(report, fim=False, problem=problem, fix=fix)
    via = fim_via(endpoint, template, "in its vocabulary, read from the GGUF header")
    return dataclasses.replace(report, fim=True, fim_via=via)


def _fim_template(path: Path, tokens: frozenset[str]) -> FimTemplate | None:
    """The search `LlamaCppClient.facts` makes: the family the file name says first, then every
    family, for a prefix marker that is one token of the vocabulary."""
    preferred = detect_template(path.name)
    for candidate in ([preferred] if preferred else []) + list(TEMPLATES.values()):
        if candidate.prefix_marker.strip() in tokens:
            return candidate
    return None


async def _ask_running_engine(
    endpoint: Endpoint,
    engine: EmbeddedEngine,
    completion: EngineCompletion,
    roles: Roles,
    settings: CompletionSettings,
    server: HostReport,
) -> EndpointReport:
    try:
        facts = await engine.facts()
    except BackendError as exc:
        problem, fix = problem_and_fix(exc)
        failed = ModelReport(
            engine.model_path.name, first_role(roles), present=True, endpoint=endpoint.name,
            problem=problem, fix=fix,
        )  # fmt: skip
        return endpoint_report(endpoint, roles, server, (failed,))
    context = facts.slot_ctx or None
    return await one_served_model(
        endpoint, completion, roles, settings, server, facts.model, context,
        "started for the doctor",
    )  # fmt: skip
