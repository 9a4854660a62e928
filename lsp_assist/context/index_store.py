"""The workspace index saved in the state folder, so that a restart reads only what changed.

One JSON file per workspace root (`store_path`), holding each file's tags with the modification
time and size it was read at. `load_index` puts them back before the build; the build then
reads only files whose time or size differ, and forgets files that are gone. Buffers' texts are
not saved (they are not the disk's). A file written by another version of the extractor, for
another root, or unreadable is ignored: the build reads everything, as on a first start.

Both run in the worker (the index's one writer); the write is atomic (a temporary file renamed)
and private: the index holds the code's signatures and docstrings (`private_files`).
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lsp_assist.context.tags import FileTags, Import, Symbol
from lsp_assist.private_files import private_dir, private_file

if TYPE_CHECKING:
    from lsp_assist.context.index import WorkspaceIndex

log = logging.getLogger(__name__)

FORMAT = 2
"""2: one JSON line per file (1 was one JSON document)."""
"""Bump when the saved form or what `extract_tags` finds changes: old files are then ignored."""


def store_path(state_dir: Path, root: Path) -> Path:
    digest = hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:16]
    return state_dir / "index" / f"{digest}.json"


def save_index(index: WorkspaceIndex, file: Path) -> int:
    """Writes the index's disk files to `file`; the number of files saved."""
    entries = index.disk_entries()
    header = {"format": FORMAT, "root": str(index.root.resolve()) if index.root else ""}
    private_dir(file.parent.parent)  # the state folder, which `store_path`'s index/ is in
    # One JSON line per file: each `dumps` is short, so the loop's thread gets the GIL in
    # between (one `dumps` of the whole 7 MB index held it for 200 ms).
    with private_file(file) as out:
        out.write(json.dumps(header) + "\n")
        for tags, stamp in entries:
            out.write(json.dumps(_file_entry(tags, stamp), separators=(",", ":")) + "\n")
    return len(entries)


def load_index(index: WorkspaceIndex, file: Path) -> int:
    """Puts the tags saved in `file` back into `index`; the number of files restored (0 when
    there is nothing usable)."""
    try:
        with file.open(encoding="utf-8") as lines:
            header = json.loads(next(lines, "{}"))
            root = str(index.root.resolve()) if index.root is not None else ""
            if header.get("format") != FORMAT or header.get("root") != root:
                return 0
            entries = [_from_entry(json.loads(line)) for line in lines]
    except (OSError, ValueError, KeyError, TypeError, IndexError, AttributeError):
        log.info("workspace index: %s not usable, reading the workspace again", file)
        return 0
    for tags, stamp in entries:
        index.restore(tags, stamp)
    return len(entries)


def _file_entry(tags: FileTags, stamp: tuple[int, int]) -> dict[str, Any]:
    return {
        "path": tags.path,
        "stamp": list(stamp),
        "language": tags.language,
        "package": tags.package,
        "symbols": [
            [s.name, s.kind, s.container, s.signature, s.doc, s.line, s.end_line]
            for s in tags.symbols
        ],
        "imports": [[i.module, i.name, i.alias] for i in tags.imports],
        "exports": [[i.module, i.name, i.alias] for i in tags.exports],
    }


def _from_entry(entry: dict[str, Any]) -> tuple[FileTags, tuple[int, int]]:
    path = str(entry["path"])
    symbols = tuple(
        Symbol(str(n), str(k), str(c), str(sig), str(doc), path, int(line), int(end))
        for n, k, c, sig, doc, line, end in entry["symbols"]
    )
    imports = tuple(Import(str(m), str(n), str(a)) for m, n, a in entry["imports"])
    exports = tuple(Import(str(m), str(n), str(a)) for m, n, a in entry["exports"])
    mtime, size = entry["stamp"]
    tags = FileTags(path, str(entry["language"]), symbols, imports, exports, str(entry["package"]))
    return tags, (int(mtime), int(size))
