"""GGUF models for the embedded engine: which ones we know, and where pulled ones live.

Nothing is ever downloaded unless the user runs `lsp-assist models pull` (see `model_pull.py`).
Pulled files live in the user's cache directory (`$XDG_CACHE_HOME/lsp-assist/models`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

MODELS_URL_ENV = "LSP_ASSIST_MODELS_URL"
"""Where `models pull` downloads from instead of Hugging Face (a mirror inside a company)."""
HUGGING_FACE = "https://huggingface.co"


@dataclass(frozen=True)
class KnownModel:
    name: str
    repo: str
    """The Hugging Face repository (llama.cpp's own ggml-org FIM builds, as llama.vim uses)."""
    file: str
    size_mb: int
    sha256: str = ""
    """The file's checksum, when we have it pinned; else Hugging Face's own (the `X-Linked-Etag`
    of a Git LFS file is its sha256) is checked."""
    about: str = ""

    def url(self) -> str:
        base = os.environ.get(MODELS_URL_ENV, "").rstrip("/") or HUGGING_FACE
        return f"{base}/{self.repo}/resolve/main/{self.file}"


CATALOG: tuple[KnownModel, ...] = (
    KnownModel(
        "qwen2.5-coder-1.5b-q8",
        "ggml-org/Qwen2.5-Coder-1.5B-Q8_0-GGUF",
        "qwen2.5-coder-1.5b-q8_0.gguf",
        1650,
        about="the default: good single- and multi-line completions on a laptop CPU",
    ),
    KnownModel(
        "qwen2.5-coder-0.5b-q8",
        "ggml-org/Qwen2.5-Coder-0.5B-Q8_0-GGUF",
        "qwen2.5-coder-0.5b-q8_0.gguf",
        530,
        about="the fastest: for older machines",
    ),
    KnownModel(
        "qwen2.5-coder-3b-q8",
        "ggml-org/Qwen2.5-Coder-3B-Q8_0-GGUF",
        "qwen2.5-coder-3b-q8_0.gguf",
        3290,
        about="better suggestions for a machine with 8 cores or more",
    ),
)
DEFAULT_MODEL = CATALOG[0].name


def known_model(name: str) -> KnownModel | None:
    return next((model for model in CATALOG if model.name == name), None)


def models_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return Path(base) / "lsp-assist" / "models"


def pulled_models() -> list[Path]:
    """The GGUF files in the models directory, the catalog's in its order first."""
    folder = models_dir()
    if not folder.is_dir():
        return []
    files = {path.name: path for path in folder.glob("*.gguf") if path.is_file()}
    ordered = [files.pop(model.file) for model in CATALOG if model.file in files]
    return ordered + sorted(files.values())


def default_model_path() -> Path | None:
    """The model the embedded engine loads when its endpoint names none: the first pulled."""
    pulled = pulled_models()
    return pulled[0] if pulled else None
