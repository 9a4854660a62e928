"""URIs and paths — the one conversion. Editors send `file:` URIs (percent-encoded, and on
Windows with a drive letter); other schemes (`untitled:`, `vscode-notebook-cell:`) have no path
on disk."""

from __future__ import annotations

from pathlib import Path

from pygls.uris import from_fs_path, to_fs_path


def path_of_uri(uri: str) -> Path | None:
    """The file behind a `file:` URI; None for any other scheme."""
    if not uri.startswith("file:"):
        return None
    path = to_fs_path(uri)
    return Path(path) if path else None


def uri_of_path(path: Path) -> str:
    """The `file:` URI of a path, encoded as editors encode it."""
    return from_fs_path(str(path)) or path.resolve().as_uri()


def file_name_of_uri(uri: str) -> str:
    """The last segment of a URI, for labels and prompts (`untitled:Untitled-1` → itself)."""
    return uri.rstrip("/").rsplit("/", 1)[-1]
