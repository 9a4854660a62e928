"""What the doctor concludes about the llama.cpp kinds (llama.cpp, OpenAI-compatible, embedded):
a server fault as a problem and its fix, and whether a model may fill in the middle.

The completion verdict is the server's own: `EngineCompletion.model_plan`, the call a completion
makes, so the doctor refuses exactly what the server would — a model without FIM tokens
(llama.cpp: none of our families' prefix markers is one token of its vocabulary), one whose FIM
tokens cannot be told from its name (OpenAI-compatible servers do not say them), or an instruct
model (trained to chat, not to fill in the middle). The doctor adds why, and the fix.
"""

from __future__ import annotations

import dataclasses

from lsp_assist.backends.engine_completion import EngineCompletion, looks_like_instruct
from lsp_assist.config import CompletionSettings, Endpoint
from lsp_assist.doctor.report import EndpointReport, HostReport, ModelReport, Role, Roles
from lsp_assist.errors import (
    BackendError,
    BackendTimeout,
    BackendUnavailable,
    ModelWithoutFim,
    NotAModelServer,
    ServerBusy,
)
from lsp_assist.prompts.templates import FimTemplate

BASE_MODEL_FIX = (
    "serve a base code model for completions, such as Qwen2.5-Coder-1.5B "
    "(GGUF: qwen2.5-coder-1.5b-q8_0.gguf, which `lsp-assist models pull` fetches)"
)
NO_FIM_TOKENS = "no FIM tokens in its vocabulary (it cannot fill in the middle)"
START_FIXES = {
    "llamacpp": "start llama-server (`llama-server -m MODEL.gguf --port 8012`)",
    "openai": "start the server (vLLM: `vllm serve MODEL`)",
    "ollama": "start Ollama with `ollama serve` (install it from https://ollama.com/download)",
}


def fault_report(url: str, endpoint: Endpoint, exc: BackendError, timeout_s: float) -> HostReport:
    """A server fault as the doctor reports it: what is wrong, and the fix."""
    if isinstance(exc, BackendUnavailable):
        url_setting = f"lspAssist.endpoints.{endpoint.name}.url"
        start = START_FIXES.get(endpoint.kind, "start it")
        return HostReport(url, False, problem="not reachable", fix=f"{start}, or fix {url_setting}")
    if isinstance(exc, BackendTimeout):
        return HostReport(
            url,
            False,
            problem=f"no answer within {timeout_s:g} s",
            fix="check that the server runs and is not overloaded, and the endpoint's url",
        )
    if isinstance(exc, ServerBusy):
        return HostReport(
            url,
            True,
            problem=f"busy ({exc}): still loading its model, or its queue is full",
            fix="wait until it has loaded its model, then run `lsp-assist doctor` again",
        )
    problem, fix = problem_and_fix(exc)
    return HostReport(url, not isinstance(exc, NotAModelServer), problem=problem, fix=fix)


def problem_and_fix(exc: BackendError) -> tuple[str, str]:
    """A fault's one-line message ("lsp-assist: what — fix"), split in two."""
    problem, _, fix = exc.user_message().removeprefix("lsp-assist: ").partition(" — ")
    return problem, fix


def first_role(roles: Roles) -> Role:
    """The role a server's one model is reported under: completion, when it serves both."""
    return "completion" if any(role == "completion" for role, _ in roles) else "review"


def both_roles(roles: Roles) -> bool:
    return len({role for role, _ in roles}) > 1


def unchecked(roles: Roles, endpoint: Endpoint, one_model: bool) -> tuple[ModelReport, ...]:
    """The models of a server that could not be asked: not checked."""
    if one_model:  # llama.cpp serves the one model it was started with, whatever its name
        return (ModelReport("(the model it serves)", first_role(roles), endpoint=endpoint.name),)
    return tuple(ModelReport(wanted, role, endpoint=endpoint.name) for role, wanted in roles)


def endpoint_report(
    endpoint: Endpoint, roles: Roles, server: HostReport, models: tuple[ModelReport, ...]
) -> EndpointReport:
    names = tuple(dict.fromkeys(role for role, _ in roles))
    return EndpointReport(endpoint.name, endpoint.kind, names, server, models, endpoint)


def refusal(endpoint: Endpoint, model: str, found_nothing: str) -> tuple[str, str]:
    """Why the model is refused for completions, and the fix."""
    if looks_like_instruct(model):
        return (
            "an instruct (chat) model: refused for completions, it was not trained to fill in "
            "the middle (its completions ramble)",
            f"{BASE_MODEL_FIX}; keep the instruct model for reviews (review.endpoint)",
        )
    fim_setting = f"lspAssist.endpoints.{endpoint.name}.fim"
    return found_nothing, f"{BASE_MODEL_FIX}, or set {fim_setting} if you know its FIM tokens"


def fim_via(endpoint: Endpoint, template: FimTemplate, found: str) -> str:
    if endpoint.fim:
        return f"{template.family} FIM tokens (lspAssist.endpoints.{endpoint.name}.fim)"
    return f"{template.family} FIM tokens ({found})"


async def completion_verdict(
    endpoint: Endpoint,
    completion: EngineCompletion,
    settings: CompletionSettings,
    base: ModelReport,
    *,
    found: str,
    found_nothing: str,
) -> ModelReport:
    """The completion model's report: the server's own `model_plan` decides; `found` says
    where the FIM tokens were found, `found_nothing` what it means when they were not."""
    try:
        model, plan = await completion.model_plan(settings)
    except ModelWithoutFim as exc:
        problem, fix = refusal(endpoint, exc.model, found_nothing)
        return dataclasses.replace(base, fim=False, problem=problem, fix=fix)
    assert plan.template is not None  # the engine kinds always prompt with our template
    via = fim_via(endpoint, plan.template, found)
    return dataclasses.replace(base, name=model, fim=True, fim_via=via)


async def one_served_model(
    endpoint: Endpoint,
    completion: EngineCompletion,
    roles: Roles,
    settings: CompletionSettings,
    server: HostReport,
    model: str,
    context: int | None,
    note: str = "",
) -> EndpointReport:
    """llama.cpp and the embedded engine serve one model, for every role they have."""
    first = first_role(roles)
    if both_roles(roles):
        note = ", ".join(filter(None, [note, "also serves reviews"]))
    base = ModelReport(
        model, first, present=True, context_length=context, endpoint=endpoint.name, note=note
    )
    if first == "completion":
        base = await completion_verdict(
            endpoint, completion, settings, base,
            found="in its vocabulary", found_nothing=NO_FIM_TOKENS,
        )  # fmt: skip
    return endpoint_report(endpoint, roles, server, (base,))
