"""`lsp-assist models pull`: downloads a GGUF model of the catalog for the embedded engine.

This is the only place lsp-assist downloads anything, and only when the user runs the command.

* Where from: Hugging Face (`KnownModel.url()`), or the mirror named by `LSP_ASSIST_MODELS_URL`.
* Where to: `models_dir()`. Bytes go to `NAME.gguf.part`; a later pull resumes it with an HTTP
  `Range` request. Only a complete file whose checksum matches is renamed to `NAME.gguf` (an
  atomic rename in the same folder), so the embedded engine never sees half a model.
* Checksum: sha256, pinned in the catalog when known; else Hugging Face's own — the
  `X-Linked-Etag` header of a Git LFS file is its sha256. Without either the pull says the
  file is *not verified*. A mismatch deletes the download.
* Disk space: checked against the announced size before the first byte is written.
* TLS: certificates are always verified (`SSL_CERT_FILE` and the proxy variables are honoured).
* Redirects: Hugging Face answers `/resolve/` with a redirect to its CDN (cdn-lfs.hf.co,
  cas-bridge.xethub.hf.co), so this download follows redirects — the model servers' clients
  never do. It follows at most five, each to an https URL (or within the mirror's own origin),
  never from https down to http. That is safe here because nothing private goes along: no
  code, no API key, no `Authorization` header — only a `Range` and the user agent — and the
  checksum, not the host, decides whether the file is kept.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import shutil
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol
from urllib.parse import urljoin, urlsplit

import httpx

from lsp_assist import __version__
from lsp_assist.model_store import MODELS_URL_ENV, KnownModel, models_dir

log = logging.getLogger(__name__)

MAX_REDIRECTS = 5
CHUNK_BYTES = 1 << 20
SPACE_MARGIN_BYTES = 100_000_000
"""Left free on the disk after the download (the editor, the logs and the rest need some)."""
TIMEOUT = httpx.Timeout(60.0, connect=15.0)
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class PullError(Exception):
    """The download failed; the text is the one line to print, with the fix."""


class Progress(Protocol):
    def begin(self, label: str, total: int | None, done: int) -> None: ...
    def advance(self, size: int) -> None: ...
    def end(self) -> None: ...


@dataclass(frozen=True)
class Pulled:
    model: KnownModel
    path: Path
    size: int
    sha256: str
    verified_by: str
    """"the catalog's pinned checksum", "Hugging Face's checksum (X-Linked-Etag)", or "" when
    nothing could verify it."""
    resumed_at: int = 0
    """Bytes a previous, interrupted pull had already fetched."""
    already: bool = False
    """It was pulled before: nothing was downloaded."""


def part_path(model: KnownModel) -> Path:
    return models_dir() / f"{model.file}.part"


async def pull_model(model: KnownModel, progress: Progress, *, force: bool = False) -> Pulled:
    """Downloads `model` into `models_dir()` (resuming a `.part`). Raises `PullError`."""
    folder = models_dir()
    dest = folder / model.file
    if dest.is_file() and not force:
        return Pulled(model, dest, dest.stat().st_size, "", "", already=True)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with _locked_part(part_path(model)) as part:
            return await _download(model, part, dest, progress)
    except OSError as exc:
        raise PullError(
            f"lsp-assist: cannot write the model to {folder}: {exc.strerror or exc} — set "
            "XDG_CACHE_HOME to a folder you can write to"
        ) from None


@contextlib.contextmanager
def _locked_part(path: Path) -> Iterator[IO[bytes]]:
    """The `.part` file, open for appending, that no other pull is writing to."""
    with path.open("ab") as part:
        try:
            import fcntl

            fcntl.flock(part.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except ImportError:  # Windows: no second pull is guarded against
            pass
        except BlockingIOError:
            raise PullError(
                f"lsp-assist: another `lsp-assist models pull` is downloading {path.name} — "
                "wait for it to finish"
            ) from None
        try:
            yield part
        finally:
            if part.seek(0, os.SEEK_END) == 0:  # nothing to resume: leave no trace
                path.unlink(missing_ok=True)


async def _download(model: KnownModel, part: IO[bytes], dest: Path, progress: Progress) -> Pulled:
    url = model.url()
    have = part.seek(0, os.SEEK_END)
    digest = _hash_of(Path(part.name), have)
    async with httpx.AsyncClient(
        timeout=TIMEOUT,
        follow_redirects=False,
        # identity: byte ranges of the file itself, not of a compressed stream.
        headers={"User-Agent": f"lsp-assist/{__version__}", "Accept-Encoding": "identity"},
    ) as client:
        try:
            async with _opened(client, url, have) as (response, linked_sha256):
                if response.status_code == 416 and have:
                    # What we have is all there is (or more): check it, or start again.
                    total = _total_of(response)
                    if total != have:
                        Path(part.name).unlink(missing_ok=True)
                        raise PullError(
                            f"lsp-assist: the partial download of {model.name} was longer than "
                            "the file and was deleted — run `lsp-assist models pull "
                            f"{model.name}` again"
                        )
                else:
                    _check_status(response, url)
                    if response.status_code == 200 and have:
                        part.truncate(0)  # the server ignored the Range: start over
                        have, digest = 0, hashlib.sha256()
                    total = _total_of(response)
                    _check_space(dest.parent, (total or model.size_mb * 1_000_000) - have)
                    progress.begin(model.name, total, have)
                    try:
                        # As it arrives: an interruption keeps every byte received.
                        async for chunk in response.aiter_bytes():
                            part.write(chunk)
                            digest.update(chunk)
                            progress.advance(len(chunk))
                    finally:
                        progress.end()
                resumed_at = have
        except httpx.HTTPError as exc:
            part.flush()
            raise PullError(_network_message(exc, model, url, part.tell())) from None
    part.flush()
    os.fsync(part.fileno())
    size = part.tell()
    sha256 = digest.hexdigest()
    expected, verified_by = _expected_sha256(model, linked_sha256)
    if expected and sha256 != expected:
        Path(part.name).unlink(missing_ok=True)
        raise PullError(
            f"lsp-assist: the download of {model.name} does not match its checksum (sha256 "
            f"{sha256[:12]}…, expected {expected[:12]}…) and was deleted — run `lsp-assist "
            f"models pull {model.name}` again; if it happens again, a proxy or the mirror "
            "changes the file"
        )
    os.replace(part.name, dest)
    return Pulled(model, dest, size, sha256, verified_by, resumed_at)


@contextlib.asynccontextmanager
async def _opened(
    client: httpx.AsyncClient, url: str, offset: int
) -> AsyncIterator[tuple[httpx.Response, str]]:
    """The streamed answer for `url` from `offset` on, redirects followed by the policy in the
    module docstring, and the sha256 Hugging Face announced along the way ("" if none)."""
    headers = {"Range": f"bytes={offset}-"} if offset else {}
    origin = _origin(url)
    linked = ""
    for _ in range(MAX_REDIRECTS + 1):
        response = await client.send(client.build_request("GET", url, headers=headers), stream=True)
        linked = linked or _sha256_etag(response.headers.get("x-linked-etag", ""))
        if not response.is_redirect:
            try:
                yield response, linked
            finally:
                await response.aclose()
            return
        await response.aclose()
        target = urljoin(url, response.headers.get("location", ""))
        if urlsplit(target).scheme != "https" and _origin(target) != origin:
            raise PullError(
                f"lsp-assist: {_host(url)} redirects the download to {target}, which is not "
                "https — refused; check LSP_ASSIST_MODELS_URL"
            )
        url = target
    raise PullError(f"lsp-assist: too many redirects downloading from {_host(url)}")


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.netloc


def _host(url: str) -> str:
    return urlsplit(url).netloc or url


def _sha256_etag(value: str) -> str:
    """Hugging Face's `X-Linked-Etag: "<sha256>"`, or "" when it does not look like one."""
    tag = value.strip().removeprefix("W/").strip('"').lower()
    return tag if _SHA256.match(tag) else ""


