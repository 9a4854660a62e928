"""What the fake model "generates" for one request, and how Ollama would cut it into chunks.

A `Reply` scripts the answer (text, timing, faults). `plan_output` then applies what Ollama's
runner does to the model's tokens (runner/ollamarunner/runner.go, llm/server.go):

* `options.stop`: the first stop string found ends generation; it and everything after it is
  dropped, `done_reason` is "stop". While the pending text could still be the start of a stop
  string it is held back, so one chunk may carry several tokens.
* `options.num_predict` (> 0): after that many tokens generation ends with "length".
* Otherwise the model "emits EOS" after the text: "stop", and the EOS token counts in
  `eval_count`, as in Ollama.
* The token-repeat guard: more than 30 consecutive chunks with the same trimmed text end the
  stream with no final chunk and no error.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

# Token-like pieces: a newline alone, else leading spaces plus up to 4 other characters.
_PIECE = re.compile(r"\n|[^\S\n]*\S{1,4}|[^\S\n]+")
REPEAT_LIMIT = 30  # llm/server.go: `if tokenRepeat > 30` aborts the prediction
CHARS_PER_TOKEN = 3
VOCAB_SIZE = 151643


@dataclass
class Reply:
    """What the fake answers to one /api/generate or /api/chat request."""

    text: str = ""  # the model's output, split into token-like pieces
    ttft: float | None = None  # seconds before the first chunk (headers withheld); None = default
    token_delay: float | None = None  # seconds between pieces; None = the server default
    # Non-200: answer {"error": error} with this status instead of streaming (after `ttft`
    # only if one is given here: scheduler refusals such as 503 are immediate).
    status: int = 200
    error: str = ""
    # With a non-200 `status`, what something in front of Ollama answers instead (a proxy's
    # 429 with `Retry-After`, a redirect's `Location`, a web page): extra headers, and this
    # body (of `content_type`) instead of Ollama's {"error": error}.
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None
    content_type: str = "application/json; charset=utf-8"
    midstream_error: str = ""  # after the text, one NDJSON line {"error": ...} and the stream ends
    drop_connection: bool = False  # after the text, close the socket mid-body
    omit_final_chunk: bool = False  # end the chunked body cleanly with no done:true chunk
    done_reason: str | None = None  # override; default "stop" or "length" as computed
    text_in_final_chunk: bool = False  # the last piece rides in the done chunk (newer Ollama)
    pieces: list[str] | None = None  # exact token pieces (then `text` is ignored)
    # Sent as scripted even if the request's `format` grammar could not have produced it: a
    # model that does not honour the format (ollama/ollama#8063). By default a scripted
    # answer under a format must be one a grammar-constrained model could send
    # (see ollama_format).
    ignores_format: bool = False

    def token_pieces(self) -> list[str]:
        if self.pieces is not None:
            return list(self.pieces)
        return split_pieces(self.text)


def split_pieces(text: str) -> list[str]:
    """Token-like pieces that concatenate back to `text`."""
    return _PIECE.findall(text)


@dataclass
class Chunk:
    text: str
    last_piece: int  # index of the last token piece this chunk carries (sets its send time)


@dataclass
class OutputPlan:
    chunks: list[Chunk] = field(default_factory=list)
    done_reason: str = "stop"
    eval_count: int = 0
    repeat_guard: bool = False  # Ollama's token-repeat guard cut the stream (no final chunk)
    eos: bool = False  # the model ended the text itself (not a stop string or num_predict)

    @property
    def text(self) -> str:
        return "".join(chunk.text for chunk in self.chunks)


def _stop_cut(text: str, stops: Sequence[str]) -> int | None:
    positions = [position for stop in stops if (position := text.find(stop)) >= 0]
    return min(positions) if positions else None


def _may_become_stop(text: str, stops: Sequence[str]) -> bool:
    """Whether `text` ends with a proper prefix of some stop string (common.ContainsStopSuffix)."""
    return any(text.endswith(stop[:i]) for stop in stops for i in range(1, len(stop)))


def plan_output(pieces: Sequence[str], *, stop: Sequence[str], num_predict: int) -> OutputPlan:
    stops = [s for s in stop if s]
    plan = OutputPlan()
    pending, used, ended = "", 0, "eos"
    for index, piece in enumerate(pieces):
        used += 1
        pending += piece
        if (cut := _stop_cut(pending, stops)) is not None:
            pending, ended = pending[:cut], "stop"
            break
        if not _may_become_stop(pending, stops):
            plan.chunks.append(Chunk(pending, index))
            pending = ""
        if num_predict > 0 and used >= num_predict:
            ended = "length"
            break
    if pending:  # removeSequence flushes what was held back
        plan.chunks.append(Chunk(pending, used - 1))
    plan.done_reason = "length" if ended == "length" else "stop"
    plan.eos = ended == "eos"
    plan.eval_count = used + (1 if ended == "eos" else 0)
    _apply_repeat_guard(plan)
    return plan


def _apply_repeat_guard(plan: OutputPlan) -> None:
    last, repeats = None, 0
    for index, chunk in enumerate(plan.chunks):
        trimmed = chunk.text.strip()
        repeats = repeats + 1 if trimmed == last else 0
        last = trimmed
        if repeats > REPEAT_LIMIT:
            del plan.chunks[index:]
            plan.repeat_guard = True
            return


def count_tokens(text: str) -> int:
    """The fake tokenizer's count: about three characters a token."""
    return -(-len(text) // CHARS_PER_TOKEN)


def fake_token_ids(text: str) -> list[int]:
    """Stable made-up token ids for `context` (one per three characters)."""
    return [
        int.from_bytes(text[i : i + CHARS_PER_TOKEN].encode(), "little") % VOCAB_SIZE
        for i in range(0, len(text), CHARS_PER_TOKEN)
    ]
