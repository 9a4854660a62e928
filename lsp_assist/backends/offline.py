"""Completions from the offline engine (the workspace's own code), as a backend like any other:
its one-line suggestion is a generation that streams in a single piece, so type-through, the
cache and the status treat it as they treat a model's."""

from __future__ import annotations

from collections.abc import AsyncIterator

from lsp_assist.backends.answers import GenerationStats
from lsp_assist.backends.base import CompletionJob, PreparedGeneration
from lsp_assist.completion.cursor import CursorContext
from lsp_assist.completion.generation import GenerationPlan
from lsp_assist.completion.typethrough import CursorKey
from lsp_assist.config import CompletionSettings
from lsp_assist.offline.engine import ENGINE_LABEL, OfflineEngine
from lsp_assist.syntax import introduces_syntax_errors


class OfflineCompletion:
    name = "offline"
    local = True

    def __init__(self, engine: OfflineEngine) -> None:
        self.engine = engine

    async def prepare(self, job: CompletionJob) -> PreparedGeneration | None:
        snapshot, offset = job.snapshot, job.offset
        text = self.engine.suggest_line(snapshot.text, offset, snapshot.language.name, snapshot.uri)
        if not text or introduces_syntax_errors(snapshot, offset, text):
            return None
        plan = GenerationPlan(
            uri=snapshot.uri,
            key=CursorKey.at(snapshot.text, offset),
            cursor=CursorContext.of(snapshot, offset),
            multiline=False,
            language=snapshot.language,
            prompt_chars=0,
            prompt_ms=0.0,
        )

        async def one_piece(stats: GenerationStats) -> AsyncIterator[str]:
            stats.done = True
            stats.done_reason = "stop"
            yield text

        return PreparedGeneration(
            plan=plan, open_stream=one_piece, source="offline", label=ENGINE_LABEL
        )

    async def preload(self, settings: CompletionSettings) -> None:
        return None

    async def probe(self) -> bool:
        return True

    async def close(self) -> None:
        return None
