"""A scripted editor for end-to-end tests: a real LSP client (pytest-lsp) talking to
`lsp-assist serve` over stdio, with the capabilities of a real editor.

`Editor` keeps its own copy of each buffer and sends incremental changes the way VS Code and
Neovim do, converting positions to the negotiated encoding itself (independently of the
server's converter, so the two are checked against each other).
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

from lsprotocol import types
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities

SERVER_COMMAND = [sys.executable, "-m", "lsp_assist", "serve", "-vv"]

CLIENTS = {
    "vscode": "visual-studio-code",
    "neovim": "neovim@v0.11.0",
    "vscode-pull": "visual-studio-code",  # plus pull diagnostics, as vscode-languageclient 9
}


def units(text: str, encoding: str) -> int:
    """Length of `text` in the code units of a position encoding."""
    if encoding == "utf-8":
        return len(text.encode("utf-8"))
    if encoding == "utf-16":
        return len(text.encode("utf-16-le")) // 2
    return len(text)


def deep_merge(base: dict[str, Any], extra: dict[str, Any] | None) -> dict[str, Any]:
    merged = dict(base)
    for key, value in (extra or {}).items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


@dataclass
class Buffer:
    uri: str
    text: str
    version: int = 1


@dataclass
class Editor:
    client: LanguageClient
    encoding: str
    statuses: list[Any] = field(default_factory=list)
    buffers: dict[str, Buffer] = field(default_factory=dict)

    # -- positions -------------------------------------------------------------------------

    def position(self, uri: str, offset: int) -> types.Position:
        text = self.buffers[uri].text[:offset]
        line = text.count("\n")
        line_start = text.rfind("\n") + 1
        return types.Position(line=line, character=units(text[line_start:], self.encoding))

    def end_of(self, uri: str) -> int:
        return len(self.buffers[uri].text)

    # -- buffers ---------------------------------------------------------------------------

    def open(self, name: str, text: str, language_id: str = "python") -> str:
        return self.open_uri(f"file:///workspace/{name}", text, language_id)

    def open_uri(self, uri: str, text: str, language_id: str = "python") -> str:
        self.buffers[uri] = Buffer(uri, text)
        self.client.text_document_did_open(
            types.DidOpenTextDocumentParams(
                text_document=types.TextDocumentItem(
                    uri=uri, language_id=language_id, version=1, text=text
                )
            )
        )
        return uri

    def replace(self, uri: str, start: int, end: int, new_text: str) -> None:
        buffer = self.buffers[uri]
        range_ = types.Range(start=self.position(uri, start), end=self.position(uri, end))
        buffer.text = buffer.text[:start] + new_text + buffer.text[end:]
        buffer.version += 1
        self.client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(
                    uri=uri, version=buffer.version
                ),
                content_changes=[
                    types.TextDocumentContentChangePartial(range=range_, text=new_text)
                ],
            )
        )

    def type(self, uri: str, offset: int, text: str) -> int:
        """Types `text` one character at a time at `offset`; returns the new cursor offset."""
        for char in text:
            self.replace(uri, offset, offset, char)
            offset += len(char)
        return offset

    def backspace(self, uri: str, offset: int, count: int = 1) -> int:
        for _ in range(count):
            self.replace(uri, offset - 1, offset, "")
            offset -= 1
        return offset

    def close(self, uri: str) -> None:
        self.client.text_document_did_close(
            types.DidCloseTextDocumentParams(text_document=types.TextDocumentIdentifier(uri))
        )
        self.buffers.pop(uri, None)

    async def prompt_showing(
        self,
        uri: str,
        text: str,
        offset: int,
        shows: str,
        last_prompt: Callable[[], str],
        attempts: int = 200,
    ) -> str:
        """The prompt of a completion at `offset` in `uri` (opened with `text`) once it shows
        `shows`. What the server reads in the background (the workspace index) lands a little
        later than the buffers that trigger it: ask again — from the buffer closed and opened
        anew, so that no cached suggestion answers — until it does; each ask is a round trip."""
        prompt = ""
        for _ in range(attempts):
            if uri in self.buffers:
                self.close(uri)
            self.open_uri(uri, text)
            await self.ghost_text(uri, offset)
            prompt = last_prompt()
            if shows in prompt:
                break
        return prompt

    def save(self, uri: str) -> None:
        self.client.text_document_did_save(
            types.DidSaveTextDocumentParams(text_document=types.TextDocumentIdentifier(uri=uri))
        )

    def offset_of(self, uri: str, needle: str) -> int:
        offset = self.buffers[uri].text.find(needle)
        assert offset >= 0, f"{needle!r} not in {uri}"
        return offset

    def offset_at(self, uri: str, position: types.Position) -> int:
        """A client position (in the negotiated encoding) as an offset in the buffer."""
        lines = self.buffers[uri].text.split("\n")
        line_start = sum(len(line) + 1 for line in lines[: position.line])
        line = lines[position.line] if position.line < len(lines) else ""
        units_seen, column = 0, 0
        while column < len(line) and units_seen < position.character:
            units_seen += units(line[column], self.encoding)
            column += 1
        return line_start + column

    def quoted(self, uri: str, diagnostic: types.Diagnostic) -> str:
        """The buffer's text under a diagnostic's range."""
        start = self.offset_at(uri, diagnostic.range.start)
        return self.buffers[uri].text[start : self.offset_at(uri, diagnostic.range.end)]

    # -- diagnostics and actions -----------------------------------------------------------

    def diagnostics(self, uri: str) -> list[types.Diagnostic]:
        return list(self.client.diagnostics.get(uri, []))

    async def wait_for_diagnostics(
        self,
        uri: str,
        predicate: Any = lambda diagnostics: bool(diagnostics),
        timeout: float = 15,
    ) -> list[types.Diagnostic]:
        """Waits for published diagnostics of `uri` that satisfy `predicate`."""

        async def wait() -> list[types.Diagnostic]:
            while not predicate(self.diagnostics(uri)):
                await self.client.wait_for_notification(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
            return self.diagnostics(uri)

        return await asyncio.wait_for(wait(), timeout)

    async def execute(self, command: str, *arguments: Any, timeout: float = 30) -> Any:
        return await asyncio.wait_for(
            self.client.workspace_execute_command_async(
                types.ExecuteCommandParams(command=command, arguments=list(arguments))
            ),
            timeout,
        )

    async def code_actions(
        self, uri: str, diagnostic: types.Diagnostic
    ) -> list[types.CodeAction | types.Command]:
        result = await asyncio.wait_for(
            self.client.text_document_code_action_async(
                types.CodeActionParams(
                    text_document=types.TextDocumentIdentifier(uri=uri),
                    range=diagnostic.range,
                    context=types.CodeActionContext(diagnostics=[diagnostic]),
                )
            ),
            10,
        )
        return list(result or [])

    def apply(self, uri: str, edit: types.WorkspaceEdit) -> None:
        """Applies a code action's edit the way an editor does (one change per text edit)."""
        for change in edit.document_changes or []:
            assert isinstance(change, types.TextDocumentEdit)
            assert change.text_document.version == self.buffers[uri].version
            for text_edit in change.edits:
                assert isinstance(text_edit, types.TextEdit)
                start = self.offset_at(uri, text_edit.range.start)
                end = self.offset_at(uri, text_edit.range.end)
                self.replace(uri, start, end, text_edit.new_text)

    # -- requests --------------------------------------------------------------------------

    def inline_request(
        self, uri: str, offset: int, msg_id: str | None = None
    ) -> asyncio.Future[Any]:
        params = types.InlineCompletionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            position=self.position(uri, offset),
            context=types.InlineCompletionContext(
                trigger_kind=types.InlineCompletionTriggerKind.Automatic
            ),
        )
        # Scheduled now (not when awaited), so the request is on the wire in order with the
        # notifications that follow it.
        return asyncio.ensure_future(
            self.client.protocol.send_request_async(
                types.TEXT_DOCUMENT_INLINE_COMPLETION, params, msg_id=msg_id or str(uuid.uuid4())
            )
        )

    async def inline(self, uri: str, offset: int) -> types.InlineCompletionList | None:
        return await asyncio.wait_for(self.inline_request(uri, offset), timeout=15)

    async def ghost_text(self, uri: str, offset: int) -> str | None:
        result = await self.inline(uri, offset)
        if result is None or not result.items:
            return None
        text = result.items[0].insert_text
        return text if isinstance(text, str) else text.value

    async def completion(self, uri: str, offset: int) -> types.CompletionList | None:
        params = types.CompletionParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            position=self.position(uri, offset),
        )
        result = await asyncio.wait_for(self.client.text_document_completion_async(params), 15)
        assert result is None or isinstance(result, types.CompletionList)
        return result

    def cancel(self, msg_id: str) -> None:
        self.client.cancel_request(types.CancelParams(id=msg_id))

    async def wait_for_message(self, count: int = 1, timeout: float = 10) -> list[str]:
        async def wait() -> None:
            while len(self.client.messages) < count:
                await self.client.wait_for_notification(types.WINDOW_SHOW_MESSAGE)

        await asyncio.wait_for(wait(), timeout)
        return [m.message for m in self.client.messages]

    @property
    def messages(self) -> list[str]:
        return [m.message for m in self.client.messages]

    async def round_trip(self) -> None:
        """Waits until the server has handled everything sent so far (it answers in order
        for notifications, so one cheap request behind them is enough)."""
        await asyncio.wait_for(
            self.client.text_document_completion_async(
                types.CompletionParams(
                    text_document=types.TextDocumentIdentifier(uri="file:///nowhere.txt"),
                    position=types.Position(line=0, character=0),
                )
            ),
            10,
        )


