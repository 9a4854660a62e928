"""Finding a document's units in the worker: once per text, and after an edit only the units
whose text changed are hashed again."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from lsp_assist.documents import MAX_ANALYSED_CHARS, Document
from lsp_assist.languages import language_for
from lsp_assist.review.unit_scan import DocumentUnits, units_of_text
from lsp_assist.workers import BackgroundWorker

FUNCTIONS = 40
TEXT = "import os\n\n" + "".join(
    f"def f{i}(x):\n    if x > {i}:\n        return x - {i}\n    return os.sep\n\n"
    for i in range(FUNCTIONS)
)


@pytest.fixture
def worker() -> Iterator[BackgroundWorker]:
    worker = BackgroundWorker()
    yield worker
    worker.close()


def edit(document: Document, anchor: str, new_text: str) -> None:
    offset = document.text.index(anchor)
    document.replace(offset, offset + len(anchor), new_text)


async def test_the_units_and_the_imports_of_the_text(worker: BackgroundWorker) -> None:
    document = Document("file:///m.py", TEXT, language_id="python")
    scan = await DocumentUnits(worker).current(document)
    assert scan is not None
    assert scan.text is document.text
    assert [u.name for u in scan.units] == [f"f{i}" for i in range(FUNCTIONS)]
    assert scan.context == "import os"
    assert scan.named("f3") is scan.units[3]
    assert scan.named("g") is None


async def test_after_an_edit_only_the_edited_function_is_hashed_again(
    worker: BackgroundWorker,
) -> None:
    document = Document("file:///m.py", TEXT, language_id="python")
    units = DocumentUnits(worker)
    before = await units.current(document)
    assert before is not None
    assert units.fingerprints_computed == FUNCTIONS
    edit(document, "return x - 7", "return x + 7")
    edit(document, "import os", "import os  # separators")  # not in a unit
    after = await units.current(document)
    assert after is not None
    assert units.fingerprints_computed == FUNCTIONS + 1
    changed = [
        b.name
        for b, a in zip(before.units, after.units, strict=True)
        if b.fingerprint != a.fingerprint
    ]
    assert changed == ["f7"]
    # The reused fingerprints are the ones a fresh scan computes.
    fresh = await DocumentUnits(worker).current(document)
    assert fresh is not None and fresh.units == after.units


async def test_an_unchanged_text_is_not_scanned_again(worker: BackgroundWorker) -> None:
    document = Document("file:///m.py", TEXT, language_id="python")
    units = DocumentUnits(worker)
    first = await units.current(document)
    assert units.known(document.text) is first
    assert await units.current(document) is first
    edit(document, "return x - 7", "return x + 7")
    assert units.known(document.text) is None


async def test_a_function_moved_by_an_edit_above_keeps_its_fingerprint(
    worker: BackgroundWorker,
) -> None:
    document = Document("file:///m.py", TEXT, language_id="python")
    units = DocumentUnits(worker)
    before = await units.current(document)
    edit(document, "import os\n", "import os\nimport sys\n")
    after = await units.current(document)
    assert before is not None and after is not None
    assert units.fingerprints_computed == FUNCTIONS
    assert [u.fingerprint for u in after.units] == [u.fingerprint for u in before.units]
    assert all(
        a.start == b.start + len("import sys\n")
        for a, b in zip(after.units, before.units, strict=True)
    )


async def test_plain_text_and_too_big_texts_have_no_units(worker: BackgroundWorker) -> None:
    plain = Document("file:///notes.txt", TEXT, language_id="plaintext")
    assert await DocumentUnits(worker).current(plain) is None
    padding = "# generated\n" * (MAX_ANALYSED_CHARS // 12 + 1)
    big = Document("file:///big.py", TEXT + padding, language_id="python")
    assert await DocumentUnits(worker).current(big) is None


def test_units_of_a_text_that_is_not_open() -> None:
    units = units_of_text(TEXT, language_for("python"))
    assert units is not None and len(units) == FUNCTIONS
    assert units_of_text(TEXT, language_for("plaintext")) is None
