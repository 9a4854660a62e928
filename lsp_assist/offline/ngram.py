"""A token n-gram model of the workspace's code: what usually comes next after these tokens.

For every position in every file the model counts which symbol (see `tokens`) followed the
preceding 0, 1, 2 and 3 symbols — its *contexts*. Prediction uses stupid backoff (Brants et al.,
2007): a symbol seen after the longest matching context scores `count / total` there; one seen
only after a shorter context scores the same ratio there, times `BACKOFF` per order dropped.
It needs no normalisation, which keeps incremental training trivial, and it is deterministic:
ties are broken by the symbol itself.

Memory is bounded, and small. Symbols are interned to integer ids (`Vocabulary`); a context is
one integer packing its ids (`ID_BITS` each), and so is an n-gram (context and next symbol).
Training is per file so an edited file can be re-trained: the model keeps each file's symbol ids
in a compact array (4 bytes a token) and applies only the difference between its old and new
n-gram counts. At most `max_tokens` tokens are kept (a file that would exceed it is not learnt)
and at most `max_contexts` contexts: when there are more, the rarest contexts (longest first
among equals) are pruned down to `PRUNE_TO` of the cap, so pruning is occasional rather than on
every file. A pruned context may later be re-created by another file, so subtracting a file is
clamped at zero: the counts stay approximate only in what was already forgotten. The unigram
counts are never pruned, so they are exact: a symbol whose count falls to zero is in no learnt
file any more, and its id is freed for reuse.

Threads: one writer (the background worker) trains while the event loop predicts. Counting a
file needs no lock; applying its counts takes `lock` for slices of `APPLY_SLICE` n-grams at a
time, so a reader never waits long — and `try_reading` lets it not wait at all.
"""

from __future__ import annotations

import heapq
import threading
from array import array
from collections import Counter
from collections.abc import Container, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from lsp_assist.offline.tokens import NEWLINE, STRING_PLACEHOLDER

ORDER = 4
"""Predict from up to ORDER - 1 preceding symbols."""
BACKOFF = 0.4
DEFAULT_MAX_CONTEXTS = 200_000
DEFAULT_MAX_TOKENS = 8_000_000
"""32 MB of symbol ids: four times what the workspace scan reads (20 MB of code)."""
PRUNE_TO = 0.8
ID_BITS = 21
"""Bits per symbol id in a packed context: up to two million distinct symbols."""
APPLY_SLICE = 20_000
"""N-grams applied per hold of the lock (a few milliseconds)."""
_RANKED_CANDIDATES = 8
"""How many of a context's continuations are considered when nothing is typed yet."""
_MASK = (1 << ID_BITS) - 1
_MAX_ID = _MASK


@dataclass(frozen=True)
class Prediction:
    symbol: str
    score: float
    """Stupid-backoff score: count / total in the context it was found in, times backoff."""
    count: int
    """How often it followed that context."""
    context_length: int
    """How many preceding symbols matched (0 = unigram)."""


class VocabularyFull(Exception):
    """More distinct symbols than `ID_BITS` can number."""


class Vocabulary:
    """Symbols ↔ small integer ids (0 is never used: a packed context of ids is never 0)."""

    def __init__(self) -> None:
        self._ids: dict[str, int] = {}
        self._symbols: list[str] = [""]
        self.numbers: list[int] = [0]
        """`numbers[i] == i`: one int object per id, shared by all the counts that hold it."""
        self._free: list[int] = []

    def __len__(self) -> int:
        return len(self._ids)

    def id_of(self, symbol: str) -> int | None:
        return self._ids.get(symbol)

    def symbol(self, symbol_id: int) -> str:
        return self._symbols[symbol_id]

    def intern(self, symbol: str) -> int:
        symbol_id = self._ids.get(symbol)
        if symbol_id is not None:
            return symbol_id
        if self._free:
            symbol_id = self._free.pop()
            self._symbols[symbol_id] = symbol
        else:
            symbol_id = len(self._symbols)
            if symbol_id > _MAX_ID:
                raise VocabularyFull
            self._symbols.append(symbol)
            self.numbers.append(symbol_id)
        self._ids[symbol] = symbol_id
        return symbol_id

    def release_all_but(self, used: Container[int]) -> None:
        for symbol_id in list(self._ids.values()):
            if symbol_id not in used:
                self.release(symbol_id)

    def release(self, symbol_id: int) -> None:
        """Frees an id no learnt file uses. Its text stays readable until the id is reused, so
        that a reader in the middle of a prediction never sees it change."""
        symbol = self._symbols[symbol_id]
        if self._ids.get(symbol) == symbol_id:
            del self._ids[symbol]
            self._free.append(symbol_id)


