"""Wires LSP methods to the feature modules in `lsp/` — nothing else.

Notifications (open/change/close/configuration) update the `Session` synchronously, in
order. Requests are `async` so that `$/cancelRequest` can stop them and so that a slow model
never blocks the next keystroke; each works on a snapshot of its document.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.lsp.server import LanguageServer

from lsp_assist import __version__
from lsp_assist.idle_gc import IdleCollector
from lsp_assist.lsp import (
    commands,
    completion_items,
    configuration,
    suggestion_events,
    text_sync,
    watched_files,
)
from lsp_assist.lsp.diagnostics import (
    DISMISS_COMMAND,
    EXPLAIN_COMMAND,
    DiagnosticsDelivery,
    code_actions,
)
from lsp_assist.lsp.inline_completion import inline_completion
from lsp_assist.lsp.protocol import AssistProtocol, quiet_report_server_error
from lsp_assist.lsp.status import send_status
from lsp_assist.positions import PositionEncoding
from lsp_assist.progress import WorkDoneProgress
from lsp_assist.session import Session
from lsp_assist.status import Status
from lsp_assist.transport import serve_stdio
from lsp_assist.uris import file_name_of_uri, path_of_uri

log = logging.getLogger(__name__)

_MESSAGE_TYPES = {
    "error": types.MessageType.Error,
    "warning": types.MessageType.Warning,
    "info": types.MessageType.Info,
}


class AssistServer(LanguageServer):
    # A failing handler is logged with its traceback, never a popup per keystroke.
    report_server_error = quiet_report_server_error

    def __init__(self) -> None:
        super().__init__("lsp-assist", __version__, protocol_cls=AssistProtocol)
        self.session = Session(
            show_message=self.show_user_message,
            send_status=self.send_status,
            on_findings=lambda uri: self.diagnostics.findings_changed(uri),
            review_progress=lambda: WorkDoneProgress(self, "review"),
        )
        self.diagnostics = DiagnosticsDelivery(self, self.session)
        protocol = self.protocol
        assert isinstance(protocol, AssistProtocol)
        self.collector = IdleCollector(lambda: protocol.last_message_at)

    def show_user_message(self, severity: str, message: str) -> None:
        self.window_show_message(
            types.ShowMessageParams(
                type=_MESSAGE_TYPES.get(severity, types.MessageType.Info), message=message
            )
        )

    def send_status(self, status: Status) -> None:
        send_status(self, status)


def build_server() -> AssistServer:
    server = AssistServer()
    session = server.session
    show = server.show_user_message

    @server.feature(types.INITIALIZE)
    def initialize(params: types.InitializeParams) -> None:
        # pygls picked the encoding from the client's preferences (UTF-8 for Neovim).
        chosen = server.workspace.position_encoding or types.PositionEncodingKind.Utf16
        session.encoding = PositionEncoding(getattr(chosen, "value", chosen))
        root = params.root_uri or ""
        session.root_name = file_name_of_uri(root) if root else ""
        session.set_initialization_options(params.initialization_options)
        server.diagnostics.configure(params.capabilities)
        session.set_root(path_of_uri(root))
        log.info("initialized: client=%s encoding=%s", params.client_info, session.encoding.value)

    @server.feature(types.INITIALIZED)
    async def initialized(params: types.InitializedParams) -> None:
        await configuration.pull_configuration(server, session)
        server.collector.start()
        session.preload_model()
        root = session.root_path
        if root is not None and await asyncio.to_thread(Path.is_dir, root):
            session.start_workspace(lambda: WorkDoneProgress(server, "index"))
        await watched_files.register(server)

    @server.feature(types.WORKSPACE_DID_CHANGE_WATCHED_FILES)
    def did_change_watched_files(params: types.DidChangeWatchedFilesParams) -> None:
        watched_files.did_change_watched_files(session, params)

    @server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    async def did_change_configuration(params: types.DidChangeConfigurationParams) -> None:
        await configuration.did_change_configuration(server, session, params)

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(params: types.DidOpenTextDocumentParams) -> None:
        text_sync.did_open(session, params)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(params: types.DidChangeTextDocumentParams) -> None:
        text_sync.did_change(session, params)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(params: types.DidCloseTextDocumentParams) -> None:
        text_sync.did_close(session, params)
        server.diagnostics.closed(params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_SAVE, text_sync.SAVE_OPTIONS)
    def did_save(params: types.DidSaveTextDocumentParams) -> None:
        text_sync.did_save(session, params)

    @server.feature(types.TEXT_DOCUMENT_INLINE_COMPLETION, types.InlineCompletionOptions())
    async def inline(params: types.InlineCompletionParams) -> types.InlineCompletionList | None:
        return await inline_completion(session, params)

    @server.feature(types.TEXT_DOCUMENT_COMPLETION, completion_items.OPTIONS)
    async def completion(params: types.CompletionParams) -> types.CompletionList:
        return await completion_items.completion(session, params)

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

    @server.command(commands.REVIEW_FILE_COMMAND)
    async def review_file(*arguments: Any) -> dict[str, Any]:
        """Reviews every function of the file [uri] (answers from the cache cost nothing),
        or of every open file."""
        return await commands.review(session, show, arguments[0] if arguments else None, "all")

    @server.command(commands.REVIEW_CHANGES_COMMAND)
    async def review_changes(*arguments: Any) -> dict[str, Any]:
        """Reviews the functions that differ from git HEAD, in the file [uri] or in every
        open file."""
        return await commands.review(session, show, arguments[0] if arguments else None, "git")

    @server.command(suggestion_events.ACCEPTED_COMMAND)
    def suggestion_accepted(*arguments: Any) -> None:
        suggestion_events.suggestion_accepted(session, arguments)

    @server.feature(suggestion_events.EVENT_NOTIFICATION)
    def suggestion_event(params: Any) -> None:
        suggestion_events.suggestion_event(session, params)

    @server.command(DISMISS_COMMAND)
    def dismiss(*arguments: Any) -> bool:
        return commands.dismiss(session, arguments)

    @server.command(EXPLAIN_COMMAND)
    async def explain(*arguments: Any) -> str | None:
        return await commands.explain(session, show, arguments)

    @server.command(commands.DOCTOR_COMMAND)
    async def doctor(*_arguments: Any) -> dict[str, Any]:
        return await commands.doctor(session, show)

    @server.command(commands.PULL_COMMAND)
    async def pull(*arguments: Any) -> list[dict[str, Any]]:
        return await commands.pull(session, show, WorkDoneProgress(server, "pull"), arguments)

    if commands.debug_commands_enabled():  # tests and fuzzing only: see commands.py

        @server.command(commands.DOCUMENT_STATE_COMMAND)
        def document_state(*arguments: Any) -> dict[str, Any] | None:
            return commands.debug_document_state(session, arguments)

    @server.feature(types.SHUTDOWN)
    async def shutdown(params: None) -> None:
        await server.collector.stop()
        await session.shutdown()

    return server


def _settle_memory() -> None:
    """Moves everything allocated so far (imports, grammars) out of the garbage collector's
    reach: a full collection then walks only what the session allocates (a full collection
    during the workspace scan stalled the loop for 74 ms, 38 ms with this)."""
    gc.collect()
    gc.freeze()


def run_stdio() -> None:
    server = build_server()
    _settle_memory()
    serve_stdio(server)


def run_tcp(host: str, port: int) -> None:
    server = build_server()
    _settle_memory()
    server.start_tcp(host, port)
