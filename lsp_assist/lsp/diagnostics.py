"""Review findings in LSP terms: diagnostics (pushed or pulled), code actions, progress.

The review itself (`review/`) knows nothing about LSP; this module turns its findings into
`Diagnostic`s and `CodeAction`s, and delivers diagnostics the way the client prefers: pull
(`textDocument/diagnostic` + `workspace/diagnostic/refresh`) when it supports both, else
`textDocument/publishDiagnostics`. Deliveries are coalesced to one per loop turn per file, after
the reply being handled, so following an edit costs the keystroke nothing.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from lsprotocol import types

from lsp_assist.documents import Document
from lsp_assist.review.findings import PlacedFinding
from lsp_assist.review.fixes import quick_fix

if TYPE_CHECKING:
    from pygls.lsp.server import LanguageServer

    from lsp_assist.session import Session

log = logging.getLogger(__name__)

SOURCE = "lsp-assist"
DISMISS_COMMAND = "lspAssist.dismissFinding"
EXPLAIN_COMMAND = "lspAssist.explainFinding"


def _range(document: Document, start: int, end: int) -> types.Range:
    start_line, start_character = document.position_at(start)
    end_line, end_character = document.position_at(end)
    return types.Range(
        start=types.Position(line=start_line, character=start_character),
        end=types.Position(line=end_line, character=end_character),
    )


def to_diagnostic(document: Document, finding: PlacedFinding) -> types.Diagnostic:
    message = finding.message
    if finding.raw.trigger:
        message = f"{message}\nFails when: {finding.raw.trigger}"
    return types.Diagnostic(
        range=_range(document, finding.start, finding.end),
        message=message,
        severity=types.DiagnosticSeverity(int(finding.severity)),
        source=SOURCE,
        code=finding.raw.category,
        data={"id": finding.id, "confidence": finding.raw.confidence},
    )


class DiagnosticsDelivery:
    def __init__(self, server: LanguageServer, session: Session) -> None:
        self._server = server
        self._session = session
        self.pull = False
        self._result_ids: dict[str, int] = {}
        self._due: set[str] = set()
        self._refresh_due = False

    def configure(self, capabilities: types.ClientCapabilities) -> None:
        text_document = capabilities.text_document
        workspace = capabilities.workspace
        self.pull = bool(
            text_document
            and text_document.diagnostic is not None
            and workspace
            and workspace.diagnostics
            and workspace.diagnostics.refresh_support
        )
        log.info("review diagnostics are %s", "pulled" if self.pull else "pushed")

    def diagnostics(self, uri: str) -> list[types.Diagnostic]:
        document = self._session.documents.get(uri)
        if document is None:
            return []
        return [to_diagnostic(document, f) for f in self._session.review.findings(uri)]

    def findings_changed(self, uri: str) -> None:
        self._result_ids[uri] = self._result_ids.get(uri, 0) + 1
        if not self._due and not self._refresh_due:
            loop = asyncio.get_running_loop()
            loop.call_soon(loop.call_soon, self._deliver)
        if self.pull:
            self._refresh_due = True
        else:
            self._due.add(uri)

    def _deliver(self) -> None:
        due, self._due = self._due, set()
        for uri in due:
            document = self._session.documents.get(uri)
            self._server.text_document_publish_diagnostics(
                types.PublishDiagnosticsParams(
                    uri=uri,
                    diagnostics=self.diagnostics(uri),
                    version=document.version if document else None,
                )
            )
        if self._refresh_due:
            self._refresh_due = False
            self._server.workspace_diagnostic_refresh(None)

    def closed(self, uri: str) -> None:
        self._result_ids.pop(uri, None)
        if not self.pull:
            self._server.text_document_publish_diagnostics(
                types.PublishDiagnosticsParams(uri=uri, diagnostics=[])
            )

    def report(self, uri: str, previous_result_id: str | None) -> types.DocumentDiagnosticReport:
        if not self.pull:
            # A client that pulls without refresh support (Neovim 0.11) gets findings
            # pushed; answering its pulls with them too would show each one twice.
            return types.RelatedFullDocumentDiagnosticReport(items=[], result_id="push")
        result_id = str(self._result_ids.get(uri, 0))
        if previous_result_id == result_id:
            return types.RelatedUnchangedDocumentDiagnosticReport(result_id=result_id)
        return types.RelatedFullDocumentDiagnosticReport(
            items=self.diagnostics(uri), result_id=result_id
        )


def code_actions(
    session: Session, uri: str, requested: types.Range, context: types.CodeActionContext
) -> list[types.CodeAction]:
    """Actions for the findings on the requested lines (editors ask with the cursor anywhere
    on the line) or named in the request's diagnostics."""
    document = session.documents.get(uri)
    if document is None:
        return []
    asked_for = {
        d.data.get("id")
        for d in context.diagnostics
        if d.source == SOURCE and isinstance(d.data, dict)
    }
    actions: list[types.CodeAction] = []
    for finding in session.review.findings(uri):
        first_line = document.position_at(finding.start)[0]
        last_line = document.position_at(finding.end)[0]
        on_lines = first_line <= requested.end.line and last_line >= requested.start.line
        if not on_lines and finding.id not in asked_for:
            continue
        diagnostic = to_diagnostic(document, finding)
        edit = quick_fix(document.text, finding, document.language)
        if edit is not None:
            old = document.text[edit.start : edit.end]
            actions.append(
                types.CodeAction(
                    title=f"Fix: replace `{old.strip()}` with `{edit.new_text.strip()}`",
                    kind=types.CodeActionKind.QuickFix,
                    diagnostics=[diagnostic],
                    is_preferred=finding.raw.confidence == "high",
                    edit=types.WorkspaceEdit(
                        document_changes=[
                            types.TextDocumentEdit(
                                text_document=types.OptionalVersionedTextDocumentIdentifier(
                                    uri=uri, version=document.version
                                ),
                                edits=[
                                    types.TextEdit(
                                        range=_range(document, edit.start, edit.end),
                                        new_text=edit.new_text,
                                    )
                                ],
                            )
                        ]
                    ),
                )
            )
        for title, command in (
            ("Dismiss this lsp-assist finding", DISMISS_COMMAND),
            ("Explain this lsp-assist finding", EXPLAIN_COMMAND),
        ):
            actions.append(
                types.CodeAction(
                    title=title,
                    kind=types.CodeActionKind.QuickFix,
                    diagnostics=[diagnostic],
                    command=types.Command(
                        title=title, command=command, arguments=[uri, finding.id]
                    ),
                )
            )
    return actions


def command_uri(arguments: Any) -> str | None:
    """The first argument of a command, as clients send it: a URI string or {"uri": …}."""
    if isinstance(arguments, str):
        return arguments
    if isinstance(arguments, dict):
        value = arguments.get("uri")
        return value if isinstance(value, str) else None
    return None