# What followed one context. Most contexts were followed by one symbol only: then it is one
# int, `count << ID_BITS | symbol`. Otherwise a dict symbol → count, whose key 0 (no symbol has
# id 0) holds the total.


def _total(value: int | dict[int, int]) -> int:
    return value >> ID_BITS if type(value) is int else value[0]  # type: ignore[operator,index]


def _counts(value: int | dict[int, int]) -> dict[int, int]:
    """symbol → count, to read (a dict may hold the total too, under 0, which is no symbol)."""
    if type(value) is int:
        return {value & _MASK: value >> ID_BITS}
    return value  # type: ignore[return-value]


def ngrams(ids: array[int] | list[int], length: int) -> list[int]:
    """The packed n-grams of `length` symbols in `ids`: `context << ID_BITS | symbol`, so that
    `key >> ID_BITS` is its context (0 for a unigram) and `key & (2**ID_BITS - 1)` the symbol."""
    packed = list(ids)
    for shift in range(1, length):
        # packed[i] holds ids[i … i + shift - 1]; extend each by the symbol after it (the
        # last one has none: it falls off).
        following = ids[shift:]
        packed = [(head << ID_BITS) | tail for head, tail in zip(packed, following, strict=False)]
    return packed


class NgramModel:
    def __init__(
        self,
        *,
        order: int = ORDER,
        max_contexts: int = DEFAULT_MAX_CONTEXTS,
        max_tokens: int = DEFAULT_MAX_TOKENS,
    ) -> None:
        self.order = order
        self.max_contexts = max_contexts
        self.max_tokens = max_tokens
        self.lock = threading.Lock()
        """Held while the counts change; readers on another thread hold it to predict."""
        self.vocabulary = Vocabulary()
        self._contexts: dict[int, int | dict[int, int]] = {}
        self._ranked: dict[int, tuple[int, list[tuple[int, int]]]] = {}
        """Per context, its best continuations: sorting is paid once until the counts change."""
        self._files: dict[str, array[int]] = {}
        self._tokens = 0

    @property
    def context_count(self) -> int:
        """Contexts stored: the model's size."""
        return len(self._contexts)

    @property
    def file_count(self) -> int:
        return len(self._files)

    @property
    def files(self) -> list[str]:
        return sorted(self._files)

    @property
    def over_capacity(self) -> bool:
        return len(self._contexts) > self.max_contexts

    @property
    def token_count(self) -> int:
        """Symbol ids kept for the learnt files (4 bytes each)."""
        return self._tokens

    @contextmanager
    def try_reading(self) -> Iterator[bool]:
        """`with model.try_reading() as free:` — `free` is False (and nothing may be read)
        while the writer holds the lock; a reader then answers without the model."""
        acquired = self.lock.acquire(blocking=False)
        try:
            yield acquired
        finally:
            if acquired:
                self.lock.release()

    # -- training (one writer thread) -------------------------------------------------------

    def encode(self, symbols: Iterable[str]) -> array[int]:
        """The ids of `symbols`, interning new ones. Unless the result is then learnt with
        `add_encoded`, hand it to `discard_encoded` so that the new ids are freed."""
        ids: array[int] = array("I")
        intern = self.vocabulary.intern
        try:
            ids.extend([intern(symbol) for symbol in symbols])
        except VocabularyFull:
            with self.lock:
                self.vocabulary.release_all_but(self._unigram_counts())
            raise
        return ids

    def discard_encoded(self, ids: array[int]) -> None:
        """Frees the ids `encode` interned for symbols that no learnt file uses."""
        with self.lock:
            counts = self._unigram_counts()
            for symbol_id in set(ids):
                if symbol_id not in counts:
                    self.vocabulary.release(symbol_id)

    def _unigram_counts(self) -> dict[int, int]:
        unigrams = self._contexts.get(0)
        return _counts(unigrams) if unigrams is not None else {}

    def add_file(self, uri: str, symbols: list[str]) -> bool:
        """Trains on one file's symbols, replacing what was learnt from it before; False when
        the model is full (nothing changes then)."""
        try:
            ids = self.encode(symbols)
        except VocabularyFull:
            return False
        return self.add_encoded(uri, ids)

    def add_encoded(self, uri: str, ids: array[int], *, prune: bool = True) -> bool:
        """`add_file` for symbols already through `encode`; with `prune=False` the contexts
        may stay over the cap until `prune` is called."""
        old = self._files.get(uri)
        old_tokens = len(old) if old is not None else 0
        if self._tokens - old_tokens + len(ids) > self.max_tokens:
            self.discard_encoded(ids)
            return False
        # One n-gram length at a time: a big file's n-grams are never all in memory at once.
        for length in range(1, self.order + 1):
            difference = Counter(ngrams(ids, length))
            if old is not None:
                difference.subtract(ngrams(old, length))
            self._apply(difference)
        with self.lock:
            self._files[uri] = ids
            self._tokens += len(ids) - old_tokens
        if prune and self.over_capacity:
            self.prune()
        return True

    def remove_file(self, uri: str) -> None:
        """Forgets one file's counts."""
        old = self._files.get(uri)
        if old is None:
            return
        for length in range(1, self.order + 1):
            self._apply(Counter(ngrams(old, length)), sign=-1)
        with self.lock:
            del self._files[uri]
            self._tokens -= len(old)

    def _apply(self, difference: Counter[int], sign: int = 1) -> None:
        items = iter(difference.items())
        while True:
            with self.lock:
                if not self._apply_slice(items, sign):
                    return

    def _apply_slice(self, items: Iterator[tuple[int, int]], sign: int) -> bool:
        """Applies up to `APPLY_SLICE` n-gram count changes; False once there are no more."""
        contexts = self._contexts
        numbers = self.vocabulary.numbers
        release = self.vocabulary.release
        self._ranked.clear()
        applied = 0
        for key, delta in items:
            if not delta:
                continue
            delta *= sign
            context = key >> ID_BITS
            symbol = numbers[key & _MASK]  # a shared int object, not a new one per n-gram
            value = contexts.get(context)
            if value is None:
                if delta > 0:
                    contexts[context] = delta << ID_BITS | symbol
            elif type(value) is int:
                count = value >> ID_BITS
                if value & _MASK == symbol:
                    count += delta
                    if count > 0:
                        contexts[context] = count << ID_BITS | symbol
                    else:
                        del contexts[context]
                        if context == 0:
                            release(symbol)
                elif delta > 0:
                    contexts[context] = {
                        0: count + delta,
                        numbers[value & _MASK]: count,
                        symbol: delta,
                    }
                # else: subtracting what was pruned already
            else:
                counts: dict[int, int] = value  # type: ignore[assignment]
                old = counts.get(symbol, 0)
                count = old + delta
                if count > 0:
                    counts[symbol] = count
                    counts[0] += delta
                elif old:
                    del counts[symbol]
                    counts[0] -= old
                    if context == 0:
                        release(symbol)  # exact unigram count zero: in no learnt file
                    elif len(counts) == 2:  # one continuation left: back to one int
                        (last, last_count) = next(item for item in counts.items() if item[0])
                        contexts[context] = last_count << ID_BITS | last
            applied += 1
            if applied >= APPLY_SLICE:
                return True
        return False

    def prune(self) -> None:
        """Down to `PRUNE_TO` of `max_contexts`: the rarest contexts first, and among equally
        rare ones the longest (shorter contexts back off for them)."""
        excess = len(self._contexts) - int(self.max_contexts * PRUNE_TO)
        if excess <= 0:
            return
        # Only this thread writes: the contexts can be read without the lock.
        rarity: Counter[tuple[int, int]] = Counter(
            (_total(value), -_length(key)) for key, value in self._contexts.items() if key
        )
        removed = 0
        doomed: set[tuple[int, int]] = set()
        bucket = (0, 0)
        for bucket in sorted(rarity):
            doomed.add(bucket)
            removed += rarity[bucket]
            if removed >= excess:
                break
        last, spared = bucket, removed - excess  # that many of the last bucket may stay
        victims: list[int] = []
        for key, value in self._contexts.items():
            if not key:
                continue
            bucket = (_total(value), -_length(key))
            if bucket in doomed:
                if bucket == last and spared > 0:
                    spared -= 1
                    continue
                victims.append(key)
        for start in range(0, len(victims), APPLY_SLICE):
            with self.lock:
                self._ranked.clear()
                for key in victims[start : start + APPLY_SLICE]:
                    del self._contexts[key]

    # -- prediction -------------------------------------------------------------------------

    def predict(
        self, preceding: list[str], k: int = 5, prefix: str = "", min_score: float = 0.0
    ) -> list[Prediction]:
        """The `k` most likely next symbols after `preceding`, best first; only symbols that
        start with `prefix` when given (the user is in the middle of typing one). With
        `min_score`, contexts too short to give a symbol that score are not even looked at
        (the unigram context holds every symbol of the workspace)."""
        vocabulary = self.vocabulary
        longest = min(len(preceding), self.order - 1)
        # The packed key of each context length that is known at all: 0 for the unigram.
        keys = [0]
        for symbol in reversed(preceding[len(preceding) - longest :]):
            symbol_id = vocabulary.id_of(symbol)
            if symbol_id is None:
                break
            keys.append(keys[-1] | symbol_id << (ID_BITS * (len(keys) - 1)))
        scores: dict[int, Prediction] = {}
        seen_longer: list[dict[int, int]] = []
        weight = BACKOFF ** (longest - (len(keys) - 1))
        for length in range(len(keys) - 1, -1, -1):
            if weight < min_score:
                break  # count / total <= 1: nothing from here on can reach min_score
            key = keys[length]
            value = self._contexts.get(key)
            if value is None or _total(value) <= 0:
                weight *= BACKOFF
                continue
            total, counts = _total(value), _counts(value)
            if prefix:
                items = [
                    item
                    for item in counts.items()
                    if item[0] and vocabulary.symbol(item[0]).startswith(prefix)
                ]
            else:
                items = self._ranked_continuations(key, counts, max(k, _RANKED_CANDIDATES))
            for symbol_id, count in items:
                # A symbol's score comes from the longest context it followed, not the best one.
                if symbol_id in scores or any(symbol_id in longer for longer in seen_longer):
                    continue
                score = weight * count / total
                scores[symbol_id] = Prediction(vocabulary.symbol(symbol_id), score, count, length)
            seen_longer.append(counts)
            weight *= BACKOFF
        return sorted(scores.values(), key=lambda p: (-p.score, p.symbol))[:k]

    def _ranked_continuations(
        self, context: int, counts: dict[int, int], limit: int
    ) -> list[tuple[int, int]]:
        """The `limit` most frequent continuations, most frequent first (ties by symbol)."""
        cached = self._ranked.get(context)
        if cached is None or cached[0] < limit:
            symbol = self.vocabulary.symbol
            ranked = heapq.nsmallest(
                limit,
                (item for item in counts.items() if item[0]),  # 0 holds the total
                key=lambda item: (-item[1], symbol(item[0])),
            )
            cached = self._ranked[context] = (limit, ranked)
        return cached[1][:limit]

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
            best = self.predict(context, k=1, min_score=min_score)
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


def _length(context: int) -> int:
    """How many symbols a packed context holds."""
    return (context.bit_length() + ID_BITS - 1) // ID_BITS
