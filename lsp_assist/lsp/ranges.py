"""`str` offsets of a document version to LSP positions and ranges (through its converter)."""

from __future__ import annotations

from lsprotocol import types

from lsp_assist.documents import TextView


def lsp_position(view: TextView, offset: int) -> types.Position:
    line, character = view.position_at(offset)
    return types.Position(line=line, character=character)


def lsp_range(view: TextView, start: int, end: int) -> types.Range:
    return types.Range(start=lsp_position(view, start), end=lsp_position(view, end))
