"""A review's progress always ends, even when the run is cut short (found by
benchmarks/soak.py: a file closed while its review waited for the model left the editor's
"Reviewing …" progress running for good, and pygls kept its token). Against the fake Ollama
through a real `OllamaBackend`, with a real worker thread."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from lsp_assist.backends.ollama import OllamaBackend
from lsp_assist.completion.activity import CompletionActivity
from lsp_assist.config import ReviewSettings
from lsp_assist.documents import Document
from lsp_assist.errors import FaultNotifier
from lsp_assist.review.service import ReviewService
from lsp_assist.workers import BackgroundWorker
from tests.fakes.fake_ollama import FakeOllama, Reply

SOURCE = "def add(a, b):\n    return a + b\n"


class RecordedProgress:
    def __init__(self, events: list[str]) -> None:
        self.events = events

    async def begin(self, title: str) -> None:
        self.events.append(f"begin {title}")

    def report(self, message: str, percentage: int) -> None:
        self.events.append("report")

    def end(self, message: str) -> None:
        self.events.append(f"end {message}")


def slow_review(body: dict[str, Any]) -> Reply:
    return Reply(text=json.dumps({"findings": []}), ttft=10.0)


async def test_closing_a_file_while_its_review_waits_for_the_model_ends_the_progress(
    fake_ollama: FakeOllama, tmp_path: Path
) -> None:
    fake_ollama.set_responder(slow_review)
    worker = BackgroundWorker()
    backend = OllamaBackend(fake_ollama.url)
    events: list[str] = []
    uri = "file:///project/adding.py"
    documents = {uri: Document(uri, SOURCE, language_id="python")}
    review = ReviewService(
        backend=lambda: backend,
        settings=lambda: ReviewSettings(),
        document=documents.get,
        activity=CompletionActivity(),
        notifier=FaultNotifier(lambda severity, text: None),
        on_findings=lambda uri: None,
        progress=lambda: RecordedProgress(events),
        state_dir=tmp_path / "state",
        worker=worker,
    )
    try:
        run = review.request(uri, "all")
        await fake_ollama.wait_for_requests_async(1)
        assert events[0] == "begin Reviewing adding.py"

        review.document_closed(uri)
        await asyncio.wait([run], timeout=5)

        assert run.cancelled()
        assert events[-1] == "end adding.py: stopped"
    finally:
        await review.shutdown()
        await backend.close()
        worker.close()
