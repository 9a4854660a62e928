"""`lsp-assist complete FILE:LINE:COL`: one completion from the command line.

The same path as the server's, minus the editor: the file becomes a `Document`, the model's
`/api/show` facts choose the prompt (`resolve_model_plan`), `build_completion_request` lays it
out exactly as the engine does, and a `Generation` streams it with the server's stop rules and
post-processing. What gets printed is the suggestion the editor would show (or nothing).

Positions are 1-based, as compilers print them; COL counts characters (code points). A column
past the end of its line, or a line past the end of the file, is clamped, with a note on
stderr. Faults end with one line on stderr that says the fix, and exit code 1.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from lsp_assist.backends.ollama import OllamaBackend
from lsp_assist.completion.generation import Generation
from lsp_assist.completion.request import build_completion_request, resolve_model_plan
from lsp_assist.config import Settings
from lsp_assist.documents import Document
from lsp_assist.errors import (
    BackendError,
    BackendUnavailable,
    ModelNotFound,
    ModelWithoutFim,
    StreamTruncated,
)
from lsp_assist.syntax import introduces_syntax_errors
from lsp_assist.uris import uri_of_path

log = logging.getLogger(__name__)


class CompleteError(Exception):
    """A fault the user can fix; its text is the one line printed."""


@dataclass(frozen=True)
class Location:
    file: str  # a path, or "-" for stdin
    line: int  # 1-based
    column: int  # 1-based, in characters


def parse_location(value: str) -> Location:
    """FILE:LINE:COL (FILE may itself contain colons). Raises ValueError with the reason."""
    file, sep1, rest = value.rpartition(":")
    file, sep2, line = file.rpartition(":")
    if not (sep1 and sep2 and file):
        raise ValueError(f"expected FILE:LINE:COL, got {value!r}")
    column = rest
    if not (line.isdigit() and column.isdigit()) or int(line) < 1 or int(column) < 1:
        raise ValueError(f"LINE and COL must be numbers from 1, got {line!r}:{column!r}")
    return Location(file, int(line), int(column))


def read_source(location: Location, stdin: TextIO) -> tuple[str, str]:
    """(uri, text) of the file, or of stdin for "-"."""
    if location.file == "-":
        return "untitled:stdin", stdin.read()
    path = Path(location.file)
    try:
        # newline="": keep the file's line breaks as they are, as an editor would send them.
        with path.open(encoding="utf-8", newline="") as source:
            return uri_of_path(path.resolve()), source.read()
    except FileNotFoundError:
        raise CompleteError(f"lsp-assist: no such file: {location.file}") from None
    except UnicodeDecodeError:
        raise CompleteError(f"lsp-assist: {location.file} is not UTF-8 text") from None
    except OSError as exc:
        raise CompleteError(f"lsp-assist: cannot read {location.file}: {exc.strerror}") from None


def cursor_offset(document: Document, location: Location, notes: TextIO) -> int:
    """The `str` offset of a 1-based (line, character) position, clamped into the text."""
    line, column = location.line - 1, location.column - 1
    last = document.line_count - 1
    if line > last:
        notes.write(
            f"lsp-assist: line {location.line} is past the end of {location.file} "
            f"({last + 1} lines); completing at the end of the file\n"
        )
        return len(document.text)
    text = document.line_text(line)
    if column > len(text):
        notes.write(
            f"lsp-assist: column {location.column} is past the end of line {location.line} "
            f"({len(text)} characters); completing at the end of the line\n"
        )
        column = len(text)
    return document.offset_at(line, 0) + column


def fault_message(error: BackendError, host: str) -> str:
    """One line with the fix, in command-line terms (the editor's messages name settings)."""
    if isinstance(error, BackendUnavailable):
        return (
            f"lsp-assist: Ollama is not reachable at {host} — start it with `ollama serve` "
            "(install: https://ollama.com/download), or pass --host / set OLLAMA_HOST"
        )
    if isinstance(error, ModelNotFound):
        return f"lsp-assist: model '{error.model}' not found — run `ollama pull {error.model}`"
    if isinstance(error, ModelWithoutFim):
        return (
            f"lsp-assist: model '{error.model}' cannot fill in the middle — use a base code "
            "model, e.g. --model qwen2.5-coder:1.5b-base (`ollama pull qwen2.5-coder:1.5b-base`)"
        )
    return error.user_message()


async def complete(settings: Settings, location: Location, *, stdin: TextIO, notes: TextIO) -> str:
    """The suggestion for `location` ("" when there is none). Raises `CompleteError`."""
    uri, text = read_source(location, stdin)
    document = Document(uri, text)
    offset = cursor_offset(document, location, notes)
    host = settings.ollama.resolved_host
    backend = OllamaBackend(
        host, keep_alive=settings.ollama.keepAlive, timeout_s=settings.ollama.timeoutS
    )
    try:
        return await _generate(backend, settings, document, offset, notes)
    except BackendError as exc:
        raise CompleteError(fault_message(exc, host)) from exc
    finally:
        await backend.close()


async def _generate(
    backend: OllamaBackend, settings: Settings, document: Document, offset: int, notes: TextIO
) -> str:
    completion = settings.completion
    info = await backend.model_info(completion.model)
    plan = resolve_model_plan(completion.model, info, completion.numCtx)
    request = build_completion_request(document, offset, completion, plan)
    if request is None:
        notes.write("lsp-assist: nothing before the cursor to complete from\n")
        return ""
    log.debug("prompt (%d chars, raw=%s): %r", len(request.prompt), request.raw, request.prompt)
    generation = Generation(
        request.generation_plan(document), request.stream_factory(backend, completion.model)
    )
    await generation.finished.wait()
    if generation.error is not None and not isinstance(generation.error, StreamTruncated):
        raise generation.error
    if generation.error is not None:
        notes.write(generation.error.user_message() + "\n")
    final = generation.final or ""
    if final and introduces_syntax_errors(document, offset, final):
        # As in the editor: a suggestion that breaks the syntax tree is not shown.
        notes.write("lsp-assist: the suggestion was dropped: it would add syntax errors\n")
        return ""
    if not final:
        notes.write("lsp-assist: no suggestion here\n")
    return final


def write_suggestion(text: str, out: TextIO = sys.stdout) -> None:
    out.write(text)
    if text and not text.endswith("\n") and out.isatty():
        out.write("\n")  # on a terminal, the shell prompt goes after the text, not onto it
    out.flush()
