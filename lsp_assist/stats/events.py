"""One line of the stats log: a typed event, written as a small JSON object.

Every event names the suggestion's model label and language, so that a line can be counted on
its own (a `--days` window may hold an accept whose `shown` line is older). Fields that do not
apply to a kind are left out of the line. Nothing here can hold code: the fields are lengths,
counts, timings, ids and names.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal, get_args

EventKind = Literal["shown", "accepted", "partial", "dismissed", "retained", "generations"]
KINDS: frozenset[str] = frozenset(get_args(EventKind))

FORMAT_VERSION = 1


@dataclass(frozen=True)
class StatsEvent:
    kind: EventKind
    time: float
    """Unix time, seconds."""
    model: str
    """The model or endpoint that made the suggestion (the engine's label)."""
    language: str
    id: str = ""
    """The suggestion's id (empty for `generations`)."""
    source: str = ""
    """`shown`: "model", "offline", "type-through" or "cache"."""
    latency_ms: float | None = None
    """`shown`: the server's time from the request to its answer."""
    chars: int = 0
    """`shown`: the suggestion's length; `accepted`/`partial`: characters accepted so far;
    `retained`: the accepted characters that were measured."""
    retained: int = 0
    """`retained`: of `chars`, how many are still in the document."""
    after_s: float = 0.0
    """`retained`: seconds between the accept and the measure."""
    count: int = 0
    """`generations`: generations started for this model and language."""

    def to_json(self) -> str:
        line: dict[str, Any] = {
            "v": FORMAT_VERSION,
            "t": round(self.time, 3),
            "e": self.kind,
            "model": self.model,
            "lang": self.language,
        }
        if self.id:
            line["id"] = self.id
        if self.source:
            line["source"] = self.source
        if self.latency_ms is not None:
            line["ms"] = round(self.latency_ms, 2)
        if self.kind != "generations" and self.kind != "dismissed":
            line["chars"] = self.chars
        if self.kind == "retained":
            line["retained"] = self.retained
            line["after_s"] = round(self.after_s, 2)
        if self.kind == "generations":
            line["n"] = self.count
        return json.dumps(line, ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_json(cls, line: str) -> StatsEvent | None:
        """The event of one line, or None for a line this version cannot read (a torn last
        line after a crash, a newer format): skipped, never fatal."""
        try:
            raw = json.loads(line)
            if not isinstance(raw, dict) or raw.get("v") != FORMAT_VERSION:
                return None
            kind = raw["e"]
            if kind not in KINDS:
                return None
            latency = raw.get("ms")
            return cls(
                kind=kind,
                time=float(raw["t"]),
                model=str(raw["model"]),
                language=str(raw["lang"]),
                id=str(raw.get("id", "")),
                source=str(raw.get("source", "")),
                latency_ms=float(latency) if latency is not None else None,
                chars=int(raw.get("chars", 0)),
                retained=int(raw.get("retained", 0)),
                after_s=float(raw.get("after_s", 0.0)),
                count=int(raw.get("n", 0)),
            )
        except (ValueError, KeyError, TypeError):
            return None
