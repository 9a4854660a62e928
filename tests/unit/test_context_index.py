"""Specifications of the workspace index: the name map, generations and versions, the build in
the worker with progress, open buffers owning their files, and the offline engine's items
read from it."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import tree_sitter

import lsp_assist.context.index as index_module
from lsp_assist.context.index import WorkspaceIndex
from lsp_assist.context.index_store import load_index, store_path
from lsp_assist.documents import Document
from lsp_assist.languages import LANGUAGES
from lsp_assist.offline.definitions import DefinitionIndex
from lsp_assist.uris import uri_of_path
from lsp_assist.workers import BackgroundWorker

PYTHON = LANGUAGES["python"]


def write(root: Path, relative: str, text: str) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.fixture
async def worker() -> AsyncIterator[BackgroundWorker]:
    worker = BackgroundWorker("test-index")
    yield worker
    worker.close()


# -- the name map, generations, versions ------------------------------------------------------


def test_symbols_are_found_by_name_across_files() -> None:
    index = WorkspaceIndex()
    index.index_text("a.py", "def send():\n    pass\n", PYTHON)
    index.index_text("b.py", "class Client:\n    def send(self):\n        pass\n", PYTHON)
    assert [(s.path, s.kind, s.container) for s in index.symbols_named("send")] == [
        ("a.py", "function", ""),
        ("b.py", "method", "Client"),
    ]
    assert index.symbols_named("missing") == ()
    assert sorted(index.paths()) == ["a.py", "b.py"]


def test_a_changed_file_replaces_its_names_in_place() -> None:
    index = WorkspaceIndex()
    index.index_text("a.py", "def send():\n    pass\n", PYTHON)
    index.index_text("b.py", "def send():\n    pass\ndef old():\n    pass\n", PYTHON)
    index.index_text("c.py", "def send():\n    pass\n", PYTHON)
    index.index_text("b.py", "def send(x):\n    pass\ndef new():\n    pass\n", PYTHON)
    assert [s.path for s in index.symbols_named("send")] == ["a.py", "b.py", "c.py"]
    assert index.symbols_named("send")[1].signature == "def send(x):"
    assert index.symbols_named("old") == ()
    assert [s.name for s in index.symbols_named("new")] == ["new"]
    assert index.names_starting("OL") == [] and index.names_starting("ne") == ["new"]


def test_removing_a_file_drops_its_names() -> None:
    index = WorkspaceIndex()
    index.index_text("a.py", "def send():\n    pass\n", PYTHON)
    index.index_text("b.py", "def send():\n    pass\n", PYTHON)
    assert index.remove("a.py")
    assert [s.path for s in index.symbols_named("send")] == ["b.py"]
    assert index.file("a.py") is None
    assert not index.remove("a.py")


def test_the_generation_bumps_on_every_change_and_only_then() -> None:
    index = WorkspaceIndex()
    assert index.generation == 0
    index.index_text("a.py", "def f():\n    pass\n", PYTHON)
    index.index_text("b.py", "def g():\n    pass\n", PYTHON)
    assert index.generation == 2
    assert (index.version("a.py"), index.version("b.py")) == (1, 2)
    assert not index.index_text("a.py", "def f():\n    pass\n", PYTHON)  # same tags
    assert index.generation == 2
    index.index_text("a.py", "def f(x):\n    pass\n", PYTHON)
    assert (index.generation, index.version("a.py"), index.version("b.py")) == (3, 3, 2)
    index.remove("b.py")
    assert (index.generation, index.version("b.py")) == (4, 4)


def test_secret_and_excluded_files_are_never_indexed() -> None:
    index = WorkspaceIndex(exclude=("legacy/",))
    assert not index.index_text("config/secrets.py", 'TOKEN = "abc"\n', PYTHON)
    assert not index.index_text("legacy/old.py", "def old():\n    pass\n", PYTHON)
    assert index.paths() == []


def test_keys_are_workspace_relative_paths(tmp_path: Path) -> None:
    index = WorkspaceIndex(tmp_path)
    uri = uri_of_path(tmp_path / "pkg" / "a.py")
    assert index.key_of(uri) == "pkg/a.py"
    assert index.key_of(tmp_path / "pkg" / "a.py") == "pkg/a.py"
    assert index.key_of("untitled:Untitled-1") == "untitled:Untitled-1"
    assert index.key_of("/elsewhere/x.py") == "/elsewhere/x.py"
    assert index.uri_of("pkg/a.py") == uri


# -- the build ---------------------------------------------------------------------------------


async def test_build_indexes_the_workspace_in_the_worker_with_progress(
    tmp_path: Path, worker: BackgroundWorker, monkeypatch: pytest.MonkeyPatch
) -> None:
    for n in range(5):
        write(tmp_path, f"pkg/m{n}.py", f"def func_{n}():\n    pass\n")
    write(tmp_path, "node_modules/dep.js", "function dep() {}\n")
    parsed_on: set[str] = set()
    real_parse = index_module.parse_yielding

    def spying_parse(parser: tree_sitter.Parser, source: bytes) -> tree_sitter.Tree:
        parsed_on.add(threading.current_thread().name)
        return real_parse(parser, source)

    monkeypatch.setattr(index_module, "parse_yielding", spying_parse)
    progress: list[tuple[int, int]] = []
    index = WorkspaceIndex()
    total = await index.build(tmp_path, worker, on_progress=lambda *p: progress.append(p))
    assert total == 5
    assert sorted(index.paths()) == [f"pkg/m{n}.py" for n in range(5)]
    assert index.symbols_named("func_3")[0].path == "pkg/m3.py"
    assert progress == [(n, 5) for n in range(6)]
    assert parsed_on and all(name.startswith("test-index") for name in parsed_on)
    assert threading.current_thread().name not in parsed_on


async def test_a_rebuild_forgets_files_no_longer_there(
    tmp_path: Path, worker: BackgroundWorker
) -> None:
    write(tmp_path, "a.py", "def a():\n    pass\n")
    gone = write(tmp_path, "b.py", "def b():\n    pass\n")
    index = WorkspaceIndex()
    await index.build(tmp_path, worker)
    gone.unlink()
    await index.build(tmp_path, worker)
    assert index.paths() == ["a.py"] and index.symbols_named("b") == ()


async def test_an_open_buffer_owns_its_file_until_closed(
    tmp_path: Path, worker: BackgroundWorker
) -> None:
    path = write(tmp_path, "a.py", "def on_disk():\n    pass\n")
    index = WorkspaceIndex(tmp_path, worker)
    uri = uri_of_path(path)
    await index.update_text(uri, "def in_buffer():\n    pass\n", PYTHON)
    await index.build(tmp_path)
    await index.file_changed_on_disk(path)
    assert [s.name for s in index.symbols_named("in_buffer")] == ["in_buffer"]
    assert index.symbols_named("on_disk") == ()
    await index.close_buffer(uri)
    assert index.symbols_named("in_buffer") == ()
    assert [s.path for s in index.symbols_named("on_disk")] == ["a.py"]


async def test_a_buffer_with_no_file_is_forgotten_when_closed(worker: BackgroundWorker) -> None:
    index = WorkspaceIndex(worker=worker)
    await index.update_text("untitled:Untitled-1", "def draft():\n    pass\n", PYTHON)
    assert index.symbols_named("draft")[0].path == "untitled:Untitled-1"
    await index.close_buffer("untitled:Untitled-1")
    assert index.paths() == []


async def test_an_open_secret_file_is_not_indexed(tmp_path: Path, worker: BackgroundWorker) -> None:
    index = WorkspaceIndex(tmp_path, worker)
    await index.update_text(tmp_path / "secrets.py", "API_TOKEN = 'abc'\n", PYTHON)
    assert index.paths() == [] and index.symbols_named("API_TOKEN") == ()


async def test_watched_files_keep_the_index_current(
    tmp_path: Path, worker: BackgroundWorker
) -> None:
    index = WorkspaceIndex(tmp_path, worker)
    await index.build(tmp_path)
    path = write(tmp_path, "new.py", "def fresh():\n    pass\n")
    await index.file_changed_on_disk(path)
    assert index.symbols_named("fresh")[0].path == "new.py"
    path.write_text("def renamed():\n    pass\n")
    await index.file_changed_on_disk(uri_of_path(path))
    assert index.symbols_named("fresh") == () and index.symbols_named("renamed")
    path.unlink()
    await index.file_deleted(path)
    assert index.paths() == []


async def test_readers_on_the_loop_see_whole_files_while_the_worker_writes(
    tmp_path: Path, worker: BackgroundWorker
) -> None:
    body = "".join(f"def name_{n}():\n    pass\n" for n in range(50))
    for n in range(40):
        write(tmp_path, f"m{n:02}.py", body)
    index = WorkspaceIndex()
    seen: list[int] = []

    def read(*_progress: int) -> None:
        for name in index.names_starting("name_"):
            seen.append(len(index.symbols_named(name)))
        index.paths()

    await index.build(tmp_path, worker, on_progress=read)
    assert seen and all(count >= 1 for count in seen)
    assert len(index.symbols_named("name_7")) == 40


# -- the offline engine's items come from the index --------------------------------------------


async def test_offline_definition_items_read_the_shared_index(
    tmp_path: Path, worker: BackgroundWorker
) -> None:
    write(tmp_path, "orders.py", "class Order:\n    def price(self):\n        pass\n")
    write(tmp_path, "other.py", "def order_total():\n    pass\n")
    index = WorkspaceIndex()
    definitions = DefinitionIndex(index)
    await index.build(tmp_path, worker)
    here = uri_of_path(tmp_path / "other.py")
    items = definitions.complete_identifier("ord", here)
    assert [(d.name, d.uri) for d in items] == [
        ("order_total", here),
        ("Order", uri_of_path(tmp_path / "orders.py")),
    ]
    assert items[1].signature == "class Order"


async def test_a_rebuild_reads_only_files_changed_on_disk(
    tmp_path: Path, worker: BackgroundWorker, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path, "a.py", "def a():\n    pass\n")
    changed = write(tmp_path, "b.py", "def b():\n    pass\n")
    index = WorkspaceIndex()
    await index.build(tmp_path, worker)
    parsed: list[bytes] = []
    real_parse = index_module.parse_yielding

    def counting_parse(parser: tree_sitter.Parser, source: bytes) -> tree_sitter.Tree:
        parsed.append(source)
        return real_parse(parser, source)

    monkeypatch.setattr(index_module, "parse_yielding", counting_parse)
    changed.write_text("def b2():\n    pass\n")
    await index.build(tmp_path, worker)
    assert parsed == [b"def b2():\n    pass\n"]
    assert index.symbols_named("b2") and index.symbols_named("a")


# -- saved between runs ------------------------------------------------------------------------


async def test_a_restart_reads_only_the_files_changed_since_the_last_run(
    tmp_path: Path, worker: BackgroundWorker, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "ws"
    write(root, "a.py", "def a():\n    '''Does a.'''\n")
    changed = write(root, "b.py", "def b():\n    pass\n")
    gone = write(root, "c.ts", 'import { a } from "./a";\nexport function c() {}\n')
    store = store_path(tmp_path / "state", root)
    await WorkspaceIndex().build(root, worker, store=store)
    changed.write_text("def b2():\n    pass\n")
    gone.unlink()
    parsed: list[bytes] = []
    real_parse = index_module.parse_yielding

    def counting_parse(parser: tree_sitter.Parser, source: bytes) -> tree_sitter.Tree:
        parsed.append(source)
        return real_parse(parser, source)

    monkeypatch.setattr(index_module, "parse_yielding", counting_parse)
    index = WorkspaceIndex()
    await index.build(root, worker, store=store)
    assert parsed == [b"def b2():\n    pass\n"]
    assert index.symbols_named("a")[0].doc == "Does a."
    assert sorted(index.paths()) == ["a.py", "b.py"]


async def test_a_store_of_another_root_or_format_is_ignored(
    tmp_path: Path, worker: BackgroundWorker
) -> None:
    first, second = tmp_path / "one", tmp_path / "two"
    write(first, "a.py", "def only_in_one():\n    pass\n")
    write(second, "b.py", "def only_in_two():\n    pass\n")
    store = tmp_path / "state" / "index.json"
    await WorkspaceIndex().build(first, worker, store=store)
    index = WorkspaceIndex()
    await index.build(second, worker, store=store)
    assert index.paths() == ["b.py"]
    store.write_text("{not json")
    assert load_index(WorkspaceIndex(second), store) == 0


async def test_a_buffer_already_parsed_by_its_document_is_not_parsed_again(
    tmp_path: Path, worker: BackgroundWorker, monkeypatch: pytest.MonkeyPatch
) -> None:
    uri = uri_of_path(tmp_path / "live.py")
    document = Document(uri, "def typed_just_now():\n    pass\n", language_id="python")
    snapshot = await document.parsed(worker)
    parsed: list[bytes] = []
    monkeypatch.setattr(index_module, "parse_yielding", lambda _p, source: parsed.append(source))
    index = WorkspaceIndex(tmp_path, worker)
    await index.update_text(uri, snapshot.text, snapshot.language, snapshot.tree)
    assert parsed == []
    assert index.symbols_named("typed_just_now")[0].path == "live.py"


async def test_a_buffer_too_big_to_index_is_left_out(
    tmp_path: Path, worker: BackgroundWorker
) -> None:
    index = WorkspaceIndex(tmp_path, worker)
    await index.build(tmp_path, max_file_bytes=1_000)
    await index.update_text(tmp_path / "small.py", "def small():\n    pass\n", PYTHON)
    await index.update_text(tmp_path / "big.py", "def big():\n    pass\n" * 100, PYTHON)
    assert index.paths() == ["small.py"]
