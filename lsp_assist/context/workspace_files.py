"""Which files of a workspace are the user's code, worth indexing: the walk and its rules.

A file is taken when its suffix is one of ours (`SOURCE_SUFFIXES`) and nothing rules it out:

- `.gitignore` files (at the root and in any folder, with Git's semantics: a deeper file's
  patterns, and later patterns, win; `!` re-includes) and `.lspassistignore` files (same syntax,
  read after the `.gitignore` of the same folder); a folder ruled out is not entered;
- folders that hold no code of the user's: VCS data, vendored dependencies, virtual
  environments, caches and build outputs (`SKIPPED_DIRS`), and hidden folders;
- generated or minified code: `*.min.js`, `*_pb2.py`, …, a header comment saying it is
  generated or not to be edited, or lines far too long to be hand-written;
- binary files (a NUL byte in the first 8 kB), files over `max_file_bytes`, secret files
  (`secrets.is_secret_path`) and the user's `context.exclude` globs.

Bounded: at most `max_files` files and `max_bytes` in all. The order is stable (sorted names,
a folder's files before its sub-folders), so the same tree always gives the same list.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from fnmatch import fnmatchcase
from pathlib import Path

import pathspec

from lsp_assist.context.secrets import excluded, is_secret_path
from lsp_assist.languages import SOURCE_SUFFIXES

MAX_FILES = 2_000
MAX_BYTES = 25_000_000
MAX_FILE_BYTES = 512_000
IGNORE_FILES = (".gitignore", ".lspassistignore")
SKIPPED_DIRS = frozenset(
    {".git", ".hg", ".svn", "node_modules", "bower_components", "jspm_packages", "vendor"}
    | {"_vendor", "vendored"}
    | {"third_party", "third-party", "site-packages", "dist-packages", ".venv", "venv"}
    | {"__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache", ".tox", ".nox"}
    | {"build", "dist", "target", "out", ".next", ".nuxt", "coverage", "Pods", ".idea"}
    | {".vscode", ".eggs"}
)
GENERATED_NAMES = (
    "*.min.js",
    "*.min.mjs",
    "*.min.css",
    "*-min.js",
    "*.bundle.js",
    "*_pb2.py",
    "*_pb2.pyi",
    "*_pb2_grpc.py",
    "*.pb.go",
    "*_generated.*",
    "*.generated.*",
    "*.g.cs",
)
HEAD_BYTES = 8_192
HEADER_LINES = 5
_GENERATED_HEADER = re.compile(
    rb"^\s*(?:#|//|/\*|\*|--|;).*?(?:@generated|\bauto-?generated\b|\b(?:code|file|is) generated\b"
    rb"|\bgenerated (?:by|from|automatically)\b|\bdo not edit\b(?! this line)|\bdon't edit\b)",
    re.IGNORECASE | re.MULTILINE,
)
"""A comment in the first lines saying the file is generated (Go's `// Code generated … DO NOT
EDIT.`, `# @generated`); the same words in a docstring or a one-line note do not count."""
MAX_AVERAGE_LINE = 250
"""Bytes per line above which a file is minified or data, not code someone wrote."""


def workspace_files(
    root: Path,
    *,
    max_files: int = MAX_FILES,
    max_bytes: int = MAX_BYTES,
    max_file_bytes: int = MAX_FILE_BYTES,
    exclude: Iterable[str] = (),
) -> list[Path]:
    """The source files under `root` worth indexing, in a stable order, within the bounds."""
    rules = IgnoreRules(root)
    globs = tuple(exclude)
    found: list[Path] = []
    total = 0
    for folder, dirs, files in os.walk(root):
        base = Path(folder)
        relative_folder = base.relative_to(root).as_posix()
        prefix = "" if relative_folder == "." else relative_folder + "/"
        dirs[:] = [
            d
            for d in sorted(dirs)
            if d not in SKIPPED_DIRS
            and not d.startswith(".")
            and not rules.ignored(prefix + d, directory=True)
            and not (globs and excluded(prefix + d + "/", globs))
        ]
        for name in sorted(files):
            relative = prefix + name
            if not _wanted_name(relative, globs) or rules.ignored(relative):
                continue
            path = base / name
            size = _readable_size(path)
            if size is None or size > max_file_bytes or total + size > max_bytes:
                continue
            if not _looks_handwritten(path):
                continue
            found.append(path)
            total += size
            if len(found) >= max_files:
                return found
    return found


def accepts_file(
    root: Path,
    path: Path,
    *,
    max_file_bytes: int = MAX_FILE_BYTES,
    exclude: Iterable[str] = (),
    rules: IgnoreRules | None = None,
) -> bool:
    """Whether one file (created or changed on disk, say) passes the rules `workspace_files`
    applies, its folders' included (the budgets aside)."""
    try:
        relative = path.relative_to(root)
    except ValueError:
        return False
    globs = tuple(exclude)
    rules = rules if rules is not None else IgnoreRules(root)
    folders = relative.parts[:-1]
    for depth, part in enumerate(folders):
        folder = "/".join(folders[: depth + 1])
        if part in SKIPPED_DIRS or part.startswith(".") or rules.ignored(folder, directory=True):
            return False
    if not _wanted_name(relative.as_posix(), globs) or rules.ignored(relative.as_posix()):
        return False
    size = _readable_size(path)
    return size is not None and size <= max_file_bytes and _looks_handwritten(path)


class IgnoreRules:
    """The `.gitignore` / `.lspassistignore` patterns of a tree, read once per folder."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._specs: dict[str, pathspec.GitIgnoreSpec | None] = {}

    def ignored(self, relative: str, *, directory: bool = False) -> bool:
        """Whether the file or folder at `relative` (POSIX, from the root) is ignored by the
        ignore files of the folders above it (a folder's own ones do not apply to it)."""
        parts = relative.split("/")
        verdict = False
        for depth in range(len(parts)):
            spec = self._spec("/".join(parts[:depth]))
            if spec is None:
                continue
            below = "/".join(parts[depth:]) + ("/" if directory else "")
            include = spec.check_file(below).include
            if include is not None:
                verdict = include
        return verdict

    def _spec(self, folder: str) -> pathspec.GitIgnoreSpec | None:
        if folder in self._specs:
            return self._specs[folder]
        lines: list[str] = []
        for name in IGNORE_FILES:
            try:
                text = (self.root / folder / name).read_text("utf-8", "replace")
            except OSError:
                continue
            lines += text.splitlines()
        spec = pathspec.GitIgnoreSpec.from_lines(lines) if lines else None
        self._specs[folder] = spec
        return spec


def _wanted_name(relative: str, globs: tuple[str, ...]) -> bool:
    name = relative.rsplit("/", 1)[-1]
    dot = name.rfind(".")
    if dot < 0 or name[dot:].lower() not in SOURCE_SUFFIXES:
        return False
    lowered = name.lower()
    if any(fnmatchcase(lowered, pattern) for pattern in GENERATED_NAMES):
        return False
    return not is_secret_path(relative) and not (globs and excluded(relative, globs))


def _readable_size(path: Path) -> int | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_size if path.is_file() else None


def _looks_handwritten(path: Path) -> bool:
    """Not binary, not generated, not minified, judged from the file's first 8 kB."""
    try:
        with path.open("rb") as file:
            head = file.read(HEAD_BYTES)
    except OSError:
        return False
    if b"\0" in head:
        return False
    header = b"\n".join(head.split(b"\n", HEADER_LINES)[:HEADER_LINES])
    if _GENERATED_HEADER.search(header):
        return False
    lines = head.count(b"\n") + (0 if head.endswith(b"\n") else 1)
    return len(head) < 1_000 or len(head) / max(lines, 1) <= MAX_AVERAGE_LINE
