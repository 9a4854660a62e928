"""A token n-gram model of the workspace's code: what usually comes next after these tokens.

For every position in every file the model counts which symbol (see `tokens`) followed the
preceding 0, 1, 2 and 3 symbols — its *contexts*. Prediction uses stupid backoff (Brants et al.,
2007): a symbol seen after the longest matching context scores `count / total` there; one seen
only after a shorter context scores the same ratio there, times `BACKOFF` per order dropped.
It needs no normalisation, which keeps incremental training trivial, and it is deterministic:
ties are broken by the symbol itself.

Training is per file so an edited file can be re-trained: the model keeps each file's symbols
and subtracts their counts before adding the new ones. Memory is bounded by `max_contexts`;
when it is exceeded the rarest contexts (longest first among equals) are pruned down to 90 % of
the cap, so pruning is occasional rather than on every file. A pruned context may later be
re-created by another file, so subtracting a file is clamped at zero: the counts stay
approximate only in what was already forgotten.
"""

from __future__ import annotations

from dataclasses import dataclass

from lsp_assist.offline.tokens import NEWLINE, STRING_PLACEHOLDER

ORDER = 4
"""Predict from up to ORDER - 1 preceding symbols."""
BACKOFF = 0.4
DEFAULT_MAX_CONTEXTS = 200_000
_RANKED_CANDIDATES = 8
"""How many of a context's continuations are considered when nothing is typed yet."""

Context = tuple[str, ...]


@dataclass(frozen=True)
class Prediction:
    symbol: str
    score: float
    """Stupid-backoff score: count / total in the context it was found in, times backoff."""
    count: int
    """How often it followed that context."""
    context_length: int
    """How many preceding symbols matched (0 = unigram)."""


class _Continuations:
    """What followed one context, with counts; ranked lazily because training mutates it."""

    __slots__ = ("counts", "total", "_ranked")

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}
        self.total = 0
        self._ranked: list[tuple[str, int]] | None = None

    def add(self, symbol: str, delta: int) -> None:
        count = self.counts.get(symbol, 0) + delta
        if count > 0:
            self.counts[symbol] = count
            self.total += delta
        elif symbol in self.counts:
            self.total -= self.counts.pop(symbol)
        self._ranked = None

    def ranked(self) -> list[tuple[str, int]]:
        if self._ranked is None:
            self._ranked = sorted(self.counts.items(), key=lambda item: (-item[1], item[0]))
        return self._ranked


class NgramModel:
    def __init__(self, *, order: int = ORDER, max_contexts: int = DEFAULT_MAX_CONTEXTS) -> None:
        self.order = order
        self.max_contexts = max_contexts
        self._contexts: dict[Context, _Continuations] = {}
        self._files: dict[str, tuple[str, ...]] = {}

    # -- training ---------------------------------------------------------------------------

    @property
    def context_count(self) -> int:
        """Contexts stored: the model's size."""
        return len(self._contexts)

    @property
    def files(self) -> list[str]:
        return sorted(self._files)

    def add_file(self, uri: str, symbols: list[str]) -> None:
        """Trains on one file's symbols, replacing what was learnt from it before."""
        self.remove_file(uri)
        self._files[uri] = tuple(symbols)
        self._count(symbols, +1)
        if len(self._contexts) > self.max_contexts:
            self._prune()

    def remove_file(self, uri: str) -> None:
        """Forgets one file's counts."""
        symbols = self._files.pop(uri, None)
        if symbols is not None:
            self._count(list(symbols), -1)

    def _count(self, symbols: list[str], delta: int) -> None:
        contexts = self._contexts
        longest = self.order - 1
        for index, symbol in enumerate(symbols):
            for length in range(min(index, longest) + 1):
                context = tuple(symbols[index - length : index])
                continuations = contexts.get(context)
                if continuations is None:
                    if delta < 0:
                        continue  # pruned earlier: nothing left to subtract
                    continuations = contexts[context] = _Continuations()
                continuations.add(symbol, delta)
                if continuations.total <= 0 and context:
                    del contexts[context]

    def _prune(self) -> None:
        target = int(self.max_contexts * 0.9)
        # Rarest first; among equally rare, longest first: short contexts back off for them.
        candidates = sorted(
            (key for key in self._contexts if key),
            key=lambda key: (self._contexts[key].total, -len(key), key),
        )
        for key in candidates[: max(0, len(self._contexts) - target)]:
            del self._contexts[key]

    # -- prediction -------------------------------------------------------------------------

    def predict(self, preceding: list[str], k: int = 5, prefix: str = "") -> list[Prediction]:
        """The `k` most likely next symbols after `preceding`, best first; only symbols that
        start with `prefix` when given (the user is in the middle of typing one)."""
        longest = min(len(preceding), self.order - 1)
        scores: dict[str, Prediction] = {}
        seen_longer: list[_Continuations] = []
        weight = 1.0
        for length in range(longest, -1, -1):
            context = tuple(preceding[len(preceding) - length :]) if length else ()
            continuations = self._contexts.get(context)
            if continuations is None or continuations.total <= 0:
                weight *= BACKOFF
                continue
            if prefix:
                items = [
                    item for item in continuations.counts.items() if item[0].startswith(prefix)
                ]
            else:
                items = continuations.ranked()[: max(k, _RANKED_CANDIDATES)]
            for symbol, count in items:
                # A symbol's score comes from the longest context it followed, not the best one.
                if symbol in scores or any(symbol in longer.counts for longer in seen_longer):
                    continue
                score = weight * count / continuations.total
                scores[symbol] = Prediction(symbol, score, count, length)
            seen_longer.append(continuations)
            weight *= BACKOFF
        return sorted(scores.values(), key=lambda p: (-p.score, p.symbol))[:k]

    def complete_line(
        self,
        prefix_tokens: list[str],
        max_tokens: int = 24,
        *,
        min_score: float = 0.0,
        min_count: int = 1,
    ) -> str:
        """Greedily extends `prefix_tokens` (symbols) to the end of the line; the added text.
        Stops at a newline, at a placeholder, or at the first prediction weaker than
        `min_score` / `min_count`."""
        return "".join(self.extend_line(prefix_tokens, max_tokens, min_score, min_count))

    def extend_line(
        self, preceding: list[str], max_tokens: int, min_score: float = 0.0, min_count: int = 1
    ) -> list[str]:
        """The symbols `complete_line` adds."""
        context = list(preceding[-(self.order - 1) :]) if self.order > 1 else []
        added: list[str] = []
        for _ in range(max_tokens):
            best = self.predict(context, k=1)
            if not best:
                break
            guess = best[0]
            if guess.symbol in (NEWLINE, STRING_PLACEHOLDER, " " + STRING_PLACEHOLDER):
                break
            if guess.score < min_score or guess.count < min_count:
                break
            added.append(guess.symbol)
            context = (context + [guess.symbol])[-(self.order - 1) :]
        return added