def _fix_code_action_structuring(client: LanguageClient) -> None:
    """lsprotocol 2025.0.0 reads any code action that has a `command` as a Command, even a
    CodeAction whose `command` is an object. Editors tell them apart as LSP says: a Command's
    `command` is a string."""
    converter = client.protocol._converter

    def structure(value: Any, _: type) -> types.Command | types.CodeAction:
        if isinstance(value.get("command"), str):
            return converter.structure(value, types.Command)
        return converter.structure(value, types.CodeAction)

    union = Union[types.Command, types.CodeAction]  # noqa: UP007 - lsprotocol's own key
    converter.register_structure_hook(union, structure)


@contextlib.asynccontextmanager
async def editor_session(
    host: str,
    *,
    client: str = "vscode",
    settings: dict[str, Any] | None = None,
    configuration: dict[str, Any] | None = None,
    env: dict[str, str] | None = None,
    root_uri: str = "file:///workspace",
    log_file: Path | None = None,
) -> AsyncIterator[Editor]:
    """Starts `lsp-assist serve`, initializes it like `client` would, and shuts it down."""
    command = [*SERVER_COMMAND, "--log-file", str(log_file)] if log_file else SERVER_COMMAND
    config = ClientServerConfig(server_command=command, server_env=env)
    lsp_client = await config.start()
    assert isinstance(lsp_client, LanguageClient)
    statuses: list[Any] = []

    @lsp_client.feature("lspAssist/status")
    def on_status(params: Any) -> None:
        statuses.append(params)

    _fix_code_action_structuring(lsp_client)
    capabilities = client_capabilities(CLIENTS[client])
    if client == "vscode-pull":
        assert capabilities.text_document is not None and capabilities.workspace is not None
        capabilities.text_document.diagnostic = types.DiagnosticClientCapabilities(
            related_document_support=False
        )
        capabilities.workspace.diagnostics = types.DiagnosticWorkspaceClientCapabilities(
            refresh_support=True
        )
    if configuration is not None:
        lsp_client.set_configuration(configuration, section="lspAssist")
    else:
        # No configuration support: everything comes from initializationOptions.
        if capabilities.workspace is not None:
            capabilities.workspace.configuration = False
    # Prefetching (a generation after a pause) is on only in the tests about it: elsewhere it
    # would add requests that the tests do not count on.
    init_options = deep_merge(
        {"ollama": {"host": host}, "completion": {"debounceMs": 0, "prefetch": "never"}}, settings
    )
    result = await lsp_client.initialize_session(
        types.InitializeParams(
            capabilities=capabilities,
            initialization_options=init_options,
            root_uri=root_uri,
        )
    )
    encoding = str(result.capabilities.position_encoding or "utf-16")
    editor = Editor(lsp_client, encoding, statuses)
    try:
        yield editor
    finally:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(lsp_client.shutdown_session(), 10)
        await lsp_client.stop()
