"""Document synchronisation: didOpen, didChange, didClose, didSave.

Quick and synchronous, in arrival order: they change the session's state and return. Whatever
they start that is slow (parsing, learning, reviewing) runs elsewhere.
"""

from __future__ import annotations

from lsprotocol import types

from lsp_assist.session import Change, Session

SAVE_OPTIONS = types.SaveOptions(include_text=False)


def _change(change: types.TextDocumentContentChangeEvent) -> Change:
    if isinstance(change, types.TextDocumentContentChangePartial):
        start, end = change.range.start, change.range.end
        return change.text, (start.line, start.character), (end.line, end.character)
    return change.text, None, None


def did_open(session: Session, params: types.DidOpenTextDocumentParams) -> None:
    item = params.text_document
    session.open_document(item.uri, item.text, item.language_id, item.version)


def did_change(session: Session, params: types.DidChangeTextDocumentParams) -> None:
    changes = [_change(change) for change in params.content_changes]
    session.change_document(params.text_document.uri, params.text_document.version, changes)


def did_close(session: Session, params: types.DidCloseTextDocumentParams) -> None:
    session.close_document(params.text_document.uri)


def did_save(session: Session, params: types.DidSaveTextDocumentParams) -> None:
    session.document_saved(params.text_document.uri)
