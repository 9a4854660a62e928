"""The figures of `lsp-assist stats`, per model (or endpoint) and language.

Events are joined by suggestion id; each suggestion counts once:
- shown: it was shown (or accepted, which implies it);
- accepted: in full, or in part (a word, a line) and never in full; the acceptance rate is
  both over the shown; dismissed: shown, then dismissed without any accept;
- accepted characters: the most accepted of each suggestion; retained characters: of the
  measured accepts, those still there at the measure (`retention.py`), with the characters
  measured, for the rate (an accept not measured yet counts in the first, not the second);
- latency, over the shown suggestions, from the request to the server's answer: "first" for
  suggestions a generation made (the model, or the offline engine), "type-through" for those
  answered from a live or finished generation as the user typed on (type-through, cache);
  p50/p95 by the nearest-rank method;
- generations per accepted suggestion: generations started, over suggestions accepted.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from lsp_assist.stats.events import StatsEvent

FIRST_SOURCES = frozenset({"model", "offline"})


def percentile(values: list[float], q: float) -> float | None:
    """The nearest-rank percentile `q` (0–100) of `values`, or None when there are none."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass(frozen=True)
class Latency:
    count: int
    p50_ms: float | None
    p95_ms: float | None

    @classmethod
    def of(cls, values: list[float]) -> Latency:
        return cls(len(values), percentile(values, 50), percentile(values, 95))

    def to_json(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "p50Ms": _round(self.p50_ms, 2),
            "p95Ms": _round(self.p95_ms, 2),
        }


@dataclass
class GroupStats:
    model: str
    language: str
    shown: int = 0
    accepted_full: int = 0
    accepted_partial: int = 0
    dismissed: int = 0
    accepted_chars: int = 0
    retained_chars: int = 0
    measured_chars: int = 0
    generations: int = 0
    first_ms: list[float] = field(default_factory=list)
    type_through_ms: list[float] = field(default_factory=list)

    @property
    def accepted(self) -> int:
        return self.accepted_full + self.accepted_partial

    @property
    def acceptance_rate(self) -> float | None:
        return self.accepted / self.shown if self.shown else None

    @property
    def retention_rate(self) -> float | None:
        return self.retained_chars / self.measured_chars if self.measured_chars else None

    @property
    def generations_per_accepted(self) -> float | None:
        return self.generations / self.accepted if self.accepted else None

    def absorb(self, other: GroupStats) -> None:
        for name in (
            "shown",
            "accepted_full",
            "accepted_partial",
            "dismissed",
            "accepted_chars",
            "retained_chars",
            "measured_chars",
            "generations",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.first_ms += other.first_ms
        self.type_through_ms += other.type_through_ms

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "language": self.language,
            "shown": self.shown,
            "accepted": self.accepted,
            "acceptedFull": self.accepted_full,
            "acceptedPartial": self.accepted_partial,
            "dismissed": self.dismissed,
            "acceptanceRate": _round(self.acceptance_rate, 4),
            "acceptedChars": self.accepted_chars,
            "retainedChars": self.retained_chars,
            "retentionMeasuredChars": self.measured_chars,
            "retentionRate": _round(self.retention_rate, 4),
            "latency": {
                "first": Latency.of(self.first_ms).to_json(),
                "typeThrough": Latency.of(self.type_through_ms).to_json(),
            },
            "generations": self.generations,
            "generationsPerAccepted": _round(self.generations_per_accepted, 3),
        }


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


@dataclass
class _Fate:
    """What the events say of one suggestion."""

    model: str
    language: str
    shown: bool = False
    source: str = ""
    latency_ms: float | None = None
    accepted_chars: int = 0
    full: bool = False
    partial: bool = False
    dismissed: bool = False
    measured: tuple[int, int] | None = None
    """(characters measured, retained) of the last measure."""


def aggregate(events: Iterable[StatsEvent]) -> list[GroupStats]:
    """The figures per (model, language), sorted by model then language."""
    fates: dict[str, _Fate] = {}
    generations: dict[tuple[str, str], int] = {}
    for event in events:
        if event.kind == "generations":
            key = (event.model, event.language)
            generations[key] = generations.get(key, 0) + event.count
            continue
        fate = fates.get(event.id)
        if fate is None:
            fate = fates[event.id] = _Fate(event.model, event.language)
        _apply(fate, event)
    groups: dict[tuple[str, str], GroupStats] = {}
    for fate in fates.values():
        key = (fate.model, fate.language)
        group = groups.get(key) or groups.setdefault(key, GroupStats(*key))
        _count(group, fate)
    for key, count in generations.items():
        group = groups.get(key) or groups.setdefault(key, GroupStats(*key))
        group.generations += count
    return [groups[key] for key in sorted(groups)]


def _apply(fate: _Fate, event: StatsEvent) -> None:
    kind = event.kind
    if kind == "shown":
        fate.shown = True
        fate.source = event.source
        fate.latency_ms = event.latency_ms
    elif kind in ("accepted", "partial"):
        fate.shown = True
        fate.accepted_chars = max(fate.accepted_chars, event.chars)
        fate.full = fate.full or kind == "accepted"
        fate.partial = fate.partial or kind == "partial"
    elif kind == "dismissed":
        fate.dismissed = True
    elif kind == "retained":
        fate.measured = (event.chars, min(event.retained, event.chars))


def _count(group: GroupStats, fate: _Fate) -> None:
    if not fate.shown:
        return  # only a dismissal inside the window: its suggestion was counted before it
    group.shown += 1
    if fate.full:
        group.accepted_full += 1
    elif fate.partial:
        group.accepted_partial += 1
    elif fate.dismissed:
        group.dismissed += 1
    group.accepted_chars += fate.accepted_chars
    if fate.measured is not None:
        group.measured_chars += fate.measured[0]
        group.retained_chars += fate.measured[1]
    if fate.latency_ms is not None:
        target = group.first_ms if fate.source in FIRST_SOURCES else group.type_through_ms
        target.append(fate.latency_ms)


def total(groups: Iterable[GroupStats]) -> GroupStats:
    """All groups together (model and language "*")."""
    everything = GroupStats("*", "*")
    for group in groups:
        everything.absorb(group)
    return everything
