"""Plays fuzz sequences (`fuzz_sequences.py`) against `lsp-assist serve` over stdio, and checks
what LSP promises after each: the server's text, version, line index and tree are those of the
client's buffer (`lspAssist.debug.documentState`), every request got an answer (a result, or a
cancellation) in its own coordinates, and the server is alive and logged no error.

The client is `fuzz_pipe.py`'s. A server that died is started again for the next sequence, so
that one crash is one failure.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from tests.e2e.fuzz_model import Position, offset_at
from tests.e2e.fuzz_pipe import ANSWER_TIMEOUT_S, Answer, JsonRpcPipe, ServerGone, capabilities
from tests.e2e.fuzz_sequences import (
    CODE_ACTION,
    COMPLETION,
    FLAGGED,
    INLINE,
    Ask,
    Change,
    Check,
    Open,
    Review,
    Save,
    Sequence,
)
from tests.fakes.fake_ollama import Reply
from tests.fakes.review_script import ReviewRule, is_review_call, scripted_review

SERVER_COMMAND = [sys.executable, "-m", "lsp_assist", "serve"]
DOCUMENT_STATE = "lspAssist.debug.documentState"
REVIEW_FILE = "lspAssist.reviewFile"
CANCELLED = (-32800, -32801)  # RequestCancelled, ContentModified: answers all the same


# The reviewer finds fault with every `return x` (a line of the generator's code) and offers a
# fix, so that findings follow the fuzzed edits and code actions carry edits to check.
REVIEW_RULES = [ReviewRule(FLAGGED)]
FIX_OLD, FIX_NEW = "return x", "return (x)"


def fuzz_reply(body: dict[str, Any]) -> Reply:
    """The fake Ollama's answers: "pass" to completions, the scripted review to reviews."""
    if not is_review_call(body):
        return Reply(text="pass")
    answer = json.loads(scripted_review(body, REVIEW_RULES))
    for finding in answer["findings"]:
        finding["fix_old"], finding["fix_new"] = FIX_OLD, FIX_NEW
    return Reply(text=json.dumps(answer))


# -- outcomes -------------------------------------------------------------------------------


@dataclass
class Failure:
    kind: str  # crash, text, version, line index, tree, unanswered, error answer, misplaced…
    detail: str


@dataclass
class Outcome:
    edits: int = 0
    full_edits: int = 0
    requests: Counter[str] = field(default_factory=Counter)
    cancelled: int = 0
    fixes: int = 0
    slowest_s: float = 0.0
    warnings: Counter[str] = field(default_factory=Counter)
    failures: list[Failure] = field(default_factory=list)

    def fail(self, kind: str, detail: str) -> None:
        self.failures.append(Failure(kind, detail))

    def report(self, sequence: Sequence) -> str:
        failures = "\n".join(f"{f.kind}: {f.detail}" for f in self.failures)
        return f"{failures}\nsequence ({sequence.encoding}):\n{sequence.describe()}"


def _difference(server: str, client: str) -> str:
    at = next(
        (i for i, (a, b) in enumerate(zip(server, client, strict=False)) if a != b),
        min(len(server), len(client)),
    )
    return (
        f"server {len(server)} chars, client {len(client)}; first difference at {at}: "
        f"server {server[max(0, at - 20) : at + 20]!r}, "
        f"client {client[max(0, at - 20) : at + 20]!r}"
    )


def _position(value: dict[str, int]) -> Position:
    return value["line"], value["character"]


