"""Finding a document's review units off the loop, incrementally.

Finding units walks the whole syntax tree and hashes every function (3 MB of Python: seconds of
CPU), so it never runs on the loop that answers keystrokes: the document is parsed in the
worker (`Document.parsed`, incrementally from its last tree), and the units are found there
too. Only functions whose text changed since the last scan are hashed again
(`FingerprintCache`). A scan is kept until the text changes, so a run that asks after every
answer pays for it once.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import tree_sitter

from lsp_assist.documents import Document, DocumentSnapshot
from lsp_assist.languages import LanguageSpec
from lsp_assist.positions import utf8
from lsp_assist.review.units import FingerprintCache, ReviewUnit, file_context, find_units
from lsp_assist.workers import BackgroundWorker, parse_yielding

log = logging.getLogger(__name__)

MAX_RESCANS = 10
"""Scans in a row whose text changed while they ran before `DocumentUnits.current` gives up
(someone typing through ten worker round trips)."""


@dataclass(frozen=True)
class UnitScan:
    """The units of one text, with the file's context (its imports)."""

    text: str
    units: tuple[ReviewUnit, ...]
    context: str

    def named(self, name: str) -> ReviewUnit | None:
        return next((u for u in self.units if u.name == name), None)


def scan_snapshot(snapshot: DocumentSnapshot, fingerprints: FingerprintCache) -> UnitScan:
    """The units of a parsed snapshot (runs in the worker)."""
    assert snapshot.tree is not None
    source = utf8(snapshot.text)
    units = find_units(
        snapshot.tree, snapshot.text, snapshot.language, fingerprints=fingerprints, source=source
    )
    context = file_context(snapshot.tree, snapshot.text, source=source)
    return UnitScan(snapshot.text, tuple(units), context)


def units_of_text(text: str, language: LanguageSpec) -> list[ReviewUnit] | None:
    """The units of a text that is not an open document (git HEAD's version), parsed here:
    call it in the worker. None for a language without a grammar."""
    if language.grammar is None:
        return None
    source = utf8(text)
    tree = parse_yielding(tree_sitter.Parser(language.grammar), source)
    return find_units(tree, text, language, source=source)


class DocumentUnits:
    """The units of one open document, found in the worker and kept for their text."""

    def __init__(self, worker: BackgroundWorker) -> None:
        self._worker = worker
        self._fingerprints = FingerprintCache()
        self._latest: UnitScan | None = None
        self._scanning: tuple[str, asyncio.Future[UnitScan | None]] | None = None

    @property
    def fingerprints_computed(self) -> int:
        """Functions hashed so far (the rest were reused): what incremental scans save."""
        return self._fingerprints.computed

    def known(self, text: str) -> UnitScan | None:
        """The scan of exactly `text`, if there is one already (no work)."""
        latest = self._latest
        return latest if latest is not None and latest.text is text else None

    async def current(self, document: Document) -> UnitScan | None:
        """The units of the document's text as it is when this returns; None for plain text,
        a text too big to analyse, or a text that kept changing through every scan."""
        for _ in range(MAX_RESCANS):
            if (known := self.known(document.text)) is not None:
                return known
            scan = await self._scan(document)
            if scan is None:
                return None
            if scan.text is document.text:
                return scan
        log.info("units of %s not found: the text kept changing", document.uri)
        return None

    async def _scan(self, document: Document) -> UnitScan | None:
        text = document.text
        if self._scanning is not None and self._scanning[0] is text:
            return await asyncio.shield(self._scanning[1])
        future: asyncio.Future[UnitScan | None] = asyncio.get_running_loop().create_future()
        self._scanning = (text, future)
        try:
            snapshot = await document.parsed(self._worker)
            scan = None
            if snapshot.tree is not None:
                scan = await self._worker.run(scan_snapshot, snapshot, self._fingerprints)
                self._latest = scan
            future.set_result(scan)
            return scan
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: nobody else may be waiting
            raise
        finally:
            if self._scanning is not None and self._scanning[1] is future:
                self._scanning = None
