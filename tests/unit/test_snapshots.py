"""Snapshots: what a request computes its answer in never changes under later edits."""

from __future__ import annotations

import asyncio
import threading

import tree_sitter

from lsp_assist.documents import MAX_ANALYSED_CHARS, Document
from lsp_assist.positions import PositionEncoding, utf8
from lsp_assist.workers import BackgroundWorker

PYTHON = "def add(a, b):\n    return a + b\n\n\nclass Box:\n    size = 3\n"


def fresh_sexp(text: str, document: Document) -> str:
    grammar = document.language.grammar
    assert grammar is not None
    return str(tree_sitter.Parser(grammar).parse(utf8(text)).root_node)


def test_a_snapshot_keeps_its_text_lines_and_positions_through_later_edits() -> None:
    document = Document("file:///a.py", PYTHON, language_id="python", version=1)
    snapshot = document.snapshot()
    document.apply_change("x = 1\n", (0, 0), (0, 0), version=2)  # a line above
    document.apply_change("zz", (2, 11), (2, 11), version=3)  # typing on a line
    assert snapshot.version == 1 and snapshot.text == PYTHON
    assert snapshot.line_text(1) == "    return a + b"
    assert snapshot.offset_at(1, 11) == PYTHON.index("a + b")
    assert snapshot.position_at(PYTHON.index("class")) == (4, 0)
    assert document.line_text(2) == "    return zza + b"
    assert document.position_at(document.text.index("class")) == (5, 0)


def test_a_snapshot_keeps_its_tree_when_the_documents_tree_is_edited() -> None:
    document = Document("file:///a.py", PYTHON, language_id="python")
    assert document.tree is not None
    snapshot = document.snapshot()
    assert snapshot.tree is not None
    before = str(snapshot.tree.root_node)
    document.apply_change("if (:\n", (0, 0), (0, 0))
    assert document.tree is not None and document.tree.root_node.has_error
    assert str(snapshot.tree.root_node) == before == fresh_sexp(PYTHON, document)


def test_a_snapshot_of_a_stale_tree_has_none_rather_than_a_wrong_one() -> None:
    document = Document("file:///a.py", PYTHON, language_id="python")
    assert document.tree is not None
    document.apply_change("y", (1, 11), (1, 12))
    assert document.snapshot().tree is None


async def test_parsed_gives_the_tree_of_exactly_the_snapshot_parsed_in_the_worker() -> None:
    worker = BackgroundWorker()
    document = Document("file:///a.py", PYTHON, language_id="python")
    try:
        snapshot = await document.parsed(worker)
        assert snapshot.tree is not None
        assert str(snapshot.tree.root_node) == fresh_sexp(PYTHON, document)
        assert document.full_parses == 1
        # Edit, then parse again: incremental, from the edited tree.
        document.apply_change("zz", (1, 11), (1, 11))
        again = await document.parsed(worker)
        assert again.tree is not None
        assert str(again.tree.root_node) == fresh_sexp(document.text, document)
        assert document.incremental_parses == 1
        # The document now has that tree: a plain snapshot carries it without a parse.
        assert document.snapshot().tree is not None
    finally:
        worker.close()


async def test_parsing_runs_on_the_worker_thread_not_the_loop() -> None:
    worker = BackgroundWorker()
    seen: list[str] = []
    try:
        await worker.run(lambda: seen.append(threading.current_thread().name))
    finally:
        worker.close()
    assert seen and seen[0] != threading.current_thread().name


async def test_an_edit_during_a_background_parse_keeps_the_live_tree_for_the_next_parse() -> None:
    worker = BackgroundWorker()
    document = Document("file:///a.py", PYTHON, language_id="python")
    try:
        await document.parsed(worker)
        document.apply_change("q", (1, 11), (1, 11))
        parsing = asyncio.ensure_future(document.parsed(worker))
        await asyncio.sleep(0)  # one step of the task: it took its snapshot, the worker parses
        document.apply_change("r", (1, 11), (1, 11))
        first = await parsing
        assert first.tree is not None and "q" in first.text and "rq" not in first.text
        latest = await document.parsed(worker)
        assert latest.tree is not None
        assert str(latest.tree.root_node) == fresh_sexp(document.text, document)
    finally:
        worker.close()


def test_a_text_too_big_to_analyse_is_never_parsed_whole() -> None:
    big = "x = 1\n" * (MAX_ANALYSED_CHARS // 6 + 10)
    document = Document("file:///big.py", big, language_id="python")
    assert document.too_big
    assert document.tree is None and document.full_parses == 0
    assert document.snapshot().line_count == big.count("\n") + 1


def test_a_lone_surrogate_keeps_text_lines_and_tree_in_step() -> None:
    document = Document(
        "file:///odd.py", "a = 1\n", language_id="python", encoding=PositionEncoding.UTF8
    )
    assert document.tree is not None
    document.apply_change('s = "\ud800"\n', (1, 0), (1, 0))
    assert document.text == 'a = 1\ns = "\ud800"\n'
    tree = document.tree
    assert tree is not None and tree.root_node.end_byte == len(utf8(document.text))
    # UTF-8 columns count the surrogate as the 3 bytes it is sent as.
    assert document.position_at(document.text.index('"', 6) + 2) == (1, 8)
    document.apply_change("t", (1, 9), (1, 9))
    assert document.line_text(1) == 's = "\ud800"t'


def test_nul_bytes_crlf_lone_cr_and_a_very_long_line_stay_as_the_client_sent_them() -> None:
    long_line = "x = '" + "a" * 100_000 + "'"
    text = "a = 1\r\nb = '\x00'\rc = 3\n" + long_line + "\n"
    document = Document("file:///odd.py", text, language_id="python")
    assert document.tree is not None
    client = text
    for start, end, new_text in [
        ((0, 5), (0, 5), "\x00\x00"),
        ((3, 50_000), (3, 50_002), "\r\n"),  # split the long line
        ((1, 0), (2, 0), ""),  # join across the lone CR
        ((0, 7), (1, 1), "\r"),  # a CR that meets an LF
    ]:
        begin = document.offset_at(*start)
        finish = document.offset_at(*end)
        client = client[:begin] + new_text + client[finish:]
        document.apply_change(new_text, start, end)
        assert document.text == client
        lines = client.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        assert [document.line_text(i) for i in range(document.line_count)] == lines
        tree = document.tree
        assert tree is not None
        assert str(tree.root_node) == fresh_sexp(client, document)
