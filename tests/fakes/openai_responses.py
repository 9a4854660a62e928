"""The JSON objects of vLLM's completion and chat responses, with vLLM's field order.

Stream chunks are pydantic models dumped with `exclude_unset` (serving_completion.py,
serving_chat.py), so a chunk carries only what was set: a completion chunk always has
`stop_reason`, a chat chunk only the final one; the first chat chunk carries the role.
"""

from __future__ import annotations

import time
from typing import Any

from tests.fakes.openai_output import OutputPlan
from tests.fakes.openai_wire import random_id


def usage(prompt_tokens: int, completion_tokens: int, cached_tokens: int | None) -> dict[str, Any]:
    """UsageInfo; `cached_tokens` None when --enable-prompt-tokens-details is off."""
    value: dict[str, Any] = {
        "prompt_tokens": prompt_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
        "completion_tokens": completion_tokens,
    }
    if cached_tokens is not None:
        value["prompt_tokens_details"] = {"cached_tokens": cached_tokens}
    return value


class ResponseShapes:
    """The objects of one response: one id and creation time for all its chunks."""

    def __init__(self, chat: bool, model: str) -> None:
        self.chat = chat
        self.head = {
            "id": random_id("chatcmpl" if chat else "cmpl"),
            "object": "chat.completion.chunk" if chat else "text_completion",
            "created": int(time.time()),
            "model": model,
        }

    def first(self) -> dict[str, Any]:
        choice = {"index": 0, "delta": {"role": "assistant", "content": ""}, "logprobs": None}
        return self.head | {"choices": [choice | {"finish_reason": None}]}

    def piece(self, text: str, finish: tuple[str, str | None] | None) -> dict[str, Any]:
        if self.chat:
            choice: dict[str, Any] = {"index": 0, "delta": {"content": text}, "logprobs": None}
        else:
            choice = {"index": 0, "text": text, "logprobs": None}
        choice["finish_reason"] = finish[0] if finish else None
        if finish or not self.chat:
            choice["stop_reason"] = finish[1] if finish else None
        return self.head | {"choices": [choice]}

    def usage(self, usage: dict[str, Any]) -> dict[str, Any]:
        return self.head | {"choices": [], "usage": usage}

    def whole(self, plan: OutputPlan, usage: dict[str, Any]) -> dict[str, Any]:
        ending = {"finish_reason": plan.finish_reason, "stop_reason": plan.stop_reason}
        if self.chat:
            message = {"role": "assistant", "reasoning_content": None, "content": plan.text}
            choice = {"index": 0, "message": message | {"tool_calls": []}, "logprobs": None}
            head = self.head | {"object": "chat.completion"}
            return head | {"choices": [choice | ending], "usage": usage, "prompt_logprobs": None}
        choice = {"index": 0, "text": plan.text, "logprobs": None} | ending
        return self.head | {"choices": [choice | {"prompt_logprobs": None}], "usage": usage}
