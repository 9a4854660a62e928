"""The session: documents in and out, what is told once, the route, the backends' lifecycle."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from lsp_assist.documents import MAX_ANALYSED_CHARS
from lsp_assist.errors import BackendUnavailable
from lsp_assist.session import Session
from lsp_assist.status import Status


class Shown:
    def __init__(self) -> None:
        self.messages: list[tuple[str, str]] = []
        self.statuses: list[Status] = []

    def show(self, severity: str, message: str) -> None:
        self.messages.append((severity, message))


@pytest.fixture
async def shown() -> Shown:
    return Shown()


@pytest.fixture
async def session(shown: Shown, tmp_path: Path) -> AsyncIterator[Session]:
    created = Session(
        show_message=shown.show, send_status=shown.statuses.append, state_dir=tmp_path
    )
    created.set_initialization_options({"ollama": {"host": "http://127.0.0.1:9"}})
    yield created
    await created.shutdown()


async def test_a_closed_document_is_forgotten(session: Session) -> None:
    session.open_document("untitled:Untitled-1", "x = 1\n", "python", 1)
    session.change_document("untitled:Untitled-1", 2, [("y", (0, 0), (0, 0))])
    assert session.documents["untitled:Untitled-1"].text == "yx = 1\n"
    session.close_document("untitled:Untitled-1")
    assert "untitled:Untitled-1" not in session.documents
    assert session.review.findings("untitled:Untitled-1") == []
    # A change that arrives after the close is ignored, not an error.
    session.change_document("untitled:Untitled-1", 3, [("z", (0, 0), (0, 0))])
    assert "untitled:Untitled-1" not in session.documents


async def test_a_document_too_big_to_analyse_is_told_once_with_what_still_works(
    session: Session, shown: Shown
) -> None:
    big = "x = 1\n" * (MAX_ANALYSED_CHARS // 6 + 1)
    session.open_document("file:///w/big.py", big, "python", 1)
    session.change_document("file:///w/big.py", 2, [("y", (0, 0), (0, 0))])
    session.change_document("file:///w/big.py", 3, [("z", (0, 0), (0, 0))])
    assert len(shown.messages) == 1
    severity, message = shown.messages[0]
    assert severity == "info" and "big.py is 1.0 MB" in message
    assert "around the cursor" in message and "does not review" in message


async def test_a_document_that_grows_too_big_is_told_when_it_does(
    session: Session, shown: Shown
) -> None:
    session.open_document("file:///w/grows.py", "x = 1\n", "python", 1)
    assert shown.messages == []
    session.change_document("file:///w/grows.py", 2, [("#" * (MAX_ANALYSED_CHARS + 1), None, None)])
    assert len(shown.messages) == 1


async def test_context_is_what_the_cursor_calls_from_open_files_never_a_private_one(
    session: Session,
) -> None:
    session.set_root(Path("/w"))
    session.open_document(
        "file:///w/b.py", "def scale(x: int) -> int:\n    return 2 * x\n", "python", 1
    )
    session.open_document("file:///w/.env", "API_TOKEN=abc\n", "python", 1)
    session.open_document("file:///w/c.go", "package c\n\nfunc scale() {}\n", "go", 1)
    text = "from b import scale\n\nscale("
    session.open_document("file:///w/main.py", text, "python", 1)
    await session.workspace.caught_up()
    current = session.documents["file:///w/main.py"].snapshot()
    files = session.context_files(current, len(text))
    assert [(f.path, f.text) for f in files] == [("b.py", "def scale(x: int) -> int:\n    ...\n")]
    # Typing along the line keeps the very same block: the prompt's head stays the same.
    session.change_document("file:///w/main.py", 2, [("2", (2, 6), (2, 6))])
    again = session.documents["file:///w/main.py"].snapshot()
    assert session.context_files(again, len(text) + 1) is files


async def test_the_route_follows_the_backend_setting_and_the_model_servers_health(
    session: Session,
) -> None:
    assert [b.name for b in session.completion_route()] == ["ollama", "offline"]
    session.set_workspace_configuration({"completion": {"backend": "offline"}})
    assert [b.name for b in session.completion_route()] == ["offline"]
    session.set_workspace_configuration({"completion": {"backend": "ollama"}})
    assert [b.name for b in session.completion_route()] == ["ollama"]
    session.set_workspace_configuration({"completion": {"backend": "auto"}})
    session.router.unavailable("ollama", BackendUnavailable("http://127.0.0.1:11434"))
    assert [b.name for b in session.completion_route()] == ["offline"]


async def test_a_new_host_gets_a_new_client_and_every_client_is_closed_at_shutdown(
    shown: Shown, tmp_path: Path
) -> None:
    session = Session(show_message=shown.show, state_dir=tmp_path)
    first = session.router.review_backend().client
    assert session.router.review_backend().client is first  # the same settings, the same client
    session.set_workspace_configuration({"ollama": {"host": "http://127.0.0.1:10"}})
    second = session.router.review_backend().client
    assert second is not first and not first.closed  # it may still be streaming
    await session.shutdown()
    assert first.closed and second.closed


async def test_a_bad_setting_is_told_once_however_often_it_is_read(
    session: Session, shown: Shown
) -> None:
    for _ in range(3):
        session.set_workspace_configuration({"completion": {"firstTokenMs": -1}})
    assert [m for _, m in shown.messages] == [
        "lsp-assist settings: completion.firstTokenMs must be 0 or more: -1; using 3000"
    ]
    assert session.settings.completion.firstTokenMs == 3000
