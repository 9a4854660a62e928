"""The soak benchmark's editor: a typist working through a workspace for tens of thousands of
keystrokes, doing what an editor does to a language server over a long session.

Files are visited in turn (`soak_workspace.FILES` order). In each visit the typist jumps to a
`return` line of one of the file's functions and types a block of `Language.blocks` in front
of it, character by character, Enter putting the next line's indentation (as editors
auto-indent); then it undoes the block in one edit (`undo_p`), or keeps it. Every edit is a
keystroke, and every keystroke asks for ghost text (`textDocument/inlineCompletion`), awaited
before the next one as an editor that waits for its ghost text; so the clock runs as fast as
the server answers, with no waits of its own. Along the way:

* typos: a wrong character, Backspace, the right one (`typo_p` per character);
* bursts: three characters typed without waiting, each superseding the previous request, which
  is cancelled (`$/cancelRequest`) one time in two, as VS Code does (`burst_p`);
* shown suggestions are reported (`lspAssist/suggestionEvent` "shown"); at the end of a line,
  some are accepted (`accept_p`): in full by the item's command (VS Code) or an "accepted"
  event (Neovim), or partly ("partial");
* `textDocument/completion` every `completion_every` keystrokes, after the ghost text;
* a save every `save_every` keystrokes in a file (the text written to disk, then `didSave`:
  review on save); `lspAssist.reviewFile` every `review_every` keystrokes;
* a quick-fix request (`textDocument/codeAction`) on a finding every `code_action_every`
  keystrokes when the file has one;
* every `close_every` visits the file is saved and closed, and opened again from disk at its
  next visit;
* every `settings_every` keystrokes a settings change (`workspace/didChangeConfiguration`),
  in turn: completion and review knobs, context exclusions, the Ollama timeout (a new HTTP
  client: the old one is closed 30 s later), back to the initial settings.

The client says what VS Code says of what matters here (`CAPABILITIES`): it shows progress
(reviews report theirs) and the server pulls its settings (`workspace/configuration`).

Each awaited ghost-text request is recorded: its keystroke number, the time to its answer,
and, when a suggestion came, the `lspAssist/status` "ready" sent just before the answer (its
`source` and `backendMs`).
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from soak_workspace import SoakFile

from lsp_assist.lsp_client import LspClient, utf16_position

SETTINGS_CHANGES: tuple[dict[str, Any], ...] = (
    {"completion": {"temperature": 0.3, "maxTokens": 40}, "review": {"idleMs": 800}},
    {"context": {"exclude": ["*.min.js", "vendor/"]}},
    {"ollama": {"timeoutS": 45}},
    {},
)
STATUSES_KEPT = 2000
"""The client's list of statuses is counted and emptied past this length."""


@dataclass
class Plan:
    keystrokes: int
    completion_every: int = 10
    save_every: int = 150
    review_every: int = 5000
    code_action_every: int = 250
    close_every: int = 25
    settings_every: int = 2500
    typo_p: float = 0.03
    burst_p: float = 0.02
    accept_p: float = 0.15
    undo_p: float = 0.7
    timeout_s: float = 30.0


@dataclass
class Sample:
    keystroke: int
    ms: float
    source: str | None
    """The "ready" status's source ("model", "type-through", "cache", "offline"); None when
    no suggestion came."""
    backend_ms: float


CAPABILITIES: dict[str, Any] = {
    "general": {"positionEncodings": ["utf-16"]},
    "window": {"workDoneProgress": True, "showMessage": {}},
    "workspace": {
        "configuration": True,
        "didChangeConfiguration": {"dynamicRegistration": True},
        "didChangeWatchedFiles": {"dynamicRegistration": True},
    },
    "textDocument": {
        "synchronization": {"didSave": True},
        "inlineCompletion": {},
        "completion": {"completionItem": {"snippetSupport": False}},
        "codeAction": {},
        "publishDiagnostics": {},
    },
}
"""What the client says it can do, as VS Code does for what matters here: progress reports
(reviews show theirs), settings pulled by the server (`workspace/configuration`)."""


