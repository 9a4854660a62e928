"""`lsp-assist models list | pull [NAME] | path [NAME]`: the GGUF models of the embedded engine.

`list` shows the catalog and what is pulled (sizes, which file the embedded engine loads);
`pull` downloads one (`model_pull.py`), with a progress bar on a terminal and a line per tenth
elsewhere; `path` prints the models folder, or a pulled model's file (for `modelPath`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from lsp_assist.model_pull import Pulled, PullError, part_path, pull_model, size_text
from lsp_assist.model_store import (
    CATALOG,
    DEFAULT_MODEL,
    KnownModel,
    default_model_path,
    known_model,
    models_dir,
    pulled_models,
)

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2


class DownloadProgress:
    """A progress bar on a terminal; elsewhere (CI logs, pipes) one line per tenth done."""

    def __init__(self, stream: TextIO, *, tty: bool | None = None) -> None:
        self._stream = stream
        self._tty = stream.isatty() if tty is None else tty
        self._bar: Progress | None = None
        self._task: TaskID | None = None
        self._label = ""
        self._total: int | None = None
        self._done = 0
        self._told = -1

    def begin(self, label: str, total: int | None, done: int) -> None:
        self._label, self._total, self._done = label, total, done
        if self._tty:
            self._bar = Progress(
                TextColumn("pulling {task.description}"),
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                TimeRemainingColumn(),
                console=Console(file=self._stream),
            )
            self._task = self._bar.add_task(label, total=total, completed=done)
            self._bar.start()
            return
        resuming = f", resuming at {size_text(done)}" if done else ""
        size = size_text(total) if total else "size unknown"
        self._line(f"pulling {label} ({size}{resuming})")
        self._tell()

    def advance(self, size: int) -> None:
        self._done += size
        if self._bar is not None and self._task is not None:
            self._bar.update(self._task, completed=self._done)
        else:
            self._tell()

    def end(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None

    def _tell(self) -> None:
        if not self._total:
            return
        tenth = min(10, self._done * 10 // self._total)
        if tenth > self._told:
            self._told = tenth
            self._line(
                f"pulling {self._label}: {tenth * 10}% "
                f"({size_text(self._done)} of {size_text(self._total)})"
            )

    def _line(self, text: str) -> None:
        self._stream.write(text + "\n")
        self._stream.flush()


async def run_pull(name: str | None, force: bool, out: TextIO, err: TextIO) -> int:
    model = _model_named(name or DEFAULT_MODEL, err)
    if model is None:
        return EXIT_USAGE
    try:
        pulled = await pull_model(model, DownloadProgress(err), force=force)
    except PullError as exc:
        err.write(f"{exc}\n")
        return EXIT_FAILED
    out.write(pulled_text(pulled) + "\n")
    return EXIT_OK


def pulled_text(pulled: Pulled) -> str:
    where = f"{pulled.path} ({size_text(pulled.size)})"
    if pulled.already:
        return f"{pulled.model.name} is pulled already: {where} (--force downloads it again)"
    resumed = f", resumed at {size_text(pulled.resumed_at)}" if pulled.resumed_at else ""
    check = (
        f"sha256 verified against {pulled.verified_by}"
        if pulled.verified_by
        else "sha256 not verified: no checksum is pinned for it and the server sent none"
    )
    return f"pulled {pulled.model.name} to {where}{resumed}; {check}\n  sha256 {pulled.sha256}"


def run_path(name: str | None, out: TextIO, err: TextIO) -> int:
    if not name:
        out.write(f"{models_dir()}\n")
        return EXIT_OK
    model = _model_named(name, err)
    if model is None:
        return EXIT_USAGE
    path = models_dir() / model.file
    if not path.is_file():
        err.write(f"lsp-assist: {name} is not pulled — run `lsp-assist models pull {name}`\n")
        return EXIT_FAILED
    out.write(f"{path}\n")
    return EXIT_OK


def model_list() -> str:
    """The catalog and the pulled files, one model a line, with the one the embedded engine
    loads marked."""
    used = default_model_path()
    pulled = {path.name: path for path in pulled_models()}
    rows: list[tuple[str, str, str]] = []
    for model in CATALOG:
        path = pulled.pop(model.file, None)
        rows.append((model.name, *_state(model, path, used)))
    for path in pulled.values():
        rows.append(
            (path.name, size_text(path.stat().st_size), _pulled(path, used, "not in the catalog"))
        )
    width = max(len(name) for name, _, _ in rows)
    lines = [f"Models for the embedded engine, in {models_dir()}:"]
    lines += [f"  {name.ljust(width)}  {size.rjust(8)}  {state}" for name, size, state in rows]
    lines.append(f"`lsp-assist models pull [NAME]` downloads one (default: {DEFAULT_MODEL}).")
    return "\n".join(lines)


def _state(model: KnownModel, path: Path | None, used: Path | None) -> tuple[str, str]:
    if path is not None:
        return size_text(path.stat().st_size), _pulled(path, used, model.about)
    size = size_text(model.size_mb * 1_000_000)
    part = part_path(model)
    if part.is_file():
        return size, (
            f"partly downloaded ({size_text(part.stat().st_size)}): `lsp-assist models pull "
            f"{model.name}` resumes it"
        )
    return size, f"not pulled — {model.about}"


def _pulled(path: Path, used: Path | None, about: str) -> str:
    marker = "pulled, the embedded engine uses it" if path == used else "pulled"
    return f"{marker} — {about}" if about else marker


def _model_named(name: str, err: TextIO) -> KnownModel | None:
    model = known_model(name)
    if model is None:
        names = ", ".join(m.name for m in CATALOG)
        err.write(f"lsp-assist: no model named {name!r} — the catalog has: {names}\n")
    return model
