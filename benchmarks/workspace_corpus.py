"""A large workspace of real code, for benchmarks that read a workspace the way the server does.

`build_workspace` fills a folder with `.py` files copied from the installed packages and the
standard library, in sorted order (so every run on a machine gets the same files), keeping each
file's sub-folder so that the many `__init__.py` do not clash. Files over 512 kB (generated
tables) are skipped, as the server's workspace scan skips them.

    .venv/bin/python benchmarks/workspace_corpus.py /tmp/workspace [--files 2000] [--bytes 25e6]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import sysconfig
from collections.abc import Iterator
from pathlib import Path

MAX_FILE_BYTES = 512_000
SKIPPED_PARTS = frozenset({"__pycache__", "test", "tests", "idlelib", "turtledemo"})
"""Test suites are full of odd, deliberately broken code: a user's workspace is not."""


def source_roots() -> list[Path]:
    """Where the copied files come from: installed packages first, then the standard library."""
    paths = sysconfig.get_paths()
    roots: list[Path] = []
    for key in ("purelib", "stdlib"):
        root = Path(paths[key])
        if root.is_dir() and root not in roots:
            roots.append(root)
    return roots


def _python_files(root: Path) -> Iterator[Path]:
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(root)
        if SKIPPED_PARTS.intersection(relative.parts[:-1]) or "site-packages" in relative.parts:
            continue
        yield path


def build_workspace(root: Path, files: int = 2000, total_bytes: int = 25_000_000) -> list[Path]:
    """Fills `root` with up to `files` real `.py` files, about `total_bytes` in all; the files
    written, in the order they were chosen (taking from each source in turn)."""
    sources = [
        ((root / f"src{number}", source_root), _python_files(source_root))
        for number, source_root in enumerate(source_roots())
    ]
    written: list[Path] = []
    total = 0
    while sources and len(written) < files and total < total_bytes:
        for source in list(sources):
            (target_root, source_root), paths = source
            path = next(paths, None)
            if path is None:
                sources.remove(source)
                continue
            try:
                size = path.stat().st_size
            except OSError:
                continue
            if size == 0 or size > MAX_FILE_BYTES:
                continue
            target = target_root / path.relative_to(source_root)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
            written.append(target)
            total += size
            if len(written) >= files or total >= total_bytes:
                break
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("root", type=Path, help="the folder to fill (created if missing)")
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--bytes", type=float, default=25_000_000, dest="total_bytes")
    args = parser.parse_args(argv)
    written = build_workspace(args.root, args.files, int(args.total_bytes))
    size = sum(path.stat().st_size for path in written)
    print(f"{len(written)} files, {size / 1e6:.1f} MB under {args.root}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