def check_answer(ask: Ask, version: int, answer: Answer, outcome: Outcome, encoding: str) -> None:
    if answer.error is not None:
        if answer.error.get("code") in CANCELLED:
            outcome.cancelled += 1
        else:
            outcome.fail("error answer", f"{ask.method} at {ask.range}: {answer.error}")
        return
    result = answer.result
    if ask.method == CODE_ACTION:
        if result is not None and not isinstance(result, list):
            outcome.fail("bad answer", f"{ask.method}: {result!r:.200}")
            return
        for action in result or []:
            check_fix(ask, version, action, outcome, encoding)
        return
    if ask.method == INLINE:
        items = result.get("items") if isinstance(result, dict) else result
        ends = [item.get("range") for item in items or [] if isinstance(item, dict)]
        places = [p for r in ends if r for p in (_position(r["start"]), _position(r["end"]))]
    else:
        if not isinstance(result, dict) or not isinstance(result.get("items"), list):
            outcome.fail("bad answer", f"{ask.method}: {result!r:.200}")
            return
        edits = [item.get("textEdit") for item in result["items"]]
        places = [_position(e["range"]["end"]) for e in edits if e and "range" in e]
    for place in places:
        if place != ask.expected:
            outcome.fail("misplaced answer", f"{ask.method} at {ask.range}: {place}")


def check_fix(ask: Ask, version: int, action: Any, outcome: Outcome, encoding: str) -> None:
    """A quick fix edits the version it was asked in, and replaces the code it names."""
    changes = (action.get("edit") or {}).get("documentChanges") or []
    if changes:
        outcome.fixes += 1
    for change in changes:
        if change["textDocument"].get("version") != version:
            outcome.fail("misplaced fix", f"version {change['textDocument']}, asked in {version}")
        text = ask.text or ""
        for edit in change["edits"]:
            start = offset_at(text, _position(edit["range"]["start"]), encoding)
            end = offset_at(text, _position(edit["range"]["end"]), encoding)
            if text[start:end] not in (FIX_OLD, FIX_OLD.strip()):
                outcome.fail("misplaced fix", f"{edit} replaces {text[start:end]!r}")


# -- one server -----------------------------------------------------------------------------


