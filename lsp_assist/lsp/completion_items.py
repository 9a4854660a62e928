"""`textDocument/completion`: the suggestion as the first item (for clients without ghost
text), then, while the offline engine serves, the workspace's definitions.

Everything is computed in the snapshot taken on arrival: the word being typed and the range it
replaces belong to the same version. The suggestion's item carries its id in its `command`, run
by the client when the item is picked (`suggestion_events.py`).
"""

from __future__ import annotations

from lsprotocol import types

from lsp_assist.completion.cursor import CursorContext
from lsp_assist.documents import TextView
from lsp_assist.lsp.ranges import lsp_range
from lsp_assist.lsp.suggestion_events import accepted_command
from lsp_assist.offline.definitions import Definition
from lsp_assist.offline.engine import ENGINE_LABEL
from lsp_assist.session import Session

OPTIONS = types.CompletionOptions(resolve_provider=False)

_DEFINITION_KINDS = {
    "function": types.CompletionItemKind.Function,
    "method": types.CompletionItemKind.Method,
    "class": types.CompletionItemKind.Class,
}


async def completion(session: Session, params: types.CompletionParams) -> types.CompletionList:
    document = session.documents.get(params.text_document.uri)
    if document is None or session.private(params.text_document.uri):
        return types.CompletionList(is_incomplete=True, items=[])
    snapshot = document.snapshot()
    offset = snapshot.offset_at(params.position.line, params.position.character)
    word = CursorContext.of(snapshot, offset).word_before()
    suggestion = await session.engine.suggest(
        snapshot, offset, lambda: session.context_files(snapshot, offset), session.root_name
    )
    items = []
    if suggestion is not None:
        suggestion_id = session.acceptance.answered(
            snapshot.uri, offset, snapshot.language.name, suggestion
        )
        item = suggestion_item(snapshot, offset, word, suggestion.text, suggestion.label)
        item.command = accepted_command(suggestion_id)
        items.append(item)
    items += [definition_item(d) for d in offline_definitions(session, word, snapshot.uri)]
    # Incomplete: the next keystroke asks again (and is answered by type-through).
    return types.CompletionList(is_incomplete=True, items=items)


def offline_definitions(session: Session, word: str, uri: str) -> list[Definition]:
    """Definitions from the workspace, while the offline engine serves (with a model, the
    editor's own language server does this better)."""
    if not word or not session.engine.serving_offline():
        return []
    return session.learning.engine.completion_items(word, uri)


def suggestion_item(
    snapshot: TextView, offset: int, word: str, text: str, detail: str
) -> types.CompletionItem:
    """The suggestion as a completion item: label = its first line, the whole text in its
    edit, which replaces the word being typed."""
    whole = word + text
    return types.CompletionItem(
        label=whole.split("\n", 1)[0].strip() or text.strip(),
        kind=types.CompletionItemKind.Text,
        detail=detail,
        documentation=types.MarkupContent(
            kind=types.MarkupKind.Markdown, value=f"```\n{whole}\n```"
        ),
        filter_text=whole,
        sort_text="0",
        text_edit=types.TextEdit(
            range=lsp_range(snapshot, offset - len(word), offset), new_text=whole
        ),
    )


def definition_item(definition: Definition) -> types.CompletionItem:
    return types.CompletionItem(
        label=definition.name,
        kind=_DEFINITION_KINDS.get(definition.kind, types.CompletionItemKind.Text),
        detail=f"{definition.signature} · {ENGINE_LABEL}",
        sort_text=f"1{definition.name}",
    )
