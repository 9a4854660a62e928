"""What a model server says about an answer, in one shape for every kind of server."""

from __future__ import annotations

import time
from dataclasses import dataclass, field


@dataclass
class GenerationStats:
    """What the server's final chunk says about the work it did (durations in ms)."""

    done: bool = False
    done_reason: str = ""
    prompt_eval_count: int = 0
    """Prompt tokens the engine evaluated (not taken from its prompt cache)."""
    prompt_cached: int = 0
    """Prompt tokens it reused from its cache (llama.cpp and vLLM say; Ollama does not)."""
    prompt_eval_ms: float = 0.0
    eval_count: int = 0
    eval_ms: float = 0.0
    total_ms: float = 0.0
    ttft_ms: float = 0.0
    started: float = field(default_factory=time.perf_counter)


@dataclass
class ChatAnswer:
    content: str = ""
    done: bool = False
    done_reason: str = ""
    """"stop", or "length" when `num_predict` cut it short."""
    backend_ms: float = 0.0
    """The server's own time for the answer."""
