"""Answering a keystroke from a suggestion that already exists.

A suggestion is anchored where it was asked for: the text before the cursor (its length and
its last stretch) and the text after it. When the user then types characters that the
suggestion starts with, or backspaces to a place where a suggestion was made, the rest of that
suggestion is still right: no new request to the model is needed.

`CursorKey` compares only the text near the cursor (and the length before it), so a lookup
costs a few kilobytes of string comparison, whatever the size of the file.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Generic, TypeVar

BEFORE_CHARS = 1024
AFTER_CHARS = 512


@dataclass(frozen=True)
class CursorKey:
    before_len: int
    before_tail: str
    after_head: str

    @classmethod
    def at(cls, text: str, offset: int) -> CursorKey:
        return cls(
            before_len=offset,
            before_tail=text[max(0, offset - BEFORE_CHARS) : offset],
            after_head=text[offset : offset + AFTER_CHARS],
        )

    @classmethod
    def after_inserting(cls, text: str, offset: int, inserted: str) -> CursorKey:
        """`at(text with inserted at offset, offset + len(inserted))`, without copying the
        text."""
        before = text[max(0, offset - BEFORE_CHARS) : offset] + inserted
        return cls(
            before_len=offset + len(inserted),
            before_tail=before[-BEFORE_CHARS:],
            after_head=text[offset : offset + AFTER_CHARS],
        )

    def typed_since(self, text: str, offset: int) -> str | None:
        """What was typed at this key's cursor to reach (`text`, `offset`), or None when the
        buffer around the cursor changed some other way."""
        if offset < self.before_len:
            return None
        if text[offset : offset + AFTER_CHARS] != self.after_head:
            return None
        anchor = self.before_len
        if text[anchor - len(self.before_tail) : anchor] != self.before_tail:
            return None
        return text[anchor:offset]


Suggestion = TypeVar("Suggestion")


class SuggestionCache(Generic[Suggestion]):
    """A small LRU of suggestions, most recent first on lookup, kept per document so that a
    lookup (on every keystroke) only looks at that document's entries."""

    def __init__(self, capacity: int = 64) -> None:
        self.capacity = capacity
        self._entries: OrderedDict[tuple[str, CursorKey], Suggestion] = OrderedDict()
        self._by_uri: dict[str, OrderedDict[CursorKey, None]] = {}

    def put(self, uri: str, key: CursorKey, suggestion: Suggestion) -> None:
        self._entries[(uri, key)] = suggestion
        self._entries.move_to_end((uri, key))
        keys = self._by_uri.setdefault(uri, OrderedDict())
        keys[key] = None
        keys.move_to_end(key)
        while len(self._entries) > self.capacity:
            (old_uri, old_key), _ = self._entries.popitem(last=False)
            self._drop_key(old_uri, old_key)

    def _drop_key(self, uri: str, key: CursorKey) -> None:
        keys = self._by_uri.get(uri)
        if keys is not None:
            keys.pop(key, None)
            if not keys:
                del self._by_uri[uri]

    def candidates(self, uri: str, text: str, offset: int) -> list[tuple[Suggestion, str]]:
        """(suggestion, typed) for every entry of `uri` that the cursor state continues,
        most recently used first."""
        found: list[tuple[Suggestion, str]] = []
        for key in reversed(self._by_uri.get(uri, {})):
            typed = key.typed_since(text, offset)
            if typed is not None:
                found.append((self._entries[(uri, key)], typed))
        return found

    def touch(self, uri: str, key: CursorKey) -> None:
        if (uri, key) in self._entries:
            self._entries.move_to_end((uri, key))
            self._by_uri[uri].move_to_end(key)

    def forget(self, uri: str) -> None:
        for key in self._by_uri.pop(uri, {}):
            del self._entries[(uri, key)]

    def __len__(self) -> int:
        return len(self._entries)
