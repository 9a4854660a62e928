"""`textDocument/inlineCompletion` (LSP 3.18): ghost text at the cursor.

The request takes a snapshot of the document on arrival; the engine computes the suggestion in
it, and the answer is given in that snapshot's coordinates — the request's own — whatever
changed meanwhile: a client relates a response to the state it asked in. Never a position mixed
from two versions, as when handlers read the live document after awaiting the model.

Each item carries the suggestion's id in its `command`, which the client runs when the item is
accepted (`suggestion_events.py`: acceptance statistics, kept on this machine).
"""

from __future__ import annotations

import logging

from lsprotocol import types

from lsp_assist.lsp.ranges import lsp_position
from lsp_assist.lsp.suggestion_events import accepted_command
from lsp_assist.session import Session

log = logging.getLogger(__name__)

OPTIONS = types.InlineCompletionOptions()


async def inline_completion(
    session: Session, params: types.InlineCompletionParams
) -> types.InlineCompletionList | None:
    uri = params.text_document.uri
    document = session.documents.get(uri)
    if document is None:
        log.info("inline completion asked for a document that is not open")
        return None
    if session.private(uri):
        return None  # a secret file's text never goes to a model
    snapshot = document.snapshot()
    offset = snapshot.offset_at(params.position.line, params.position.character)
    suggestion = await session.engine.suggest(
        snapshot, offset, lambda: session.context_files(snapshot, offset), session.root_name
    )
    if suggestion is None:
        return None
    if uri not in session.documents:
        return None  # closed meanwhile
    here = lsp_position(snapshot, offset)
    suggestion_id = session.acceptance.answered(uri, offset, snapshot.language.name, suggestion)
    return types.InlineCompletionList(
        items=[
            types.InlineCompletionItem(
                insert_text=suggestion.text,
                range=types.Range(start=here, end=here),
                command=accepted_command(suggestion_id),
            )
        ]
    )
