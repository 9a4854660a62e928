"""Requests to the fake vLLM: what is recorded, and what vLLM refuses before generating.

`parse_generation` follows vLLM's order for /v1/completions and /v1/chat/completions: the
pydantic request model (types, `stream_options` only with `stream`, one kind of guided
decoding), the model lookup (404 "The model `x` does not exist."), `suffix` (400 "suffix is not
currently supported"), the context length (400 "This model's maximum context length is N
tokens..."), sampling parameters, then the structured-output request (`openai_structured`).
Texts are vLLM's (vllm/entrypoints/openai/*); anything vLLM would accept but the fake cannot
model is a 500 whose message starts with "fake vLLM:", so a test never passes by accident.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.openai_output import render_chat
from tests.fakes.openai_structured import Constraint, ServerBehaviour, structured_output
from tests.fakes.openai_wire import ApiError, pydantic_errors

COMPLETIONS = "/v1/completions"
CHAT = "/v1/chat/completions"
GENERATION_PATHS = (COMPLETIONS, CHAT)
DEFAULT_COMPLETION_MAX_TOKENS = 16  # CompletionRequest.max_tokens' default, when omitted


@dataclass
class ServedModel:
    """One `--served-model-name` of the fake server."""

    id: str
    max_model_len: int = 32768
    root: str | None = None  # the model path it was loaded from (default: the id)
    created: int = field(default_factory=lambda: int(time.time()))

    def card(self) -> dict[str, Any]:
        """An entry of GET /v1/models, as vLLM's ModelCard dumps it."""
        permission = {
            "id": f"modelperm-{uuid.uuid4().hex}",
            "object": "model_permission",
            "created": self.created,
            "allow_create_engine": False,
            "allow_sampling": True,
            "allow_logprobs": True,
            "allow_search_indices": False,
            "allow_view": True,
            "allow_fine_tuning": False,
            "organization": "*",
            "group": None,
            "is_blocking": False,
        }
        return {
            "id": self.id,
            "object": "model",
            "created": self.created,
            "owned_by": "vllm",
            "root": self.root or self.id,
            "parent": None,
            "max_model_len": self.max_model_len,
            "permission": [permission],
        }


@dataclass(eq=False)
class RecordedRequest:
    method: str
    path: str  # without the query string
    headers: dict[str, str]  # lower-cased names
    body: dict[str, Any]  # the parsed JSON body ({} if none or not a JSON object)
    status: int | None = None  # the HTTP status answered (None: nothing sent yet)
    fault: str | None = None  # the scripted fault that answered it: "status", "redirect", ...
    hung: bool = False  # a scripted hang held it before its first byte
    streamed: bool = False  # an SSE stream was opened for it
    disconnected: bool = False  # the client went away before the response was complete
    completed: bool = False  # the response was sent to its end
    output: str = ""  # the text sent, as the client would join it
    finish_reason: str | None = None  # of the final chunk, if one was sent
    prompt_tokens: int = 0
    cached_tokens: int = 0  # prompt tokens served from the prefix cache
    guided_by: str | None = None  # what constrained the output (see structured_output)
    schema: Any = None  # the JSON schema the output was held to (None: none)
    ignored: list[str] = field(default_factory=list)  # parameters this vLLM silently ignored
    responder: Any = field(default=None, repr=False)  # in place when the request arrived

    @property
    def authorization(self) -> str | None:
        return self.headers.get("authorization")


@dataclass
class GenerationJob:
    chat: bool
    body: dict[str, Any]
    model: ServedModel
    stream: bool
    include_usage: bool
    stop: list[str]
    max_tokens: int
    prompt: str  # what the model sees, one token per character
    constraint: Constraint = field(default_factory=Constraint)


def _wrong_type(loc: tuple[Any, ...], expected: str, value: Any) -> ApiError:
    kind = {"string": "string_type", "integer": "int_type", "boolean": "bool_type"}
    msg = f"Input should be a valid {expected}"
    return ApiError(400, pydantic_errors((kind.get(expected, "type_error"), loc, msg, value)))


