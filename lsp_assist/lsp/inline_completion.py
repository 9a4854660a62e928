"""`textDocument/inlineCompletion` (LSP 3.18): ghost text at the cursor.

The request takes a snapshot of the document on arrival; the engine computes the suggestion in
it; `place_suggestion` says where it goes if the document moved on meanwhile.
"""

from __future__ import annotations

import logging

from lsprotocol import types

from lsp_assist.lsp.placement import place_suggestion
from lsp_assist.lsp.ranges import lsp_position
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
    placement = place_suggestion(snapshot, offset, suggestion.text, session.documents.get(uri))
    if placement is None:
        return None
    here = lsp_position(placement.view, placement.offset)
    return types.InlineCompletionList(
        items=[
            types.InlineCompletionItem(
                insert_text=placement.text, range=types.Range(start=here, end=here)
            )
        ]
    )
