"""What review remembers across restarts: answers by content hash, and dismissals.

Both live as small JSON files in the state directory (`$XDG_STATE_HOME/lsp-assist`, or
`~/.local/state/lsp-assist`), written atomically, readable by the user only (the cache quotes
their code: `private_files`). `writer()` takes a copy of what is to be written and returns the
write itself, so the copy is taken where the state changes (the loop) and the serialising and
the disk run elsewhere (the worker).

The answer cache is keyed by everything that decides the answer — unit, context, model,
prompt and schema versions, options — so saving unchanged code never costs a model call, even
after a restart.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lsp_assist.positions import utf8
from lsp_assist.private_files import write_private
from lsp_assist.review.prompt import PROMPT_VERSION
from lsp_assist.review.schema import SCHEMA_VERSION, RawFinding, finding_from_json

log = logging.getLogger(__name__)

MAX_CACHED_ANSWERS = 5000


def default_state_dir() -> Path:
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "lsp-assist"


def review_key(
    *, unit_fingerprint: str, context: str, header: str, model: str, options: dict[str, Any]
) -> str:
    parts = [
        unit_fingerprint,
        hashlib.sha256(utf8(f"{header}\x00{context}")).hexdigest(),
        model,
        f"prompt-v{PROMPT_VERSION}",
        f"schema-v{SCHEMA_VERSION}",
        json.dumps(options, sort_keys=True),
    ]
    return hashlib.sha256(utf8("\x00".join(parts))).hexdigest()


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        log.warning("review state %s unreadable (%s); starting afresh", path, exc)
        return None


def _write_json(path: Path, value: Any) -> None:
    try:
        write_private(path, json.dumps(value))
    except OSError as exc:
        log.warning("could not save review state to %s: %s", path, exc)


class ReviewCache:
    """Validated (not yet placed) findings per review key, least recently used first out."""

    def __init__(self, path: Path | None) -> None:
        self._path = path
        self._answers: OrderedDict[str, list[dict[str, Any]]] = OrderedDict()
        stored = _read_json(path) if path is not None else None
        if isinstance(stored, dict):
            for key, findings in stored.items():
                if isinstance(findings, list):
                    self._answers[key] = findings

    def get(self, key: str) -> list[RawFinding] | None:
        stored = self._answers.get(key)
        if stored is None:
            return None
        self._answers.move_to_end(key)
        return [f for f in map(finding_from_json, stored) if f is not None]

    def put(self, key: str, findings: list[RawFinding]) -> None:
        self._answers[key] = [f.to_json() for f in findings]
        self._answers.move_to_end(key)
        while len(self._answers) > MAX_CACHED_ANSWERS:
            self._answers.popitem(last=False)

    def writer(self) -> Callable[[], None]:
        """The write of the cache as it is now (the stored lists are never mutated, only
        replaced, so a shallow copy is a consistent one)."""
        return _writer(self._path, dict(self._answers))

    def save(self) -> None:
        self.writer()()


def dismissal_key(unit_fingerprint: str, evidence: str, category: str) -> str:
    text = f"{unit_fingerprint}\x00{' '.join(evidence.split())}\x00{category}"
    return hashlib.sha256(utf8(text)).hexdigest()


class Dismissals:
    """Findings the user dismissed, keyed by (unit hash, evidence, category): the same remark
    about the same code never comes back; about changed code it may."""

    def __init__(self, path: Path | None) -> None:
        self._path = path
        stored = _read_json(path) if path is not None else None
        self._keys: set[str] = set(stored) if isinstance(stored, list) else set()

    def __contains__(self, key: str) -> bool:
        return key in self._keys

    def add(self, key: str) -> None:
        """Remembers `key` in memory; `writer()`/`save()` put it on disk."""
        self._keys.add(key)

    def writer(self) -> Callable[[], None]:
        return _writer(self._path, sorted(self._keys))

    def save(self) -> None:
        self.writer()()


def _writer(path: Path | None, value: Any) -> Callable[[], None]:
    def write() -> None:
        if path is not None:
            _write_json(path, value)

    return write