def _check_types(body: dict[str, Any], chat: bool) -> None:
    required = "messages" if chat else "prompt"
    if required not in body:
        raise ApiError(400, pydantic_errors(("missing", (required,), "Field required", body)))
    for key in ("max_tokens", "max_completion_tokens", "seed", "n"):
        expected = "integer"
        value = body.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise _wrong_type((key,), expected, value)
    for key in ("stream", "echo"):
        if body.get(key) is not None and not isinstance(body[key], bool):
            raise _wrong_type((key,), "boolean", body[key])
    for key in ("temperature", "top_p"):
        value = body.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise _wrong_type((key,), "number", value)
    stop = body.get("stop")
    if stop is not None and not isinstance(stop, str):
        if not isinstance(stop, list) or not all(isinstance(s, str) for s in stop):
            raise _wrong_type(("stop",), "string", stop)
    if body.get("stream_options") and not body.get("stream"):
        raise ApiError(
            400, "Stream options can only be defined when `stream=True`.", param="stream_options"
        )


def parse_generation(
    body: dict[str, Any], *, chat: bool, models: list[ServedModel], behaviour: ServerBehaviour
) -> GenerationJob:
    _check_types(body, chat)
    name = body.get("model")
    model = models[0] if name is None and models else None
    model = next((m for m in models if m.id == name), model)
    if model is None:
        raise ApiError(404, f"The model `{name}` does not exist.", param="model")
    if not chat and body.get("suffix") is not None:
        raise ApiError(400, "suffix is not currently supported")
    job = GenerationJob(
        chat=chat,
        body=body,
        model=model,
        stream=bool(body.get("stream")),
        include_usage=_include_usage(body),
        stop=[body["stop"]] if isinstance(body.get("stop"), str) else list(body.get("stop") or []),
        max_tokens=0,
        prompt=_prompt(body, chat),
    )
    job.max_tokens = _max_tokens(body, chat, model, len(job.prompt))
    _check_sampling(body)
    job.constraint = structured_output(body, behaviour)
    return job


def _include_usage(body: dict[str, Any]) -> bool:
    options = body.get("stream_options")
    if not isinstance(options, dict):
        return False
    return options.get("include_usage", True) is not False  # StreamOptions' default is True


def _prompt(body: dict[str, Any], chat: bool) -> str:
    if chat:
        messages = body["messages"]
        if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
            raise _wrong_type(("messages",), "list of messages", messages)
        return render_chat(messages)
    prompt = body["prompt"]
    if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], str):
        prompt = prompt[0]
    if not isinstance(prompt, str):
        raise ApiError(500, "fake vLLM: only a single string `prompt` is supported")
    if not prompt:
        raise ApiError(400, "Either prompt or prompt_embeds must be provided and non-empty.")
    return prompt


def _max_tokens(body: dict[str, Any], chat: bool, model: ServedModel, prompt_len: int) -> int:
    limit = model.max_model_len
    if prompt_len >= limit:
        raise ApiError(
            400,
            f"This model's maximum context length is {limit} tokens. However, your request "
            f"has {prompt_len} input tokens. Please reduce the length of the input messages.",
            param="input_tokens",
        )
    if chat:
        wanted = body.get("max_completion_tokens", body.get("max_tokens"))
    else:
        wanted = body.get("max_tokens", DEFAULT_COMPLETION_MAX_TOKENS)
    if wanted is None:
        return limit - prompt_len
    if wanted < 1:
        raise ApiError(400, f"max_tokens must be at least 1, got {wanted}.", param="max_tokens")
    if prompt_len + wanted > limit:
        raise ApiError(
            400,
            f"'max_tokens' or 'max_completion_tokens' is too large: {wanted}. This model's "
            f"maximum context length is {limit} tokens and your request has {prompt_len} "
            f"input tokens ({wanted} > {limit} - {prompt_len}).",
            param="max_tokens",
        )
    return int(wanted)


def _check_sampling(body: dict[str, Any]) -> None:
    """SamplingParams._verify_args, for the parameters a completion client sends."""
    temperature, top_p = body.get("temperature"), body.get("top_p")
    if temperature is not None and temperature < 0:
        raise ApiError(400, f"temperature must be non-negative, got {temperature}.")
    if top_p is not None and not 0 < top_p <= 1:
        raise ApiError(400, f"top_p must be in (0, 1], got {top_p}.")
