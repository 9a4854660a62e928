"""Simulated editors for `team_load.py`: each types a block of lines of its own file again
(`team_corpus.py`) at a human pace and asks for ghost text after every keystroke (Enter
included), without waiting for the answer (as an editor does).

Two kinds of editor, the same keystrokes:

* `ProcessEditor`: a real `lsp-assist serve` over stdio (the lean client of `lsp_client.py`):
  the whole path, LSP included, one server process per editor;
* `InProcessEditor`: lsp-assist's own classes in this process (`LlamaCppClient` +
  `EngineCompletion` + `CompletionEngine` on a `Document`): the same request path minus LSP
  and the workspace context, which also gives each generation's own engine timings
  (`timings.prompt_n` / `cache_n` of its final event).

The pace is seeded: a keystroke every 1/`cps` seconds, each gap drawn between 0.6 and 1.4 times
that; after a word, one time in five, a pause of 0.6 to 1.2 s; at the end of each line a pause
of 1 s before Enter. Each editor starts at a random moment of the first second.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from latency_support import BenchServer
from team_corpus import Block, block_edits, find_blocks, module_source

from lsp_assist.backends.answers import GenerationStats
from lsp_assist.backends.llamacpp import LlamaCppClient

TEAM_MODULES = (
    "argparse", "difflib", "inspect", "logging", "tarfile", "zipfile", "ast", "dataclasses",
    "typing", "subprocess", "pydoc", "collections", "email.message", "asyncio.base_events",
    "configparser", "shutil", "pathlib", "pickle", "threading", "calendar",
)  # fmt: skip
"""One standard-library module per editor (the first N)."""
WORD_PAUSE_P = 0.2
WORD_PAUSE_S = (0.6, 1.2)
LINE_PAUSE_S = 1.0


@dataclass
class Keystroke:
    editor: int
    sent: float
    """time.perf_counter() when the keystroke was typed (its request sent right after)."""
    answered: float | None = None
    next_sent: float | None = None
    """When this editor typed on (its next keystroke or edit), None at the end."""
    before_pause: bool = False
    shown: bool = False
    """A suggestion came back (not None)."""

    @property
    def ms(self) -> float | None:
        return None if self.answered is None else (self.answered - self.sent) * 1000

    @property
    def in_time(self) -> bool:
        """Answered before the editor typed on: the answer could be shown."""
        if self.answered is None:
            return False
        return self.next_sent is None or self.answered <= self.next_sent


class Editor(Protocol):
    index: int

    async def start(self, settings: dict[str, Any]) -> None: ...
    def open(self, name: str, text: str) -> None: ...
    def replace(self, start: int, end: int, text: str) -> int: ...
    def ask(self, offset: int) -> asyncio.Task[str | None]: ...
    async def stop(self) -> None: ...


class ProcessEditor:
    def __init__(self, index: int) -> None:
        self.index = index
        self.server = BenchServer()
        self.uri = ""

    async def start(self, settings: dict[str, Any]) -> None:
        await self.server.start(settings, timeout=120)

    def open(self, name: str, text: str) -> None:
        self.uri = self.server.uri(name)
        self.server.client.open(self.uri, text, "python")

    def replace(self, start: int, end: int, text: str) -> int:
        return self.server.client.replace(self.uri, start, end, text)

    def ask(self, offset: int) -> asyncio.Task[str | None]:
        request = self.server.client.inline_completion(self.uri, offset, timeout=120)
        return asyncio.get_running_loop().create_task(request)

    async def stop(self) -> None:
        await self.server.stop()

    @property
    def pid(self) -> int | None:
        return self.server.pid


class RecordingLlamaCpp(LlamaCppClient):
    """lsp-assist's llama.cpp client, keeping each generation's stats once its stream ends
    (those closed before the final event have no engine timings: `done` is False)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.generations: list[GenerationStats] = []

    async def stream_generate(
        self,
        *,
        model: str,
        prompt: str,
        options: Mapping[str, Any],
        stats: GenerationStats,
        suffix: str | None = None,
        raw: bool = True,
    ) -> AsyncIterator[str]:
        try:
            async for piece in super().stream_generate(
                model=model, prompt=prompt, options=options, stats=stats, suffix=suffix, raw=raw
            ):
                yield piece
        finally:
            self.generations.append(stats)