class FuzzServer:
    """`lsp-assist serve` for one encoding, started again after a crash."""

    def __init__(
        self,
        host: str,
        encoding: str,
        settings: dict[str, Any] | None = None,
        command: list[str] | None = None,
    ) -> None:
        self.host = host
        self.encoding = encoding
        self.command = command or SERVER_COMMAND
        self.settings = {"ollama": {"host": host}, "completion": {"debounceMs": 0}}
        self.settings.update(settings or {})
        self.pipe: JsonRpcPipe | None = None
        self.starts = 0

    async def start(self) -> None:
        env = {**os.environ, "LSP_ASSIST_DEBUG_COMMANDS": "1"}
        self.pipe = await JsonRpcPipe.start(self.command, env)
        self.starts += 1
        answer = await self.pipe.call(
            "initialize",
            {
                "processId": os.getpid(),
                "rootUri": "file:///workspace",
                "capabilities": capabilities(self.encoding),
                "initializationOptions": self.settings,
            },
        )
        negotiated = (answer.result or {}).get("capabilities", {}).get("positionEncoding")
        if negotiated != self.encoding:
            raise AssertionError(f"asked for {self.encoding}, the server chose {negotiated}")
        self.pipe.notify("initialized", {})

    async def stop(self) -> None:
        if self.pipe is not None:
            await self.pipe.stop()
            self.pipe = None

    async def run(self, sequence: Sequence, uri: str) -> Outcome:
        """Plays `sequence` on a new document `uri` and checks it."""
        if self.pipe is None or not self.pipe.alive:
            if self.pipe is not None:
                await self.pipe.kill()
            await self.start()
        pipe = self.pipe
        assert pipe is not None
        outcome = Outcome()
        seen_records = len(pipe.records)
        try:
            await self._play(pipe, sequence, uri, outcome)
            pipe.notify("textDocument/didClose", {"textDocument": {"uri": uri}})
            await pipe.call("workspace/executeCommand", {"command": DOCUMENT_STATE})
        except ServerGone as gone:
            outcome.fail("crash", str(gone))
            await pipe.kill()  # gone, or hung: the next sequence starts a new one
        for level, record in pipe.records[seen_records:]:
            if level in ("ERROR", "CRITICAL", "OUTPUT"):
                outcome.fail("server error", record)
            elif level == "WARNING":
                outcome.warnings[record.split("\n")[0][:120]] += 1
        return outcome

    async def _play(self, pipe: JsonRpcPipe, sequence: Sequence, uri: str, out: Outcome) -> None:
        document = {"uri": uri}
        version = 0
        pending: list[tuple[Ask, int, float, asyncio.Future[Answer]]] = []
        for op in sequence.ops:
            if isinstance(op, Open):
                if op.reopen:
                    pipe.notify("textDocument/didClose", {"textDocument": document})
                version = 1
                item = {**document, "languageId": op.language_id, "version": 1, "text": op.text}
                pipe.notify("textDocument/didOpen", {"textDocument": item})
            elif isinstance(op, Change):
                version += 1
                changes = [
                    {"text": edit.text}
                    if edit.range is None
                    else {"range": _lsp_range(edit.range), "text": edit.text}
                    for edit in op.edits
                ]
                out.edits += len(changes)
                out.full_edits += sum(1 for edit in op.edits if edit.range is None)
                pipe.notify(
                    "textDocument/didChange",
                    {"textDocument": {**document, "version": version}, "contentChanges": changes},
                )
            elif isinstance(op, Ask):
                out.requests[op.method] += 1
                params = _request_params(op, document)
                request = pipe.request(op.method, params)
                pending.append((op, version, time.perf_counter(), request))
            elif isinstance(op, Save):
                pipe.notify("textDocument/didSave", {"textDocument": document})
            elif isinstance(op, Review):
                out.requests["reviewFile"] += 1
                params = {"command": REVIEW_FILE, "arguments": [uri]}
                answer = await pipe.call("workspace/executeCommand", params)
                if answer.error is not None or not isinstance(answer.result, dict):
                    out.fail("error answer", f"{REVIEW_FILE}: {answer.error or answer.result}")
            elif isinstance(op, Check):
                out.requests["documentState"] += 1
                await self._check(pipe, uri, op.text, version, out)
            await pipe.drain()
        if pending:
            await asyncio.wait([future for *_, future in pending], timeout=ANSWER_TIMEOUT_S)
        for ask, asked_in, sent, future in pending:
            if not future.done():
                out.fail("unanswered", f"{ask.method} at {ask.range}")
            elif (gone := future.exception()) is not None:
                raise ServerGone(str(gone))
            else:
                answer = future.result()
                out.slowest_s = max(out.slowest_s, answer.at - sent)
                check_answer(ask, asked_in, answer, out, self.encoding)

    @staticmethod
    async def _check(pipe: JsonRpcPipe, uri: str, text: str, version: int, out: Outcome) -> None:
        params = {"command": DOCUMENT_STATE, "arguments": [uri]}
        answer = await pipe.call("workspace/executeCommand", params)
        state = answer.result
        if answer.error is not None or not isinstance(state, dict):
            out.fail("text", f"no state of the document: {answer.error or state}")
            return
        if state["text"] != text:
            out.fail("text", _difference(state["text"], text))
        if state["version"] != version:
            out.fail("version", f"server {state['version']}, client {version}")
        if not state["lineIndex"]["matchesFresh"]:
            out.fail("line index", f"{state['lineIndex']}, text {text[:80]!r}")
        tree = state["tree"]
        if tree is not None and not tree["matches"]:
            out.fail("tree", f"the incrementally parsed tree differs from a fresh parse: {tree}")


def _lsp_range(range_: tuple[Position, Position]) -> dict[str, Any]:
    (start_line, start_character), (end_line, end_character) = range_
    return {
        "start": {"line": start_line, "character": start_character},
        "end": {"line": end_line, "character": end_character},
    }


def _request_params(ask: Ask, document: dict[str, str]) -> dict[str, Any]:
    range_ = _lsp_range(ask.range)
    if ask.method == CODE_ACTION:
        return {"textDocument": document, "range": range_, "context": {"diagnostics": []}}
    params: dict[str, Any] = {"textDocument": document, "position": range_["start"]}
    if ask.method == INLINE:
        params["context"] = {"triggerKind": 2}  # automatic, as while typing
    elif ask.method == COMPLETION:
        params["context"] = {"triggerKind": 1}
    return params
