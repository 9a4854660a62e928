"""Specifications of how the offline engine learns: a bounded model, learning in the worker
thread, the editor's text winning over the disk, and closed buffers forgotten."""

from __future__ import annotations

import asyncio
import os
import threading
import tracemalloc
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from lsp_assist.documents import MAX_ANALYSED_CHARS
from lsp_assist.offline.engine import OfflineEngine
from lsp_assist.offline.learning import INLINE_LEARN_CHARS, WorkspaceLearning
from lsp_assist.offline.ngram import NgramModel
from lsp_assist.uris import uri_of_path
from lsp_assist.workers import BackgroundWorker


def boxes(name: str, items: str = "items") -> str:
    """A file whose pattern the engine completes: `self.{items} = li` → `st({items})`."""
    return "".join(
        f"class {name}{n}:\n"
        f"    def __init__(self, {items}):\n"
        f"        self.{items} = list({items})\n\n"
        for n in range(4)
    )


def typed(items: str = "items") -> str:
    return f"class Crate:\n    def __init__(self, {items}):\n        self.{items} = li"


def suggestion(engine: OfflineEngine, items: str = "items") -> str | None:
    text = typed(items)
    return engine.suggest_line(text, len(text), "python", "file:///typing.py")


@pytest.fixture
async def worker() -> AsyncIterator[BackgroundWorker]:
    worker = BackgroundWorker("test-learning")
    yield worker
    worker.close()


@pytest.fixture
async def learning(worker: BackgroundWorker) -> AsyncIterator[WorkspaceLearning]:
    learning = WorkspaceLearning(OfflineEngine(), worker=worker)
    yield learning
    await learning.close()


# -- a bounded model ------------------------------------------------------------------------


def test_a_learnt_file_costs_a_few_bytes_per_token_not_its_strings() -> None:
    model = NgramModel(max_contexts=2_000)
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for file in range(40):
            # Fresh string objects, as the tokenizer makes them: 200,000 tokens in all.
            model.add_file(f"f{file}.py", [" name" + str(n % 300) for n in range(5_000)])
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert model.token_count == 200_000
    # Kept as strings (a pointer and a str object each) this would be over 10 MB.
    assert grown < 2_000_000


def test_forgetting_every_file_frees_every_symbol() -> None:
    model = NgramModel()
    model.add_file("a.py", ["alpha", " =", " beta", "\n"] * 10)
    model.add_file("b.py", ["gamma", " =", " delta", "\n"] * 10)
    model.add_file("a.py", ["alpha", " =", " epsilon", "\n"] * 10)  # " beta" is gone
    assert model.vocabulary.id_of(" beta") is None
    model.remove_file("a.py")
    model.remove_file("b.py")
    assert len(model.vocabulary) == 0
    assert model.context_count <= 1  # the (empty) unigram context
    assert model.token_count == 0


def test_pruning_keeps_what_is_frequent() -> None:
    model = NgramModel(max_contexts=300)
    model.add_file("common.py", ["x", " =", " f", "(", "y", ")", "\n"] * 50)
    for file in range(30):
        model.add_file(f"rare{file}.py", [f"w{file}_{n}" for n in range(40)])
    assert model.context_count <= 300
    assert model.complete_line(["x", " ="], 10) == " f(y)"


def test_a_reader_does_not_wait_while_the_model_changes() -> None:
    engine = OfflineEngine()
    engine.update_file("file:///boxes.py", boxes("Box"), "python")
    model = engine.model("python")
    assert model is not None and suggestion(engine) == "st(items)"
    answers: list[str | None] = []
    with model.lock:  # as the worker holds it while applying counts
        reader = threading.Thread(target=lambda: answers.append(suggestion(engine)))
        reader.start()
        reader.join(timeout=5)
        assert not reader.is_alive(), "the reader waited for the writer"
    assert answers == [None]


def test_a_text_too_long_to_analyse_is_not_learnt_and_forgets_the_old_one() -> None:
    engine = OfflineEngine()
    engine.update_file("file:///boxes.py", boxes("Box"), "python")
    huge = boxes("Box") + "#" * MAX_ANALYSED_CHARS
    assert engine.update_file("file:///boxes.py", huge, "python") is False
    assert suggestion(engine) is None
    assert engine.learnt_files == 0


# -- learning off the loop ------------------------------------------------------------------


async def test_a_big_buffer_is_learnt_in_the_worker_not_during_the_notification(
    learning: WorkspaceLearning,
) -> None:
    text = boxes("Box") + "\n" * INLINE_LEARN_CHARS
    learning.document_opened("file:///boxes.py", text, "python")
    assert learning.engine.learnt_files == 0  # the loop went on at once
    await learning.caught_up()
    assert suggestion(learning.engine) == "st(items)"


async def test_a_small_buffer_is_known_to_the_very_next_request(
    learning: WorkspaceLearning,
) -> None:
    learning.document_opened("file:///boxes.py", boxes("Box"), "python")
    assert suggestion(learning.engine) == "st(items)"


