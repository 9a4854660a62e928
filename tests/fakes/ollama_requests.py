"""Requests to the fake Ollama: what is recorded, and what Ollama refuses before generating.

`parse_generation` and `check_generation` follow GenerateHandler/ChatHandler (server/routes.go,
v0.13.5) up to scheduling, with Ollama's status codes and exact error texts
(shared/reference/ollama-api.md §1.8): binding errors 400, an unknown model 404, raw mode with
system/template/context 400, a missing capability (`insert` for a suffix, `tools`) 400 naming the
model as `registry.ollama.ai/library/<name>:<tag>`, a mistyped option 500.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.ollama_models import FakeModel, full_model_name, model_key
from tests.fakes.ollama_wire import BindError, decode_body, go_quote, parse_keep_alive

DEFAULT_NUM_CTX = 4096  # OLLAMA_CONTEXT_LENGTH default from v0.6.0 through v0.13.x

ModelFinder = Callable[[str], "tuple[str, FakeModel] | None"]  # name -> (key, model)


@dataclass(eq=False)
class RecordedRequest:
    method: str
    path: str
    body: dict[str, Any]  # the parsed JSON body ({} if none or not a JSON object)
    headers: dict[str, str]  # lower-cased names
    disconnected: bool = False  # the client went away before the response finished
    status: int | None = None  # the HTTP status answered (None: not answered)
    output: str = ""  # generate/chat: the text actually sent, as the client would join it
    done_reason: str | None = None  # of the final chunk, if one was sent
    cached_chars: int = 0  # prompt characters reused from the model's prompt cache
    fresh_chars: int = 0  # prompt characters evaluated anew
    prompt_tokens: int = 0  # prompt_eval_count reported
    truncated: bool = False  # the prompt exceeded num_ctx (Ollama silently cuts it)
    reloaded: bool = False  # the request loaded the model (cold, or num_ctx changed)
    # The responder in place when the request arrived: it decides the reply, so a test that
    # changes the responder after seeing a request arrive does not race the fake's thread.
    responder: Any = field(default=None, repr=False, compare=False)


class ApiError(Exception):
    """A refusal: Ollama answers {"error": message} with this status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class GenerationJob:
    """One validated /api/generate or /api/chat request."""

    chat: bool
    body: dict[str, Any]
    name: str  # as the client spelled it: Ollama echoes this in "model"
    key: str
    model: FakeModel
    stream: bool
    raw: bool
    keep_alive: float
    empty: bool  # no prompt / no messages: just load (or unload) the model
    num_ctx: int
    num_predict: int
    stop: list[str]
    rendered: str  # roughly what the model sees, for token counts and the prompt cache


def int_option(options: dict[str, Any], key: str, default: int) -> int:
    value = options.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ApiError(500, f"option {go_quote(key)} must be of type integer")
    return int(value)


def stop_option(options: dict[str, Any], default: list[str]) -> list[str]:
    value = options.get("stop")
    if value is None:
        return list(default)  # the request's stop list replaces the Modelfile's
    if not isinstance(value, list):
        raise ApiError(500, 'option "stop" must be of type array')
    if not all(isinstance(item, str) for item in value):
        raise ApiError(500, 'option "stop" must be of an array of strings')
    return list(value)


def render_prompt(model: FakeModel, body: dict[str, Any], *, chat: bool) -> str:
    if chat:
        turns = [
            f"<|im_start|>{m.get('role', '')}\n{m.get('content') or ''}<|im_end|>\n"
            for m in body.get("messages") or []
        ]
        return "".join(turns) + "<|im_start|>assistant\n"
    prompt = body.get("prompt") or ""
    if body.get("raw"):
        return prompt
    if body.get("suffix"):
        return model.render_fim(prompt, body["suffix"])  # System is not passed in suffix mode
    system = body.get("system") or model.system
    return f"{system}\n{prompt}" if system else prompt


def parse_generation(raw: bytes, *, chat: bool, find: ModelFinder) -> GenerationJob:
    """Binds and checks a generate/chat body up to the model lookup (routes.go order)."""
    struct = "ChatRequest" if chat else "GenerateRequest"
    try:
        body = decode_body(raw, struct)
        keep_alive = parse_keep_alive(body.get("keep_alive"))
    except BindError as error:
        raise ApiError(400, str(error)) from None
    for message in body.get("messages") or []:
        if not isinstance(message, dict):
            raise ApiError(
                400,
                "json: cannot unmarshal string into Go struct field "
                "ChatRequest.messages of type api.Message",
            )
    name = body.get("model") or ""
    if model_key(name) is None:
        if chat:
            raise ApiError(400, "model is required")
        raise ApiError(404, f"model '{name}' not found")
    top_logprobs = body.get("top_logprobs")
    if isinstance(top_logprobs, int) and not 0 <= top_logprobs <= 20:
        raise ApiError(400, "top_logprobs must be between 0 and 20")
    found = find(name)
    if found is None:
        raise ApiError(404, f"model '{name}' not found")
    key, model = found
    return GenerationJob(
        chat=chat,
        body=body,
        name=name,
        key=key,
        model=model,
        stream=body.get("stream") is not False,  # absent means true
        raw=bool(body.get("raw")) and not chat,
        keep_alive=keep_alive,
        empty=not body.get("messages") if chat else not body.get("prompt"),
        num_ctx=0,
        num_predict=-1,
        stop=[],
        rendered=render_prompt(model, body, chat=chat),
    )


def check_generation(job: GenerationJob) -> None:
    """Raw-mode, thinking and capability refusals; fills in the runner and predict options."""
    body, model = job.body, job.model
    if not job.chat and body.get("raw"):
        if body.get("template") or body.get("system") or body.get("context"):
            raise ApiError(400, "raw mode does not support template, system, or context")
    if body.get("think") not in (None, False) and "thinking" not in model.capabilities:
        raise ApiError(400, f"{go_quote(job.name)} does not support thinking")
    wanted = []
    if not job.chat and body.get("suffix"):
        wanted.append("insert")  # checked even in raw mode
    if job.chat and body.get("tools"):
        wanted.append("tools")
    missing = [c for c in wanted if c not in model.capabilities]
    if missing:
        refusal = f"{full_model_name(job.name)} does not support " + "\n".join(missing)
        raise ApiError(400, refusal)
    options = body.get("options") or {}
    num_ctx = int_option(options, "num_ctx", DEFAULT_NUM_CTX)
    job.num_ctx = num_ctx if num_ctx > 0 else DEFAULT_NUM_CTX
    num_predict = int_option(options, "num_predict", -1)
    if num_predict < 0 or num_predict > 10 * job.num_ctx:  # llm/server.go Completion
        num_predict = 10 * job.num_ctx
    job.num_predict = num_predict
    job.stop = stop_option(options, model.stop)
