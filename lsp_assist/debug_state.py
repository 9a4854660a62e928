"""What the server holds for an open document, checked against what it would hold had it read
the text afresh: for tests and fuzzing (`lspAssist.debug.documentState`).

A document's text, its line starts and its syntax tree follow the editor edit by edit
(`documents.py`, `line_index.py`); a mistake in any of the three is silent until a completion
lands in the wrong place. The state returned here lets a client compare the server's text with
its own, and tells whether the line index and the incrementally edited tree equal the ones a
fresh read of the same text gives. Trees are compared node by node (kind, byte span and points),
not only by their S-expressions, so that a tree with the right shape at the wrong offsets counts
as a mismatch.
"""

from __future__ import annotations

import hashlib
from typing import Any

import tree_sitter

from lsp_assist.documents import Document
from lsp_assist.line_index import line_starts_after_breaks
from lsp_assist.positions import utf8


def document_state(document: Document) -> dict[str, Any]:
    """The document's uri, version and text, and whether its line index and tree are those of
    a fresh read (`tree` is None when the document has no tree: plain text, or too big)."""
    return {
        "uri": document.uri,
        "version": document.version,
        "text": document.text,
        "lineIndex": {
            "lines": document.line_count,
            "matchesFresh": line_index_matches(document),
        },
        "tree": tree_state(document),
    }


def line_index_matches(document: Document) -> bool:
    """Whether every line starts where a fresh split of the text says, and every line start
    maps back to its line (`position_at` reads the index's pending shift too)."""
    expected = [0, *line_starts_after_breaks(document.text)]
    if document.line_count != len(expected):
        return False
    for line, start in enumerate(expected):
        if document.offset_at(line, 0) != start or document.position_at(start) != (line, 0):
            return False
    return True


def tree_state(document: Document) -> dict[str, Any] | None:
    """Digests of the live tree (brought up to date incrementally, from the edited old tree)
    and of a fresh parse of the same text."""
    grammar = document.language.grammar
    live = document.tree  # parses here, on the loop: a debug command may take its time
    if live is None or grammar is None:
        return None
    fresh = tree_sitter.Parser(grammar).parse(utf8(document.text))
    incremental, afresh = tree_digest(live), tree_digest(fresh)
    return {"incremental": incremental, "fresh": afresh, "matches": incremental == afresh}


def tree_digest(tree: tree_sitter.Tree) -> str:
    """A hash of every node, in document order: its kind, byte span and points."""
    digest = hashlib.blake2b(digest_size=16)
    cursor = tree.walk()
    while True:
        node = cursor.node
        assert node is not None
        digest.update(
            b"%d %d %d %d %d %d %d %d;"
            % (
                node.kind_id,
                node.is_missing,
                node.start_byte,
                node.end_byte,
                *node.start_point,
                *node.end_point,
            )
        )
        if cursor.goto_first_child() or cursor.goto_next_sibling():
            continue
        while cursor.goto_parent():
            if cursor.goto_next_sibling():
                break
        else:
            return digest.hexdigest()