class InProcessEditor:
    def __init__(self, index: int) -> None:
        self.index = index
        self.messages: list[str] = []
        self.client: RecordingLlamaCpp | None = None

    async def start(self, settings: dict[str, Any]) -> None:
        from lsp_assist.backends.engine_completion import EngineCompletion
        from lsp_assist.completion.engine import CompletionEngine
        from lsp_assist.config import parse_settings
        from lsp_assist.errors import FaultNotifier

        parsed, problems = parse_settings(settings)
        if problems:
            raise ValueError(f"bad settings: {problems}")
        endpoint = parsed.completion_endpoints[0]
        self.client = RecordingLlamaCpp(endpoint, slot=endpoint.slot)
        backend = EngineCompletion(endpoint, self.client)
        self.engine = CompletionEngine(
            route=lambda: [backend],
            settings=lambda: parsed.completion,
            notifier=FaultNotifier(lambda _severity, message: self.messages.append(message)),
        )
        await backend.preload(parsed.completion)

    def open(self, name: str, text: str) -> None:
        from lsp_assist.documents import Document

        self.document = Document(f"file:///team/{name}", text, language_id="python")

    def replace(self, start: int, end: int, text: str) -> int:
        self.document.replace(start, end, text)
        return start + len(text)

    def ask(self, offset: int) -> asyncio.Task[str | None]:
        snapshot = self.document.snapshot()  # now, as the server takes it on arrival

        async def request() -> str | None:
            suggestion = await self.engine.suggest(snapshot, offset)
            return suggestion.text if suggestion is not None else None

        return asyncio.get_running_loop().create_task(request())

    async def stop(self) -> None:
        await self.engine.shutdown()
        if self.client is not None:
            await self.client.close()


@dataclass
class Typist:
    """One editor's keystrokes on its file."""

    editor: Editor
    module: str
    block: Block
    chars: int
    cps: float
    rng: random.Random
    keystrokes: list[Keystroke] = field(default_factory=list)

    @classmethod
    def for_editor(cls, editor: Editor, args: Any, seed: int) -> Typist:
        module = TEAM_MODULES[editor.index % len(TEAM_MODULES)]
        source = module_source(module)
        editor.open(f"{module.replace('.', '_')}.py", source)
        [block] = find_blocks(source, 1, args.lines)
        return cls(editor, module, block, args.chars, args.cps, random.Random(seed))

    async def type(self) -> None:
        await asyncio.sleep(self.rng.uniform(0, 1.0))
        answers: list[asyncio.Future[None]] = []
        last: Keystroke | None = None
        for edit in block_edits(self.block, self.chars):
            if edit.kind == "enter" or (edit.kind is None and last is not None):
                await self._line_end(last)  # the user looks before Enter, pasting, restoring
                last = None
            offset = self.editor.replace(edit.start, edit.end, edit.text)
            if edit.kind is None:
                continue
            last = Keystroke(self.editor.index, time.perf_counter())
            self.keystrokes.append(last)
            answers.append(asyncio.ensure_future(self._answer(last, self.editor.ask(offset))))
            pause = self._pause_after(edit.text)
            last.before_pause = pause > 0
            await asyncio.sleep(self.rng.uniform(0.6, 1.4) / self.cps + pause)
            last.next_sent = time.perf_counter()
        await asyncio.gather(*answers)

    async def _line_end(self, last: Keystroke | None) -> None:
        if last is None:
            return
        last.before_pause = True
        await asyncio.sleep(LINE_PAUSE_S)
        last.next_sent = time.perf_counter()

    def _pause_after(self, typed: str) -> float:
        if typed == " " and self.rng.random() < WORD_PAUSE_P:
            return self.rng.uniform(*WORD_PAUSE_S)
        return 0.0

    @staticmethod
    async def _answer(keystroke: Keystroke, request: asyncio.Task[str | None]) -> None:
        text = await request
        keystroke.answered = time.perf_counter()
        keystroke.shown = text is not None
