"""What the completion engine needs from a backend — and nothing about which one it is.

A backend turns a cursor in a snapshot into a `PreparedGeneration`: the plan (what the answer
is for, how to clean it up) and a stream factory that yields the text. The engine schedules,
caches and answers from generations without knowing whether the text comes from a model server
(Ollama, llama.cpp, an OpenAI-compatible server, the embedded engine) or from the offline
engine. Backends are tried in route order: one that cannot be reached (`BackendUnavailable`)
passes the request to the next.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from lsp_assist.completion.generation import GenerationPlan, StreamFactory
from lsp_assist.config import CompletionSettings
from lsp_assist.documents import TextView
from lsp_assist.prompts.templates import ContextFile

Source = Literal["model", "type-through", "cache", "prefetch", "offline"]
"""Where a suggestion came from, as the status and the demo show it."""


@dataclass(frozen=True)
class CompletionJob:
    """One cursor to complete, in one snapshot."""

    snapshot: TextView
    offset: int
    settings: CompletionSettings
    context_files: Sequence[ContextFile] = ()
    repo_name: str = ""


@dataclass(frozen=True)
class PreparedGeneration:
    plan: GenerationPlan
    open_stream: StreamFactory
    source: Source
    label: str
    """Who answers, for completion items and the status ("lsp-assist · qwen2.5-coder…")."""


class CompletionBackend(Protocol):
    name: str
    """"ollama", "offline", … — for logs and routing."""

    @property
    def local(self) -> bool:
        """Whether it runs on this machine (prefetching is on by default only then)."""
        ...

    async def prepare(self, job: CompletionJob) -> PreparedGeneration | None:
        """The generation for `job`, or None when there is nothing to ask. Raises a
        `BackendError` (`BackendUnavailable` passes the job to the next backend)."""
        ...

    async def preload(self, settings: CompletionSettings) -> None:
        """Gets the model ready so that the first keystroke does not pay for loading it."""
        ...

    async def probe(self) -> bool:
        """Whether the backend answers now (used to take it back after a failure)."""
        ...

    async def close(self) -> None: ...
