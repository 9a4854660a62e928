"""`lsp-assist complete FILE:LINE:COL`: one completion from the command line, by the server's
own route.

The file is opened in a `Session` as an editor would open it, and the session's completion
route answers (`one_shot_completion.py`): the model servers of `lspAssist.endpoints` in
failover order, then the embedded engine if `lsp-assist models pull` fetched a model, then
the offline engine (with `completion.backend` "auto", the default). A server that cannot be
reached passes the request on, as in the editor.

The offline engine learns the code of the file's folder first — of its git repository when it
is in one, of the current directory's for stdin — and only when the route reaches it (bounded
as the server's workspace scan is). Prompts hold the file alone, as for a file opened without a
workspace. Secret files (`.env`, keys) and those `context.exclude` names are never sent.

Positions are 1-based, as compilers print them; COL counts characters (code points). A column
past the end of its line, or a line past the end of the file, is clamped, with a note on
stderr.

Output: the suggestion on stdout (nothing when there is none); on stderr one line saying who
answered, or the fault. Exit codes:
  0  answered: the suggestion is printed, or there is none here (stderr says who answered,
     and which servers could not be reached and were passed over)
  1  nothing could answer: the file cannot be read or is private, a server failed, the model
     is missing or cannot fill in the middle — one line on stderr with the fix
  2  usage: a bad FILE:LINE:COL or flag, or a settings file that cannot be read
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from lsp_assist.documents import TextView
from lsp_assist.one_shot_completion import Answer, CompleteError, OneShotCompletion
from lsp_assist.uris import uri_of_path

EXIT_ANSWERED = 0
EXIT_FAULT = 1
EXIT_USAGE = 2


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


def folder_to_learn(location: Location) -> Path:
    """The offline engine's workspace: the git repository around the file (or around the
    current directory, for stdin), else the file's own folder."""
    start = Path.cwd() if location.file == "-" else Path(location.file).resolve().parent
    for folder in (start, *start.parents):
        if (folder / ".git").exists():
            return folder
    return start


def cursor_offset(document: TextView, location: Location, notes: TextIO) -> int:
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


async def complete(
    raw_settings: Mapping[str, Any], location: Location, *, stdin: TextIO, notes: TextIO
) -> Answer:
    """The suggestion for `location` and who gave it. Raises `CompleteError`."""
    uri, text = read_source(location, stdin)
    one_shot = OneShotCompletion(raw_settings, folder_to_learn(location), notes)
    try:
        document = one_shot.open(uri, text)
        if document is None:
            raise CompleteError(
                f"lsp-assist: {location.file} is private (a secret file, or one that "
                "context.exclude names): its text is never sent to a model"
            )
        return await one_shot.suggest(document, cursor_offset(document, location, notes))
    finally:
        await one_shot.close()


def write_suggestion(text: str, out: TextIO = sys.stdout) -> None:
    out.write(text)
    if text and not text.endswith("\n") and out.isatty():
        out.write("\n")  # on a terminal, the shell prompt goes after the text, not onto it
    out.flush()
