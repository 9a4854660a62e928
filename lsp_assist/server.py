"""Wires LSP methods to the session and the completion engine — nothing else.

Notifications (open/change/close/configuration) update the `Session` synchronously, in
order. Requests are `async` so that `$/cancelRequest` can stop them and so that a slow model
never blocks the next keystroke.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.lsp.server import LanguageServer
from pygls.uris import to_fs_path

from lsp_assist import __version__
from lsp_assist.completion.cursor import CursorContext
from lsp_assist.doctor import PullProgress, diagnose, format_report, pull_models
from lsp_assist.documents import Document
from lsp_assist.lsp.protocol import AssistProtocol
from lsp_assist.offline.definitions import Definition
from lsp_assist.offline.engine import ENGINE_LABEL
from lsp_assist.positions import PositionEncoding
from lsp_assist.progress import WorkDoneProgress
from lsp_assist.review_features import (
    DISMISS_COMMAND,
    EXPLAIN_COMMAND,
    DiagnosticsDelivery,
    code_actions,
    command_uri,
)
from lsp_assist.session import Session, settings_section
from lsp_assist.transport import serve_stdio

log = logging.getLogger(__name__)

CONFIG_SECTION = "lspAssist"
STATUS_NOTIFICATION = "lspAssist/status"
DOCTOR_COMMAND = "lspAssist.doctor"
PULL_COMMAND = "lspAssist.pullModels"
REVIEW_FILE_COMMAND = "lspAssist.reviewFile"
REVIEW_CHANGES_COMMAND = "lspAssist.reviewChanges"

_MESSAGE_TYPES = {
    "error": types.MessageType.Error,
    "warning": types.MessageType.Warning,
    "info": types.MessageType.Info,
}


class AssistServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__("lsp-assist", __version__, protocol_cls=AssistProtocol)
        self.session = Session(
            show_message=self.show_user_message,
            send_status=self.send_status,
            on_findings=lambda uri: self.diagnostics.findings_changed(uri),
            review_progress=lambda: WorkDoneProgress(self, "review"),
        )
        self.diagnostics = DiagnosticsDelivery(self, self.session)

    def show_user_message(self, severity: str, message: str) -> None:
        self.window_show_message(
            types.ShowMessageParams(
                type=_MESSAGE_TYPES.get(severity, types.MessageType.Info), message=message
            )
        )

    def send_status(self, status: dict[str, Any]) -> None:
        # The status describes an answer that is about to go out: send it after that answer,
        # off the critical path. pygls writes a reply from its task's done-callback, which is
        # queued when the handler returns, so two hops of the loop put this behind it.
        loop = asyncio.get_running_loop()
        loop.call_soon(loop.call_soon, self.protocol.notify, STATUS_NOTIFICATION, status)


def _range_tuple(change: Any) -> tuple[str, tuple[int, int] | None, tuple[int, int] | None]:
    if isinstance(change, types.TextDocumentContentChangePartial):
        start, end = change.range.start, change.range.end
        return change.text, (start.line, start.character), (end.line, end.character)
    return change.text, None, None


def build_server() -> AssistServer:
    server = AssistServer()
    session = server.session

    async def pull_configuration() -> None:
        capabilities = server.client_capabilities
        if not (capabilities.workspace and capabilities.workspace.configuration):
            return
        try:
            result = await server.workspace_configuration_async(
                types.ConfigurationParams(items=[types.ConfigurationItem(section=CONFIG_SECTION)])
            )
        except Exception as exc:
            log.warning("workspace/configuration failed: %s", exc)
            return
        section = settings_section(result)
        if section is not None:
            session.set_workspace_configuration(section)

    @server.feature(types.INITIALIZE)
    def initialize(params: types.InitializeParams) -> None:
        # pygls picked the encoding from the client's preferences (UTF-8 for Neovim).
        chosen = server.workspace.position_encoding or types.PositionEncodingKind.Utf16
        session.encoding = PositionEncoding(getattr(chosen, "value", chosen))
        root = params.root_uri or ""
        session.root_name = root.rstrip("/").rsplit("/", 1)[-1]
        session.set_initialization_options(params.initialization_options)
        server.diagnostics.configure(params.capabilities)
        if root.startswith("file:") and (path := to_fs_path(root)):
            session.root_path = Path(path)
        log.info("initialized: client=%s encoding=%s", params.client_info, session.encoding.value)

    @server.feature(types.INITIALIZED)
    async def initialized(params: types.InitializedParams) -> None:
        await pull_configuration()
        if session.root_path is not None and session.root_path.is_dir():
            session.learning.scan_in_background(session.root_path)

    @server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    async def did_change_configuration(params: types.DidChangeConfigurationParams) -> None:
        capabilities = server.client_capabilities
        if capabilities.workspace and capabilities.workspace.configuration:
            await pull_configuration()
        elif isinstance(params.settings, dict):
            session.set_workspace_configuration(
                params.settings.get(CONFIG_SECTION, params.settings)
            )

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(params: types.DidOpenTextDocumentParams) -> None:
        item = params.text_document
        session.open_document(item.uri, item.text, item.language_id, item.version)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(params: types.DidChangeTextDocumentParams) -> None:
        changes = [_range_tuple(change) for change in params.content_changes]
        session.change_document(params.text_document.uri, params.text_document.version, changes)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(params: types.DidCloseTextDocumentParams) -> None:
        session.close_document(params.text_document.uri)
        server.diagnostics.closed(params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_SAVE, types.SaveOptions(include_text=False))
    def did_save(params: types.DidSaveTextDocumentParams) -> None:
        review = session.settings.review
        if review.enabled and review.onSave and params.text_document.uri in session.documents:
            session.review.request(params.text_document.uri, "changed")

    @server.feature(
        types.TEXT_DOCUMENT_DIAGNOSTIC,
        types.DiagnosticOptions(
            identifier="lsp-assist", inter_file_dependencies=False, workspace_diagnostics=False
        ),
    )
    def pull_diagnostics(params: types.DocumentDiagnosticParams) -> types.DocumentDiagnosticReport:
        return server.diagnostics.report(params.text_document.uri, params.previous_result_id)

    @server.feature(
        types.TEXT_DOCUMENT_CODE_ACTION,
        types.CodeActionOptions(code_action_kinds=[types.CodeActionKind.QuickFix]),
    )
    def code_action(params: types.CodeActionParams) -> list[types.CodeAction]:
        return code_actions(session, params.text_document.uri, params.range, params.context)

    async def review_command(uri: Any, scope: Any) -> dict[str, Any]:
        uris = [u] if (u := command_uri(uri)) else sorted(session.documents)
        unknown = [u for u in uris if u not in session.documents]
        if unknown:
            server.show_user_message("warning", f"lsp-assist: not open, not reviewed: {unknown[0]}")
        runs = [session.review.request(u, scope) for u in uris if u in session.documents]
        stats = await asyncio.gather(*runs)
        return {
            "files": len(runs),
            "units": sum(s.units for s in stats),
            "calls": sum(s.calls for s in stats),
            "findings": sum(len(session.review.findings(u)) for u in uris),
        }

    @server.command(REVIEW_FILE_COMMAND)
    async def review_file_command(*arguments: Any) -> dict[str, Any]:
        """Reviews every function of the file [uri] (answers from the cache cost nothing),
        or of every open file."""
        return await review_command(arguments[0] if arguments else None, "all")

    @server.command(REVIEW_CHANGES_COMMAND)
    async def review_changes_command(*arguments: Any) -> dict[str, Any]:
        """Reviews the functions that differ from git HEAD, in the file [uri] or in every
        open file."""
        return await review_command(arguments[0] if arguments else None, "git")

    @server.command(DISMISS_COMMAND)
    def dismiss_command(uri: str, finding_id: str) -> bool:
        return session.review.dismiss(uri, finding_id)

    @server.command(EXPLAIN_COMMAND)
    async def explain_command(uri: str, finding_id: str) -> str | None:
        explanation = await session.review.explain(uri, finding_id)
        if explanation:
            server.show_user_message("info", explanation)
        return explanation

    async def suggestion_at(uri: str, position: types.Position) -> tuple[Any, Any] | None:
        document = session.documents.get(uri)
        if document is None:
            log.info("completion asked for a document that is not open: %s", uri)
            return None
        offset = document.offset_at(position.line, position.character)
        suggestion = await session.engine.suggest(
            document, offset, session.context_files(document), session.root_name
        )
        if suggestion is None:
            return None
        return document, (offset, suggestion)

    @server.feature(types.TEXT_DOCUMENT_INLINE_COMPLETION, types.InlineCompletionOptions())
    async def inline_completion(
        params: types.InlineCompletionParams,
    ) -> types.InlineCompletionList | None:
        found = await suggestion_at(params.text_document.uri, params.position)
        if found is None:
            return None
        document, (offset, suggestion) = found
        line, character = document.position_at(offset)
        here = types.Position(line=line, character=character)
        return types.InlineCompletionList(
            items=[
                types.InlineCompletionItem(
                    insert_text=suggestion.text, range=types.Range(start=here, end=here)
                )
            ]
        )

    @server.feature(types.TEXT_DOCUMENT_COMPLETION, types.CompletionOptions(resolve_provider=False))
    async def completion(params: types.CompletionParams) -> types.CompletionList | None:
        found = await suggestion_at(params.text_document.uri, params.position)
        document = session.documents.get(params.text_document.uri)
        if document is None:
            return types.CompletionList(is_incomplete=True, items=[])
        offset = document.offset_at(params.position.line, params.position.character)
        word = CursorContext.of(document, offset).word_before()
        items = []
        if found is not None:
            _, (offset, suggestion) = found
            detail = (
                ENGINE_LABEL
                if suggestion.source == "offline"
                else f"lsp-assist · {session.settings.completion.model}"
            )
            items.append(_suggestion_item(document, offset, word, suggestion.text, detail))
        items += [_definition_item(d) for d in session.engine.offline_items(word, document.uri)]
        # Incomplete: the next keystroke asks again (and is answered by type-through).
        return types.CompletionList(is_incomplete=True, items=items)

    @server.command(DOCTOR_COMMAND)
    async def doctor_command(*_arguments: Any) -> dict[str, Any]:
        """`lsp-assist doctor` for the editor: the report as a message, and as the result."""
        report = await diagnose(session.settings)
        server.show_user_message("info" if report.ok else "warning", format_report(report))
        return report.to_json()

    @server.command(PULL_COMMAND)
    async def pull_command(*arguments: Any) -> list[dict[str, Any]]:
        """Pulls [model], or every configured model that is missing, reporting `$/progress`."""
        model = arguments[0] if arguments and isinstance(arguments[0], str) else None
        models = [model] if model else (await diagnose(session.settings)).missing_models
        progress = WorkDoneProgress(server, "pull")
        await progress.begin("Pulling models")
        await progress.ready()

        def on_progress(step: PullProgress) -> None:
            percentage = None
            if step.total and step.completed is not None:
                percentage = min(100, step.completed * 100 // step.total)
            progress.report(f"{step.model}: {step.status}", percentage)

        results = await pull_models(session.settings.ollama.resolved_host, models, on_progress)
        failed = [r for r in results if not r.ok]
        summary = (
            "; ".join(f"{r.model}: {r.error}" for r in failed)
            if failed
            else f"pulled {', '.join(models) or 'nothing (all models are there)'}"
        )
        progress.end(summary)
        if failed:
            server.show_user_message("error", f"lsp-assist: {summary}")
        return [dataclasses.asdict(r) for r in results]

    @server.feature(types.SHUTDOWN)
    async def shutdown(params: None) -> None:
        await session.shutdown()

    return server


def _suggestion_item(
    document: Document, offset: int, word: str, text: str, detail: str
) -> types.CompletionItem:
    """The suggestion as a completion item: label = its first line, the whole text in its
    edit, which replaces the word being typed."""
    start_line, start_character = document.position_at(offset - len(word))
    end_line, end_character = document.position_at(offset)
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
            range=types.Range(
                start=types.Position(line=start_line, character=start_character),
                end=types.Position(line=end_line, character=end_character),
            ),
            new_text=whole,
        ),
    )


_DEFINITION_KINDS = {
    "function": types.CompletionItemKind.Function,
    "method": types.CompletionItemKind.Method,
    "class": types.CompletionItemKind.Class,
}


def _definition_item(definition: Definition) -> types.CompletionItem:
    return types.CompletionItem(
        label=definition.name,
        kind=_DEFINITION_KINDS.get(definition.kind, types.CompletionItemKind.Text),
        detail=f"{definition.signature} · {ENGINE_LABEL}",
        sort_text=f"1{definition.name}",
    )


def run_stdio() -> None:
    serve_stdio(build_server())


def run_tcp(host: str, port: int) -> None:
    build_server().start_tcp(host, port)
