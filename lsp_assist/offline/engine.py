"""The offline engine: completions from the workspace's own code when no model server answers.

It keeps, per language, an n-gram model of the workspace's tokens (for ghost text: the rest of
the current line) and one index of its definitions (for completion items). Files are trained one
at a time as they open, change or are found on disk; a changed file replaces its old counts.

Ghost text must not spew junk: each predicted token has to clear `MIN_SCORE` (its backoff score)
and `MIN_COUNT` (how often it was seen there), and the suggestion stops at the first token that
does not. With nothing confident the engine says None rather than guessing.

Everything it offers is labelled `ENGINE_LABEL`, so the user can tell it from a model's output.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import tree_sitter

from lsp_assist.context.index import WorkspaceIndex
from lsp_assist.documents import MAX_ANALYSED_CHARS
from lsp_assist.languages import LanguageSpec, language_for
from lsp_assist.offline.definitions import Definition, DefinitionIndex, find_definitions
from lsp_assist.offline.ngram import DEFAULT_MAX_CONTEXTS, NgramModel, VocabularyFull
from lsp_assist.offline.tokens import (
    NEWLINE,
    STRING_PLACEHOLDER,
    iter_tree_tokens,
    symbols_of,
    tokenize_plain,
    tokenize_tree,
)
from lsp_assist.positions import utf8
from lsp_assist.workers import parse_yielding

log = logging.getLogger(__name__)

ENGINE_LABEL = "lsp-assist offline engine"
MIN_SCORE = 0.65
"""Tuned with benchmarks/offline_accuracy.py: below it, most ghost texts were wrong."""
MIN_COUNT = 2
MAX_SUGGESTION_TOKENS = 24
CONTEXT_LINES = 8
"""Lines before the cursor tokenized for a suggestion: the model looks back 3 tokens only."""


def _always() -> bool:
    return True


class OfflineEngine:
    """Learning (`update_file`, `remove_file`, `prune`) is heavy and belongs to one writer
    thread, the background worker; suggestions are read on the event loop at the same time:
    they never wait for the writer (a busy model answers None)."""

    def __init__(
        self, *, max_contexts: int = DEFAULT_MAX_CONTEXTS, index: WorkspaceIndex | None = None
    ) -> None:
        self.max_contexts = max_contexts
        self._models: dict[str, NgramModel] = {}
        self._language_of_file: dict[str, str] = {}
        self.definitions = DefinitionIndex(index)
        self._feeds_definitions = index is None
        """Without the workspace index (tests, `lsp-assist complete`) the engine records the
        definitions itself; with it, the index is the one place they are found."""

    def update_file(
        self,
        uri: str,
        text: str,
        language_id: str | None = None,
        *,
        still_wanted: Callable[[], bool] = _always,
        prune: bool = True,
    ) -> bool:
        """Learns (or re-learns) one file; False when it was not learnt. `still_wanted` is
        asked once the text is counted, right before the model changes: False (a newer text
        of this file came meanwhile) leaves the model as it was. A text too long to analyse
        is not learnt, and what was learnt of the file before is forgotten."""
        if len(text) > MAX_ANALYSED_CHARS:
            if still_wanted():
                self.remove_file(uri)
            return False
        language = language_for(language_id, uri)
        grammar = language.grammar
        definitions: list[Definition] = []
        if grammar is not None:
            source = utf8(text)
            tree = parse_yielding(tree_sitter.Parser(grammar), source)  # one parse, two uses
            symbols = [token.symbol for token in iter_tree_tokens(tree, source)]
            if self._feeds_definitions:
                definitions = find_definitions(tree, source, language.name, uri)
        else:
            symbols = symbols_of(tokenize_plain(text))
        model = self._model_for(language)
        try:
            ids = model.encode(symbols)
        except VocabularyFull:
            log.warning("offline engine: too many distinct symbols to learn %s", uri)
            return False
        if not still_wanted():
            model.discard_encoded(ids)
            return False
        previous = self._language_of_file.get(uri)
        if previous is not None and previous != language.name:
            self._models[previous].remove_file(uri)
            del self._language_of_file[uri]
        if not model.add_encoded(uri, ids, prune=prune):
            log.warning("offline engine: the model is full, %s is not learnt", uri)
            self.remove_file(uri)  # its old text is stale: better nothing
            return False
        self._language_of_file[uri] = language.name
        if self._feeds_definitions:
            self.definitions.set_file(uri, definitions)
        return True

    def remove_file(self, uri: str) -> None:
        name = self._language_of_file.pop(uri, None)
        if name is not None:
            self._models[name].remove_file(uri)
        if self._feeds_definitions:
            self.definitions.remove_file(uri)

    @property
    def over_capacity(self) -> bool:
        """Whether a model holds more contexts than its cap (after `update_file(prune=False)`)."""
        return any(model.over_capacity for model in list(self._models.values()))

    def prune(self) -> None:
        for model in list(self._models.values()):
            if model.over_capacity:
                model.prune()

    @property
    def learnt_files(self) -> int:
        return len(self._language_of_file)

    def model(self, language_id: str | None, uri: str = "") -> NgramModel | None:
        return self._models.get(language_for(language_id, uri).name)

    def _model_for(self, language: LanguageSpec) -> NgramModel:
        model = self._models.get(language.name)
        if model is None:
            model = self._models[language.name] = NgramModel(max_contexts=self.max_contexts)
        return model

    # -- completions ------------------------------------------------------------------------

    def suggest_line(
        self, document_text: str, offset: int, language_id: str | None, uri: str = ""
    ) -> str | None:
        """Ghost text for the cursor at `offset` (a str index): the rest of the line, or None
        when the model has nothing confident."""
        language = language_for(language_id, uri)
        model = self._models.get(language.name)
        if model is None or not model.file_count:
            return None
        line_start = document_text.rfind("\n", 0, offset) + 1
        line_end = document_text.find("\n", offset)
        rest_of_line = document_text[offset : len(document_text) if line_end < 0 else line_end]
        if rest_of_line.strip():
            return None  # mid-line: a rest-of-line suggestion would clash with what follows
        window_start = line_start
        for _ in range(CONTEXT_LINES):
            if window_start == 0:
                break
            window_start = document_text.rfind("\n", 0, window_start - 1) + 1
        window = document_text[window_start:offset]
        symbols = _symbols_of(window, language)
        current_line = document_text[line_start:offset]
        if not current_line.strip():
            return None  # nothing typed on this line yet: too little to go on

        # What is already typed of the next symbol: a partial word, or the space before one.
        typed = ""
        if current_line[-1].isspace():
            typed = " "
        elif symbols and (current_line[-1].isalnum() or current_line[-1] == "_"):
            if symbols[-1].strip() and window.endswith(symbols[-1].strip()):
                typed = symbols.pop()
        with model.try_reading() as free:
            # The worker is changing the counts: no suggestion rather than a wait.
            return confident_rest_of_line(model, symbols, typed) if free else None

    def completion_items(self, prefix_word: str, uri: str = "") -> list[Definition]:
        """Workspace definitions for a completion list, same file first."""
        if not prefix_word:
            return []
        return self.definitions.complete_identifier(prefix_word, uri)


def confident_rest_of_line(model: NgramModel, preceding: list[str], typed: str = "") -> str | None:
    """The gated greedy completion after `preceding` symbols, of which `typed` (a partial next
    symbol, or its leading space) is already on screen; None unless it is confident and worth
    showing."""
    first = [
        p
        for p in model.predict(preceding, k=5, prefix=typed, min_score=MIN_SCORE)
        if p.score >= MIN_SCORE and p.count >= MIN_COUNT and _can_suggest(p.symbol)
    ]
    if not first:
        return None
    rest = model.complete_line(
        [*preceding, first[0].symbol],
        MAX_SUGGESTION_TOKENS,
        min_score=MIN_SCORE,
        min_count=MIN_COUNT,
    )
    suggestion = first[0].symbol[len(typed) :] + rest
    # A lone bracket or dot is not worth a ghost text: the user types it faster than reads it.
    if not any(character.isalnum() for character in suggestion):
        return None
    return suggestion


def _symbols_of(text: str, language: LanguageSpec) -> list[str]:
    grammar = language.grammar
    if grammar is None:
        return symbols_of(tokenize_plain(text))
    source = utf8(text)
    return symbols_of(tokenize_tree(tree_sitter.Parser(grammar).parse(source), source))


def _can_suggest(symbol: str) -> bool:
    return symbol not in (NEWLINE, STRING_PLACEHOLDER, " " + STRING_PLACEHOLDER)