def _expected_sha256(model: KnownModel, linked: str) -> tuple[str, str]:
    if model.sha256:
        return model.sha256.lower(), "the catalog's pinned checksum"
    if linked:
        return linked, "Hugging Face's checksum (X-Linked-Etag)"
    return "", ""


def _hash_of(path: Path, size: int) -> hashlib._Hash:
    digest = hashlib.sha256()
    with path.open("rb") as already:
        while size > 0 and (chunk := already.read(min(CHUNK_BYTES, size))):
            digest.update(chunk)
            size -= len(chunk)
    return digest


def _check_status(response: httpx.Response, url: str) -> None:
    status = response.status_code
    if status in (200, 206):
        return
    if status == 404:
        where = (
            f"the mirror {os.environ[MODELS_URL_ENV]} ({MODELS_URL_ENV})"
            if os.environ.get(MODELS_URL_ENV)
            else _host(url)
        )
        raise PullError(f"lsp-assist: {where} has no {url} (HTTP 404)")
    if status in (401, 403):
        raise PullError(
            f"lsp-assist: {_host(url)} refused the download (HTTP {status}) — this model needs "
            f"no account; a proxy may block it, or set {MODELS_URL_ENV} to a mirror"
        )
    raise PullError(f"lsp-assist: {_host(url)} answered HTTP {status} — try again later")


def _total_of(response: httpx.Response) -> int | None:
    """The whole file's size: from `Content-Range` (`bytes 0-9/1234`, `bytes */1234`) on a
    206 or 416, else `Content-Length`."""
    content_range = response.headers.get("content-range", "")
    if match := re.match(r"^bytes (?:\d+-\d+|\*)/(\d+)$", content_range.strip()):
        return int(match.group(1))
    length = response.headers.get("content-length", "")
    return int(length) if length.isdigit() and response.status_code == 200 else None


def _check_space(folder: Path, needed: int) -> None:
    free = shutil.disk_usage(folder).free
    if needed + SPACE_MARGIN_BYTES > free:
        raise PullError(
            f"lsp-assist: not enough disk space in {folder}: the model needs {size_text(needed)}"
            f" and {size_text(free)} is free — free some space, or set XDG_CACHE_HOME to a "
            "disk with room"
        )


def _network_message(exc: httpx.HTTPError, model: KnownModel, url: str, have: int) -> str:
    again = f"`lsp-assist models pull {model.name}`"
    if isinstance(exc, httpx.ConnectError) and "CERTIFICATE_VERIFY_FAILED" in str(exc):
        return (
            f"lsp-assist: the TLS certificate of {_host(url)} could not be verified — behind a "
            "company proxy, set SSL_CERT_FILE to its certificate authorities"
        )
    if isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout)):
        return (
            f"lsp-assist: cannot reach {_host(url)} to download {model.name} — check the "
            f"network connection (or a proxy: HTTPS_PROXY), or set {MODELS_URL_ENV} to a "
            f"mirror; then run {again}"
        )
    if have:
        return (
            f"lsp-assist: the download of {model.name} was interrupted after "
            f"{size_text(have)} ({type(exc).__name__}) — run {again} again to resume it"
        )
    return f"lsp-assist: downloading {model.name} failed: {exc or type(exc).__name__} — run {again}"


def size_text(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{n} B"