async def test_the_workspace_scan_learns_in_the_worker(
    worker: BackgroundWorker, tmp_path: Path
) -> None:
    (tmp_path / "boxes.py").write_text(boxes("Box"))
    (tmp_path / "more.mts").write_text("export const total = sum(items);\n")
    done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    learning = WorkspaceLearning(OfflineEngine(), done.set_result, worker)
    learning.scan_in_background(tmp_path)
    assert learning.engine.learnt_files == 0
    assert await done == 2  # .mts too: the suffixes come from the language registry
    assert suggestion(learning.engine) == "st(items)"
    await learning.close()


# -- the editor's text wins over the disk ---------------------------------------------------


async def test_a_buffer_opened_while_its_changed_file_is_read_wins_over_the_disk(
    worker: BackgroundWorker, tmp_path: Path
) -> None:
    (tmp_path / "other.py").write_text("x = 1\n")
    done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    learning = WorkspaceLearning(OfflineEngine(), done.set_result, worker)
    learning.scan_in_background(tmp_path)
    assert await done == 1
    # The file is a FIFO (which the workspace scan skips, as anything but a regular file):
    # the read blocks until the test writes the disk's text, so the editor opens the file
    # exactly while its change on disk is being read.
    path = tmp_path / "boxes.py"
    os.mkfifo(path)
    learning.file_changed_on_disk(uri_of_path(path))
    disk = await asyncio.to_thread(open, path, "w")  # returns once the read has it open
    learning.document_opened(uri_of_path(path), boxes("Box", "editor"), "python")
    disk.write(boxes("Box", "disk"))
    disk.close()
    await learning.caught_up()
    assert suggestion(learning.engine, "editor") == "st(editor)"
    assert suggestion(learning.engine, "disk") is None
    await learning.close()


async def test_a_buffer_reopened_while_its_disk_copy_is_read_wins_over_the_disk(
    worker: BackgroundWorker, tmp_path: Path
) -> None:
    (tmp_path / "other.py").write_text("x = 1\n")
    path = tmp_path / "boxes.py"
    done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    learning = WorkspaceLearning(OfflineEngine(), done.set_result, worker)
    learning.scan_in_background(tmp_path)
    await done
    os.mkfifo(path)
    uri = uri_of_path(path)
    learning.document_opened(uri, boxes("Box", "first"), "python")
    learning.document_closed(uri)  # back to the disk: it reads the FIFO
    disk = await asyncio.to_thread(open, path, "w")
    learning.document_opened(uri, boxes("Box", "again"), "python")
    disk.write(boxes("Box", "disk"))
    disk.close()
    await learning.caught_up()
    assert suggestion(learning.engine, "again") == "st(again)"
    assert suggestion(learning.engine, "disk") is None
    assert suggestion(learning.engine, "first") is None
    await learning.close()


# -- closed buffers are forgotten -----------------------------------------------------------


async def test_an_untitled_buffer_is_forgotten_when_closed(learning: WorkspaceLearning) -> None:
    learning.document_opened("untitled:Untitled-1", boxes("Box"), "python")
    assert suggestion(learning.engine) == "st(items)"
    learning.document_closed("untitled:Untitled-1")
    await learning.caught_up()
    assert suggestion(learning.engine) is None
    assert learning.engine.completion_items("Box") == []
    assert learning.engine.learnt_files == 0


async def test_a_closed_file_outside_the_workspace_is_forgotten(
    worker: BackgroundWorker, tmp_path: Path
) -> None:
    workspace, elsewhere = tmp_path / "workspace", tmp_path / "elsewhere"
    workspace.mkdir()
    elsewhere.mkdir()
    (elsewhere / "boxes.py").write_text(boxes("Box"))
    done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    learning = WorkspaceLearning(OfflineEngine(), done.set_result, worker)
    learning.scan_in_background(workspace)
    await done
    uri = uri_of_path(elsewhere / "boxes.py")
    learning.document_opened(uri, boxes("Box"), "python")
    learning.document_closed(uri)
    await learning.caught_up()
    assert learning.engine.learnt_files == 0
    await learning.close()


async def test_a_closed_workspace_file_goes_back_to_what_the_disk_says(
    worker: BackgroundWorker, tmp_path: Path
) -> None:
    path = tmp_path / "boxes.py"
    path.write_text(boxes("Box", "disk"))
    done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    learning = WorkspaceLearning(OfflineEngine(), done.set_result, worker)
    learning.scan_in_background(tmp_path)
    await done
    uri = uri_of_path(path)
    learning.document_opened(uri, boxes("Box", "unsaved"), "python")
    assert suggestion(learning.engine, "unsaved") == "st(unsaved)"
    learning.document_closed(uri)  # closed without saving
    await learning.caught_up()
    assert suggestion(learning.engine, "unsaved") is None
    assert suggestion(learning.engine, "disk") == "st(disk)"
    await learning.close()


async def test_closing_a_buffer_cancels_its_pending_relearn(learning: WorkspaceLearning) -> None:
    asked: list[str] = []

    def current_text() -> str:
        asked.append("asked")
        return boxes("Box")

    learning.document_opened("untitled:Untitled-1", "x = 1\n", "python")
    learning.document_changed("untitled:Untitled-1", current_text, "python")
    learning.document_closed("untitled:Untitled-1")
    await learning.caught_up()
    assert learning.pending_relearns == 0
    assert asked == []
    assert learning.engine.learnt_files == 0
