"""The server's mutable state: open documents, settings, the backends and the engines.

Only quick, synchronous notifications (open/change/close/configuration) change it; requests
take a snapshot of a document (`Document.snapshot`) and do their slow work on that; heavy work
(whole-file parses, learning, review scans, state writes) goes to `worker`. Nothing here knows
about LSP messages.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine, Mapping, Sequence
from pathlib import Path
from typing import Any

from lsp_assist.backends.base import CompletionBackend
from lsp_assist.backends.endpoints import EndpointClients
from lsp_assist.backends.offline import OfflineCompletion
from lsp_assist.backends.routing import EndpointRouter
from lsp_assist.completion.engine import CompletionEngine
from lsp_assist.config import Settings, merge_settings_json, parse_settings
from lsp_assist.context.secrets import excluded, is_secret_path
from lsp_assist.context.workspace import WorkspaceContext
from lsp_assist.documents import MAX_ANALYSED_CHARS, Document, TextView
from lsp_assist.errors import FaultNotifier
from lsp_assist.offline.engine import OfflineEngine
from lsp_assist.offline.learning import WorkspaceLearning
from lsp_assist.positions import PositionEncoding
from lsp_assist.prompts.templates import ContextFile
from lsp_assist.review.service import NoProgress, ReviewProgress, ReviewService
from lsp_assist.review.store import default_state_dir
from lsp_assist.stats.recorder import AcceptanceRecorder
from lsp_assist.status import Status
from lsp_assist.uris import file_name_of_uri, path_of_uri
from lsp_assist.workers import BackgroundWorker

log = logging.getLogger(__name__)

CONTEXT_BUDGET_CHARS = 4_096
"""Characters of workspace context per prompt (the prompt builder fits it in its share)."""

Change = tuple[str, tuple[int, int] | None, tuple[int, int] | None]


class Session:
    def __init__(
        self,
        *,
        show_message: Callable[[str, str], None],
        send_status: Callable[[Status], None] = lambda status: None,
        on_findings: Callable[[str], None] = lambda uri: None,
        review_progress: Callable[[], ReviewProgress] | None = None,
        state_dir: Path | None = None,
    ) -> None:
        self.settings = Settings()
        self._initialization_options: Any = None
        self._workspace_configuration: Any = None
        self._reported_problems: set[str] = set()
        self._told_too_big: set[str] = set()
        self.encoding = PositionEncoding.UTF16
        self.documents: dict[str, Document] = {}
        self.root_name = ""
        self.root_path: Path | None = None
        self._show_message = show_message
        self.worker = BackgroundWorker()
        self._preloaded = False
        self._private: tuple[Settings, dict[str, bool]] = (self.settings, {})
        self._tasks: set[asyncio.Task[None]] = set()
        self.notifier = FaultNotifier(show_message)
        self.workspace = WorkspaceContext(self.worker, state_dir or default_state_dir())
        self.learning = WorkspaceLearning(
            OfflineEngine(index=self.workspace.index),
            lambda files: send_status(Status(state="learnt", files=files)),
            worker=self.worker,
        )
        self._offline = OfflineCompletion(self.learning.engine)
        self.clients = EndpointClients(lambda: self.settings.ollama)
        self.router = EndpointRouter(
            lambda: self.settings, self.clients, self._offline, self.notifier, show_message
        )
        self.engine = CompletionEngine(
            route=self.completion_route,
            settings=lambda: self.settings.completion,
            notifier=self.notifier,
            on_status=send_status,
            on_unavailable=self.router.unavailable,
            on_answered=self.router.answered,
            loading=self.model_loading,
        )
        self.acceptance = AcceptanceRecorder(
            state_dir=state_dir or default_state_dir(),
            worker=self.worker,
            document=self.documents.get,
            generations=lambda: getattr(self.engine, "generations_started", 0),
        )
        self.review = ReviewService(
            backend=self.router.review_backend,
            settings=lambda: self.settings.review,
            document=self.documents.get,
            activity=self.engine.activity,
            notifier=self.notifier,
            on_findings=on_findings,
            on_status=send_status,
            progress=review_progress or NoProgress,
            state_dir=state_dir or default_state_dir(),
            worker=self.worker,
            callees=self.workspace.symbols_named,
        )

    # -- backends -------------------------------------------------------------------------------

    def completion_route(self) -> Sequence[CompletionBackend]:
        return self.router.completion_route()

    def preload_model(self) -> None:
        """Gets the first completion endpoint ready in the background (Ollama loads the model,
        the embedded engine starts), so that the first keystroke does not pay for it; a
        failure is left for the first completion to report."""
        completion = self.settings.completion
        if not (completion.enabled and completion.preload) or completion.backend == "offline":
            return
        self._preloaded = True
        route = self.completion_route()
        if route and route[0] is not self._offline:
            self._background(route[0].preload(completion))

    def model_loading(self) -> bool:
        route = self.completion_route()
        return bool(route) and bool(getattr(route[0], "loading", False))

    def _background(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- settings -------------------------------------------------------------------------------

    def set_initialization_options(self, raw: Any) -> None:
        self._initialization_options = raw
        self._apply_settings()

    def set_workspace_configuration(self, raw: Any) -> None:
        self._workspace_configuration = raw
        self._apply_settings()

    def _apply_settings(self) -> None:
        raw = merge_settings_json(self._initialization_options, self._workspace_configuration)
        settings, problems = parse_settings(raw)
        for problem in problems:
            if problem in self._reported_problems:
                continue  # settings are re-read often; a bad value is told once
            self._reported_problems.add(problem)
            log.warning("settings: %s", problem)
            self._show_message("warning", f"lsp-assist settings: {problem}")
        old = self.settings
        self.settings = settings
        self.workspace.configure(exclude=settings.context.exclude, budget=CONTEXT_BUDGET_CHARS)
        if settings != old:
            log.info(
                "settings: completion from %s, model=%s",
                ", ".join(e.description for e in settings.completion_endpoints),
                settings.completion.model,
            )
        model_changed = (old.completion.model, old.ollama, old.completion_endpoints) != (
            settings.completion.model,
            settings.ollama,
            settings.completion_endpoints,
        )
        if model_changed and self._preloaded:
            self.preload_model()  # started already: the new model is the one to load

    # -- documents ------------------------------------------------------------------------------

    def open_document(self, uri: str, text: str, language_id: str | None, version: int) -> None:
        document = Document(
            uri, text, language_id=language_id, version=version, encoding=self.encoding
        )
        self.documents[uri] = document
        if self.private(uri):
            log.info("a private file is open: it is not completed, learnt or reviewed")
            return
        self._tell_if_too_big(document)
        self.learning.document_opened(uri, text, language_id)
        self.review.document_opened(uri)
        if not document.too_big:
            self.workspace.opened(uri, text, document.language)

    def change_document(self, uri: str, version: int, changes: list[Change]) -> None:
        document = self.documents.get(uri)
        if document is None:
            log.warning("change for a document that is not open: %s", uri)
            return
        first_line = None
        for new_text, start, end in changes:
            if start is not None and first_line is None:
                first_line = start[0]
            replaced = document.apply_change(new_text, start, end, version=version)
            if replaced is None:
                self.review.document_replaced(uri)
            else:
                self.review.document_edited(uri, *replaced, len(new_text))
            self.acceptance.document_edited(uri, replaced, len(new_text))
        if self.private(uri):
            return
        self._tell_if_too_big(document)
        self.learning.document_changed(uri, lambda: self._text_of(uri), document.language.name)
        self.review.schedule_idle_review(uri)
        if not document.too_big:
            self.workspace.changed(uri, first_line or 0, lambda: self.documents.get(uri))

    def _text_of(self, uri: str) -> str | None:
        document = self.documents.get(uri)
        return document.text if document is not None else None

    def _tell_if_too_big(self, document: Document) -> None:
        if not document.too_big or document.uri in self._told_too_big:
            return
        self._told_too_big.add(document.uri)
        megabytes = len(document.text) / 1_000_000
        self._show_message(
            "info",
            f"lsp-assist: {file_name_of_uri(document.uri)} is {megabytes:.1f} MB, over the "
            f"{MAX_ANALYSED_CHARS // 1_000_000} MB that lsp-assist analyses whole: it completes "
            "it from the code around the cursor, and does not review or learn from it",
        )

    def close_document(self, uri: str) -> None:
        if self.documents.pop(uri, None) is not None:
            self.workspace.closed(uri)
        self._private[1].pop(uri, None)
        self._told_too_big.discard(uri)
        self.engine.document_closed(uri)
        self.review.document_closed(uri)
        self.learning.document_closed(uri)

    def private(self, uri: str) -> bool:
        """Never sent to a model, learnt or reviewed: a secret file (`.env`, keys, credential
        stores), or one that `context.exclude` names. Asked per keystroke (70 µs to work out):
        remembered per URI for the current settings."""
        known = self._private
        if known[0] is not self.settings:
            known = self._private = (self.settings, {})
        if (answer := known[1].get(uri)) is None:
            answer = known[1][uri] = self._is_private(uri)
        return answer

    def _is_private(self, uri: str) -> bool:
        if is_secret_path(uri):
            return True
        exclude = self.settings.context.exclude
        if not exclude:
            return False
        path = path_of_uri(uri)
        if path is None:
            return False
        root = self.root_path
        if root is not None and path.is_relative_to(root):
            path = path.relative_to(root)
        return excluded(path.as_posix(), exclude)

    def document_saved(self, uri: str) -> None:
        document = self.documents.get(uri)
        if document is None or self.private(uri) or document.too_big:
            return
        self.workspace.saved(document.snapshot())
        review = self.settings.review
        if review.enabled and review.onSave:
            self.review.request(uri, "changed")

    def file_changed_on_disk(self, uri: str) -> None:
        """Created, changed or deleted on disk, not by the editor (an open buffer wins)."""
        if uri not in self.documents:
            self.learning.file_changed_on_disk(uri)
            self.workspace.changed_on_disk(uri)

    def context_files(self, current: TextView, offset: int) -> Sequence[ContextFile]:
        """The context block for a completion at `offset`: the definitions the cursor needs
        from the whole workspace and similar code from open buffers (`context/`), the same
        tuple while the cursor stays in one statement, so the prompt's head stays the same."""
        if not self.settings.context.enabled or not self.settings.completion.contextFiles:
            return ()
        return self.workspace.context_for(current, offset, self.documents.values())

    def set_root(self, root: Path | None) -> None:
        self.root_path = root
        self.workspace.set_root(root)

    def start_workspace(self, progress: Callable[[], Any] | None = None) -> None:
        """Reads the workspace in the background: the offline engine learns it, the index
        records what it defines."""
        root = self.root_path
        if root is None:
            return
        self.learning.scan_in_background(root)
        if self.settings.context.enabled:
            self.workspace.start(root, progress)

    async def shutdown(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await self.workspace.close()
        await self.review.shutdown()
        await self.engine.shutdown()
        await self.router.close()
        await self.learning.close()
        await self.clients.close()
        self.acceptance.close()  # its last writes are queued before the worker closes
        self.worker.close()


def settings_section(value: Any) -> Mapping[str, Any] | None:
    """`workspace/configuration` answers one value per item; clients send null when unset."""
    if isinstance(value, (list, tuple)):  # pygls hands the result over as a tuple
        value = value[0] if value else None
    return value if isinstance(value, Mapping) else None
