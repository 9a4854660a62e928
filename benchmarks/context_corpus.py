"""Public repositories for the context benchmark, fetched from package sources and pinned.

Each `Repository` is one package at one version from PyPI (`pip download --no-binary :all:`,
the sdist) or npm (`npm pack`), and the folders of it that hold its source (the sdist's package
and tests, the tarball's `lib/` or `src/`: never a bundled `dist/`, whose copies of every
function would make every name ambiguous). The archive is downloaded once into the cache and
unpacked next to it; what was used is recorded (`Provenance`) so a result names its inputs.

    .venv/bin/python benchmarks/context_corpus.py [--cache DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lsp_assist.languages import SOURCE_SUFFIXES  # noqa: E402

DEFAULT_CACHE = ROOT / ".cache" / "context-recall"
"""Git-ignored (`.cache/`)."""


@dataclass(frozen=True)
class Repository:
    name: str
    version: str
    registry: str
    """"pypi" or "npm"."""
    folders: tuple[str, ...]
    """Paths inside the package (after its top folder) whose source files are the workspace."""
    language: str
    """"python" or "js/ts": the row its recall is reported under."""

    @property
    def label(self) -> str:
        return (
            f"{self.name}=={self.version}"
            if self.registry == "pypi"
            else f"{self.name}@{self.version}"
        )

    @property
    def folder_name(self) -> str:
        return f"{self.name.replace('/', '-').lstrip('@')}-{self.version}"


REPOSITORIES: tuple[Repository, ...] = (
    Repository("httpx", "0.28.1", "pypi", ("httpx/", "tests/"), "python"),
    Repository("rich", "13.9.4", "pypi", ("rich/",), "python"),
    Repository("axios", "1.7.9", "npm", ("lib/", "index.js"), "js/ts"),
    Repository("@tanstack/query-core", "5.62.8", "npm", ("src/",), "js/ts"),
)


@dataclass(frozen=True)
class Provenance:
    repository: str
    registry: str
    archive: str
    sha256: str
    folders: tuple[str, ...]
    files: int


class FetchFailed(Exception):
    """The package could not be downloaded (offline, registry down, client missing)."""


def _archive(repository: Repository, archives: Path) -> Path:
    """The downloaded archive, fetched when it is not in the cache yet."""
    archives.mkdir(parents=True, exist_ok=True)
    if repository.registry == "pypi":
        stem = f"{repository.name.replace('-', '_')}-{repository.version}"
        pattern = f"{stem}.tar.gz"
        command = [
            *(sys.executable, "-m", "pip", "download", "--quiet", "--no-deps"),
            *(
                "--no-binary",
                ":all:",
                "-d",
                str(archives),
                f"{repository.name}=={repository.version}",
            ),
        ]
    else:
        pattern = f"{repository.folder_name}.tgz"
        command = [
            *("npm", "pack", "--silent", "--pack-destination", str(archives)),
            repository.label,
        ]
    found = sorted(archives.glob(pattern)) or sorted(archives.glob(pattern.replace("_", "-")))
    if found:
        return found[0]
    try:
        subprocess.run(command, check=True, capture_output=True, text=True, timeout=300)
    except (OSError, subprocess.SubprocessError) as error:
        detail = getattr(error, "stderr", "") or str(error)
        raise FetchFailed(f"{repository.label}: {detail.strip()[-500:]}") from error
    found = sorted(archives.glob(pattern)) or sorted(archives.glob(pattern.replace("_", "-")))
    if not found:
        raise FetchFailed(f"{repository.label}: no {pattern} in {archives} after download")
    return found[0]


def _wanted(inner: PurePosixPath, folders: tuple[str, ...]) -> bool:
    text = inner.as_posix()
    in_folder = any(text == f or (f.endswith("/") and text.startswith(f)) for f in folders)
    return in_folder and inner.suffix.lower() in SOURCE_SUFFIXES and ".." not in inner.parts


def fetch(repository: Repository, cache: Path = DEFAULT_CACHE) -> tuple[Path, Provenance]:
    """The unpacked workspace of `repository` (downloaded and unpacked on first use)."""
    archive = _archive(repository, cache / "archives")
    target = cache / "repos" / repository.folder_name
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    marker = target / ".complete"
    if not marker.exists():
        with tarfile.open(archive) as tar:
            for member in tar.getmembers():
                parts = PurePosixPath(member.name).parts
                if not member.isfile() or len(parts) < 2:
                    continue
                inner = PurePosixPath(*parts[1:])  # below the archive's top folder
                if not _wanted(inner, repository.folders):
                    continue
                data = tar.extractfile(member)
                if data is None:
                    continue
                path = target / inner
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(data.read())
        marker.write_text(digest)
    files = sum(1 for p in target.rglob("*") if p.is_file() and p.suffix in SOURCE_SUFFIXES)
    provenance = Provenance(
        repository.label, repository.registry, archive.name, digest, repository.folders, files
    )
    return target, provenance


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    args = parser.parse_args(argv)
    for repository in REPOSITORIES:
        root, provenance = fetch(repository, args.cache)
        print(f"{provenance.repository:32} {provenance.files:4} files  {root}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
