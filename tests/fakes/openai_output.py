"""What the fake vLLM "generates" for one request, cut the way vLLM's engine cuts it.

A `Reply` scripts the answer (text, timing, faults mid-stream). `plan_output` then applies what
vLLM's engine and incremental detokenizer do to the model's tokens (vllm/v1/engine/detokenizer.py):

* one engine step per token piece, one stream chunk per step, even when its text is "";
* `stop` strings: the first one found ends generation, `finish_reason` "stop" and `stop_reason`
  the string; it and everything after it are dropped. While the request has stop strings, the
  last `max(len(stop)) - 1` characters are held back until the request finishes
  (`stop_buffer_length`), so a chunk may carry text produced steps earlier;
* `max_tokens`: after that many tokens, "length"; the last piece rides in the final chunk;
* otherwise the model emits EOS after the text: a final chunk with no text, "stop",
  `stop_reason` null, and the EOS token counts in `completion_tokens`.

Tokens are the fake's: one prompt token per character (so `max_model_len` and `cached_tokens`
are in characters), and token-like pieces of the reply (see `split_pieces`) for the output.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

# Token-like pieces: a newline alone, else leading spaces plus up to 4 other characters.
_PIECE = re.compile(r"\n|[^\S\n]*\S{1,4}|[^\S\n]+")


@dataclass
class Reply:
    """What the fake answers to one /v1/completions or /v1/chat/completions request."""

    text: str = ""  # the model's output, split into token-like pieces
    pieces: list[str] | None = None  # exact token pieces (then `text` is ignored)
    ttft: float | None = None  # seconds from the accepted request to the first token
    token_delay: float | None = None  # seconds between tokens (a trickle: make it large)
    drop_after: int | None = None  # hang up mid-body after this many token chunks
    omit_done: bool = False  # end the body cleanly with no final chunk, usage or [DONE]
    # After the text, one `data: {error}` event, then `data: [DONE]` (vLLM's GenerationError)
    midstream_error: str = ""
    # Non-200: refuse with vLLM's error body and this status, as the engine would (after
    # `ttft` only if one is given here).
    status: int = 200
    error: str = ""

    def token_pieces(self) -> list[str]:
        return list(self.pieces) if self.pieces is not None else split_pieces(self.text)


def split_pieces(text: str) -> list[str]:
    """Token-like pieces that concatenate back to `text`."""
    return _PIECE.findall(text)


@dataclass
class OutputPlan:
    deltas: list[str] = field(default_factory=list)  # text of each chunk before the final one
    final_delta: str = ""  # text of the final chunk (the one with finish_reason)
    finish_reason: str = "stop"
    stop_reason: str | None = None
    completion_tokens: int = 0

    @property
    def text(self) -> str:
        return "".join(self.deltas) + self.final_delta

    @property
    def steps(self) -> int:
        """Engine steps up to and including the final chunk (each one `token_delay` apart)."""
        return len(self.deltas) + 1


def plan_output(pieces: Sequence[str], *, stop: Sequence[str], max_tokens: int) -> OutputPlan:
    stops = [s for s in stop if s]
    hold_back = max((len(s) for s in stops), default=1) - 1
    plan = OutputPlan()
    output, released = "", 0
    for index, piece in enumerate(pieces):
        output += piece
        used = index + 1
        cuts = [position for s in stops if (position := output.find(s)) >= 0]
        if cuts:
            first = min(cuts)
            plan.stop_reason = next(s for s in stops if output.find(s) == first)
            output = output[:first]
            plan.finish_reason = "stop"
        elif used >= max_tokens:
            plan.finish_reason = "length"
        else:
            end = max(released, len(output) - hold_back)
            plan.deltas.append(output[released:end])
            released = end
            continue
        plan.final_delta = output[released:]
        plan.completion_tokens = used
        return plan
    plan.final_delta = output[released:]  # the EOS step flushes what was held back
    plan.completion_tokens = len(pieces) + 1
    return plan


def render_chat(messages: list[dict[str, Any]]) -> str:
    """Roughly what a ChatML chat template makes of the messages (for token counts only)."""
    turns = [f"<|im_start|>{m.get('role', '')}\n{message_text(m)}<|im_end|>\n" for m in messages]
    return "".join(turns) + "<|im_start|>assistant\n"


def message_text(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, list):  # content parts: [{"type": "text", "text": ...}]
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return content if isinstance(content, str) else ""


class PrefixCache:
    """vLLM's automatic prefix caching, per model: KV blocks of `block_size` tokens hashed by
    their whole prefix, kept for earlier requests' prompts and outputs (least recently used
    first out), matched only at full-block boundaries, and never the prompt's last token, which
    is always computed anew (docs.vllm.ai/en/latest/design/prefix_caching)."""

    def __init__(self, block_size: int, capacity: int = 64) -> None:
        self.block_size = block_size
        self._sequences: deque[str] = deque(maxlen=capacity)

    def cached_tokens(self, prompt: str) -> int:
        best = max((_common_prefix(prompt, seen) for seen in self._sequences), default=0)
        best = min(best, max(len(prompt) - 1, 0))
        return best - best % self.block_size

    def remember(self, sequence: str) -> None:
        self._sequences.append(sequence)

    def clear(self) -> None:
        self._sequences.clear()


def _common_prefix(a: str, b: str) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i
