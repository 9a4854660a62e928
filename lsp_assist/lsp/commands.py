"""`workspace/executeCommand`: doctor, pulling models, reviews, and a finding's actions.

Arguments are optional and may come as a URI string or `{"uri": …}` (clients differ).

`lspAssist.debug.documentState` (tests and fuzzing, see `debug_state.py`) is registered only
when the server starts with `LSP_ASSIST_DEBUG_COMMANDS=1`. It reveals nothing the client does
not have (the buffer's text), but it is no feature: every command a server registers is
advertised, and VS Code's client turns each advertised command into one in the palette.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
from collections.abc import Callable
from typing import Any

from lsp_assist.debug_state import document_state
from lsp_assist.doctor import PullProgress, diagnose, format_report, pull_models
from lsp_assist.lsp.diagnostics import command_uri
from lsp_assist.progress import WorkDoneProgress
from lsp_assist.session import Session

DOCTOR_COMMAND = "lspAssist.doctor"
PULL_COMMAND = "lspAssist.pullModels"
REVIEW_FILE_COMMAND = "lspAssist.reviewFile"
REVIEW_CHANGES_COMMAND = "lspAssist.reviewChanges"
DOCUMENT_STATE_COMMAND = "lspAssist.debug.documentState"

ShowMessage = Callable[[str, str], None]


async def review(session: Session, show: ShowMessage, uri: Any, scope: Any) -> dict[str, Any]:
    """Reviews the file [uri] (or every open file) in `scope` ("all" or "git")."""
    uris = [u] if (u := command_uri(uri)) else sorted(session.documents)
    unknown = [u for u in uris if u not in session.documents]
    if unknown:
        show("warning", f"lsp-assist: not open, not reviewed: {unknown[0]}")
    runs = [
        session.review.request(u, scope)
        for u in uris
        if u in session.documents and not session.private(u)
    ]
    stats = await asyncio.gather(*runs)
    return {
        "files": len(runs),
        "units": sum(s.units for s in stats),
        "calls": sum(s.calls for s in stats),
        "findings": sum(len(session.review.findings(u)) for u in uris),
    }


def dismiss(session: Session, arguments: tuple[Any, ...]) -> bool:
    uri, finding_id = (list(arguments) + [None, None])[:2]
    if not isinstance(uri, str) or not isinstance(finding_id, str):
        return False
    return session.review.dismiss(uri, finding_id)


async def explain(session: Session, show: ShowMessage, arguments: tuple[Any, ...]) -> str | None:
    uri, finding_id = (list(arguments) + [None, None])[:2]
    if not isinstance(uri, str) or not isinstance(finding_id, str):
        return None
    explanation = await session.review.explain(uri, finding_id)
    if explanation:
        show("info", explanation)
    return explanation


async def doctor(session: Session, show: ShowMessage) -> dict[str, Any]:
    """`lsp-assist doctor` for the editor: the report as a message, and as the result."""
    report = await diagnose(session.settings)
    show("info" if report.ok else "warning", format_report(report))
    return report.to_json()


async def pull(
    session: Session, show: ShowMessage, progress: WorkDoneProgress, arguments: tuple[Any, ...]
) -> list[dict[str, Any]]:
    """Pulls [model], or every configured model that is missing, reporting `$/progress`."""
    model = arguments[0] if arguments and isinstance(arguments[0], str) else None
    models = [model] if model else (await diagnose(session.settings)).missing_models
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
        show("error", f"lsp-assist: {summary}")
    return [dataclasses.asdict(r) for r in results]


def debug_commands_enabled() -> bool:
    return os.environ.get("LSP_ASSIST_DEBUG_COMMANDS") == "1"


def debug_document_state(session: Session, arguments: tuple[Any, ...]) -> dict[str, Any] | None:
    """The server's state of the open document [uri] (None when it is not open)."""
    uri = command_uri(arguments[0] if arguments else None)
    document = session.documents.get(uri) if uri else None
    return document_state(document) if document is not None else None