class SoakClient(LspClient):
    """The lean client, counting every request it sends and every answer, able to send a
    request without awaiting it (and cancel it), and answering the server's own requests as an
    editor does: its settings, progress tokens, registrations."""

    def __init__(self) -> None:
        super().__init__(lambda message: self.messages.append(message))
        self.messages: list[str] = []
        self.sent: Counter[str] = Counter()
        self.answered: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()
        self.states: Counter[str] = Counter()
        self.server_requests: Counter[str] = Counter()
        self.settings: dict[str, Any] = {}
        """The `lspAssist` section of the workspace's settings (over the initial options)."""
        self._methods: dict[int, str] = {}

    async def initialize(self, root_uri: str, options: dict[str, Any], timeout: float) -> None:
        params = {
            "processId": None,
            "rootUri": root_uri,
            "clientInfo": {"name": "lsp-assist soak"},
            "capabilities": CAPABILITIES,
            "initializationOptions": options,
        }
        await self.request("initialize", params, timeout)
        self.notify("initialized", {})

    def change_settings(self, section: dict[str, Any]) -> None:
        """New settings: the server is told, and pulls them."""
        self.settings = section
        self.notify("workspace/didChangeConfiguration", {"settings": None})

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def send(self, method: str, params: Any) -> tuple[int, asyncio.Future[Any]]:
        self._next_id += 1
        request_id = self._next_id
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        self._methods[request_id] = method
        self.sent[method] += 1
        self._send({"id": request_id, "method": method, "params": params})
        return request_id, future

    def cancel(self, request_id: int) -> None:
        self.notify("$/cancelRequest", {"id": request_id})

    def _dispatch(self, message: dict[str, Any]) -> None:
        method = message.get("method")
        if method is not None and "id" in message:  # the server asks
            self.server_requests[method] += 1
            result: Any = None
            if method == "workspace/configuration":
                items = (message.get("params") or {}).get("items") or [{}]
                result = [self.settings if i.get("section") == "lspAssist" else None for i in items]
            self._send({"id": message["id"], "result": result})
            return
        if method is None:
            method = self._methods.pop(message.get("id", -1), None)
            if method is not None:
                self.answered[method] += 1
                if "error" in message:
                    self.errors[f"{method} {message['error'].get('code')}"] += 1
        super()._dispatch(message)

    @property
    def unanswered(self) -> int:
        return len(self._methods)

    def count_statuses(self, keep: int = 0) -> None:
        """Counts the statuses received so far by state, and forgets them if more than
        `keep`."""
        if len(self.statuses) > keep:
            self.states.update(str(s.get("state")) for s in self.statuses)
            self.statuses.clear()


@dataclass
class OpenFile:
    soak: SoakFile
    uri: str
    path: Path
    open: bool = True
    since_save: int = 0
    saved_text: str = ""


@dataclass
class Shown:
    """The last suggestion shown: where, its text and id."""

    uri: str
    offset: int
    text: str
    id: str | None


@dataclass
class Typist:
    client: SoakClient
    files: list[OpenFile]
    plan: Plan
    rng: random.Random
    on_keystroke: Callable[[int], Awaitable[None]]
    keystrokes: int = 0
    samples: list[Sample] = field(default_factory=list)
    events: Counter[str] = field(default_factory=Counter)
    timeouts: int = 0
    _shown: Shown | None = None
    _settings_turn: int = 0
    _checked: int = 0

    @property
    def done(self) -> bool:
        return self.keystrokes >= self.plan.keystrokes

    def open_all(self) -> None:
        for file in self.files:
            self.client.open(file.uri, file.soak.text, file.soak.language.language_id)
            file.saved_text = file.soak.text

    async def run(self) -> None:
        visit = 0
        while not self.done:
            file = self.files[visit % len(self.files)]
            if not file.open:
                text = file.path.read_text(encoding="utf-8")
                self.client.open(file.uri, text, file.soak.language.language_id)
                file.open = True
                self.events["reopened"] += 1
            await self._visit(file)
            visit += 1
            if visit % self.plan.close_every == 0 and not self.done:
                self._save(file)
                self.client.close(file.uri)
                file.open = False
                self.events["closed"] += 1
        self.client.count_statuses()

    # -- one visit ------------------------------------------------------------------------------

    async def _visit(self, file: OpenFile) -> None:
        lang = file.soak.language
        text = self.client.documents[file.uri].text
        anchors = _return_lines(text, lang.ret)
        if not anchors:
            return
        line_start, indentation = self.rng.choice(anchors)
        start = cursor = line_start + len(indentation)
        block = self.rng.choice(lang.blocks)
        self.events["blocks"] += 1
        for index, (_level, line) in enumerate(block):
            cursor = await self._type_line(file, cursor, line)
            if self.done:
                return
            if self._shown is not None and self._shown.offset == cursor:
                if self.rng.random() < self.plan.accept_p:
                    cursor = await self._accept(file, cursor, self._shown)
            following = block[index + 1][0] if index + 1 < len(block) else 0
            cursor = await self._key(
                file, cursor, cursor, "\n" + indentation + lang.indent * following
            )
            if self.done:
                return
        if self.rng.random() < self.plan.undo_p:
            await self._key(file, start, cursor, "")  # undo the block in one edit
            self.events["undone"] += 1

    async def _type_line(self, file: OpenFile, cursor: int, line: str) -> int:
        at = 0
        while at < len(line) and not self.done:
            if self.rng.random() < self.plan.burst_p and len(line) - at >= 3:
                cursor = await self._burst(file, cursor, line[at : at + 3])
                at += 3
                continue
            if self.rng.random() < self.plan.typo_p:
                cursor = await self._key(file, cursor, cursor, self.rng.choice("qxz"))
                cursor = await self._key(file, cursor - 1, cursor, "")  # Backspace
                self.events["typos"] += 1
            cursor = await self._key(file, cursor, cursor, line[at])
            at += 1
        return cursor

    # -- keystrokes -----------------------------------------------------------------------------

    async def _key(
        self,
        file: OpenFile,
        start: int,
        end: int,
        text: str,
        after_edit: Callable[[], Awaitable[None]] | None = None,
    ) -> int:
        """One keystroke: the edit, then (after `after_edit`) the ghost text, awaited."""
        cursor = self.client.replace(file.uri, start, end, text)
        self.keystrokes += 1
        file.since_save += 1
        if after_edit is not None:
            await after_edit()
        await self._inline(file, cursor)
        await self._after_keystroke(file, cursor)
        return cursor

    async def _inline(self, file: OpenFile, cursor: int) -> None:
        self.client.count_statuses(keep=STATUSES_KEPT)
        seen = len(self.client.statuses)
        loop = asyncio.get_running_loop()
        started = loop.time()
        _, answer = self.client.send(
            "textDocument/inlineCompletion", self._inline_params(file, cursor)
        )
        try:
            result = await asyncio.wait_for(answer, self.plan.timeout_s)
        except asyncio.TimeoutError:
            self.timeouts += 1
            return
        ms = (loop.time() - started) * 1000
        item = _first_item(result)
        ready = [s for s in self.client.statuses[seen:] if s.get("state") == "ready"]
        status = ready[-1] if ready and item is not None else {}
        source = status.get("source") if item is not None else None
        self.samples.append(
            Sample(self.keystrokes, ms, source, float(status.get("backendMs") or 0.0))
        )
        if item is None:
            self._shown = None
            return
        text, suggestion_id = item
        self._shown = Shown(file.uri, cursor, text, suggestion_id)
        if suggestion_id is not None:
            self._event(suggestion_id, "shown")

    async def _burst(self, file: OpenFile, cursor: int, chars: str) -> int:
        """Characters typed faster than the answers come: each request supersedes the one
        before, which is cancelled one time in two."""
        waiting: list[asyncio.Future[Any]] = []
        previous: int | None = None
        for char in chars:
            cursor = self.client.replace(file.uri, cursor, cursor, char)
            self.keystrokes += 1
            file.since_save += 1
            if previous is not None and self.rng.random() < 0.5:
                self.client.cancel(previous)
                self.events["cancelled"] += 1
            previous, answer = self.client.send(
                "textDocument/inlineCompletion", self._inline_params(file, cursor)
            )
            waiting.append(answer)
        try:
            await asyncio.wait_for(asyncio.gather(*waiting), self.plan.timeout_s)
        except asyncio.TimeoutError:
            self.timeouts += 1
        self._shown = None
        self.events["bursts"] += 1
        await self._after_keystroke(file, cursor)
        return cursor

    async def _accept(self, file: OpenFile, cursor: int, shown: Shown) -> int:
        """Accepts the suggestion shown at the cursor, in one of the three ways clients do."""
        how = ("command", "event", "partial")[self.events["accepted"] % 3]
        self.events["accepted"] += 1
        text = shown.text if how != "partial" else shown.text[: max(1, len(shown.text) // 2)]

        async def report() -> None:
            if shown.id is None:
                return
            if how == "command":
                await self._request(
                    "workspace/executeCommand",
                    {"command": "lspAssist.suggestionAccepted", "arguments": [{"id": shown.id}]},
                )
            else:
                units = len(text.encode("utf-16-le")) // 2
                self._event(shown.id, "accepted" if how == "event" else "partial", units)

        return await self._key(file, cursor, cursor, text, after_edit=report)

    def _reached(self, every: int) -> bool:
        """Whether the keystrokes since the last check passed a multiple of `every` (a burst
        counts several at once)."""
        return self.keystrokes // every > self._checked // every

    async def _after_keystroke(self, file: OpenFile, cursor: int) -> None:
        plan, k = self.plan, self.keystrokes
        if self._reached(plan.completion_every):
            position = utf16_position(self.client.documents[file.uri].text, cursor)
            await self._request(
                "textDocument/completion",
                {
                    "textDocument": {"uri": file.uri},
                    "position": position,
                    "context": {"triggerKind": 1},
                },
            )
        if self._reached(plan.code_action_every) and self.client.diagnostics.get(file.uri):
            diagnostic = self.client.diagnostics[file.uri][0]
            await self._request(
                "textDocument/codeAction",
                {
                    "textDocument": {"uri": file.uri},
                    "range": diagnostic["range"],
                    "context": {"diagnostics": [diagnostic]},
                },
            )
        if file.since_save >= plan.save_every:
            self._save(file)
        if self._reached(plan.review_every):
            await self._request(
                "workspace/executeCommand",
                {"command": "lspAssist.reviewFile", "arguments": [file.uri]},
                timeout=120,
            )
        if self._reached(plan.settings_every):
            change = SETTINGS_CHANGES[self._settings_turn % len(SETTINGS_CHANGES)]
            self._settings_turn += 1
            self.client.change_settings(change)
            self.events["settings_changed"] += 1
        self._checked = k
        await self.on_keystroke(k)

    # -- the rest of an editor ------------------------------------------------------------------

    def _save(self, file: OpenFile) -> None:
        text = self.client.documents[file.uri].text
        file.path.write_text(text, encoding="utf-8")
        self.client.notify("textDocument/didSave", {"textDocument": {"uri": file.uri}})
        file.since_save = 0
        self.events["saved"] += 1

    async def _request(self, method: str, params: Any, timeout: float | None = None) -> Any:
        _, answer = self.client.send(method, params)
        try:
            return await asyncio.wait_for(answer, timeout or self.plan.timeout_s)
        except asyncio.TimeoutError:
            self.timeouts += 1
            return None

    def _event(self, suggestion_id: str, kind: str, chars: int | None = None) -> None:
        params: dict[str, Any] = {"id": suggestion_id, "kind": kind}
        if chars is not None:
            params["acceptedChars"] = chars
        self.client.notify("lspAssist/suggestionEvent", params)
        self.events[f"event_{kind}"] += 1

    def _inline_params(self, file: OpenFile, cursor: int) -> dict[str, Any]:
        return {
            "textDocument": {"uri": file.uri},
            "position": utf16_position(self.client.documents[file.uri].text, cursor),
            "context": {"triggerKind": 2},
        }


def _return_lines(text: str, ret: str) -> list[tuple[int, str]]:
    """(line start offset, indentation) of each line that is `ret` at some indentation."""
    found = []
    start = 0
    for line in text.split("\n"):
        body = line.lstrip(" \t")
        if body == ret and len(body) < len(line):
            found.append((start, line[: len(line) - len(body)]))
        start += len(line) + 1
    return found


def _first_item(result: Any) -> tuple[str, str | None] | None:
    """(insert text, suggestion id) of an inline completion answer's first item."""
    items = result.get("items") if isinstance(result, dict) else result
    if not items:
        return None
    item = items[0]
    text = item.get("insertText")
    if isinstance(text, dict):
        text = text.get("value")
    if not isinstance(text, str):
        return None
    arguments = (item.get("command") or {}).get("arguments") or [{}]
    suggestion_id = arguments[0].get("id") if isinstance(arguments[0], dict) else None
    return text, suggestion_id
