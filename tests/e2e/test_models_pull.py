"""`lsp-assist models pull | list | path`, run as the installed command against a local model
mirror (`LSP_ASSIST_MODELS_URL`) that serves the tiny GGUF model the way Hugging Face serves a
Git LFS file: `X-Linked-Etag` is its sha256, `Range` requests are answered with 206, and
`/resolve/` may redirect. Then the pulled model answers `lsp-assist complete` when no model
server is reachable, before the offline engine."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from lsp_assist.model_store import CATALOG, DEFAULT_MODEL
from tests.engines.fixtures import tiny_model_fixture  # noqa: F401
from tests.fakes.fake_ollama import unused_url

LSP_ASSIST = Path(sys.executable).parent / "lsp-assist"
MODEL = CATALOG[0]
MODEL_PATH = f"/{MODEL.repo}/resolve/main/{MODEL.file}"
assert MODEL.name == DEFAULT_MODEL


@dataclass
class Mirror:
    """What the local mirror serves, and what it was asked."""

    url: str
    body: bytes
    sha256: str | None
    """Sent as `X-Linked-Etag` (None: no checksum header)."""
    corrupt: bool = False
    """Serve the bytes with one changed (the header still gives the right sha256)."""
    cut_after: int | None = None
    """Announce the whole file, send this many bytes, hang up (once)."""
    announce: int | None = None
    """Announce this size and send nothing (for the disk-space check)."""
    redirects: dict[str, str] = field(default_factory=dict)
    """path → Location: answered with a 302 that carries the `X-Linked-Etag`, as HF does."""
    ranges: list[str | None] = field(default_factory=list)
    """The `Range` header of each request for the model (None: none)."""


@pytest.fixture
def mirror(tiny_model: Path) -> Iterator[Mirror]:
    body = tiny_model.read_bytes()
    state = Mirror("", body, hashlib.sha256(body).hexdigest())

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path in state.redirects:
                self.send_response(302)
                self.send_header("Location", state.redirects[self.path])
                if state.sha256:
                    self.send_header("X-Linked-Etag", f'"{state.sha256}"')
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if self.path != MODEL_PATH and not self.path.startswith("/cdn/"):
                self.send_error(404)
                return
            state.ranges.append(self.headers.get("Range"))
            self._send_model()

        def _send_model(self) -> None:
            body = state.body
            if state.corrupt:
                body = body[:100] + bytes([body[100] ^ 0xFF]) + body[101:]
            start = 0
            if (asked := self.headers.get("Range")) is not None:
                start = int(asked.removeprefix("bytes=").rstrip("-"))
            if start >= len(body):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(body)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(206 if start else 200)
            if start:
                self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
            if state.sha256 and not state.redirects:
                self.send_header("X-Linked-Etag", f'"{state.sha256}"')
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("Content-Length", str(state.announce or len(body) - start))
            self.end_headers()
            if state.announce:
                self.close_connection = True
                return
            if state.cut_after is not None:
                cut, state.cut_after = state.cut_after, None
                self.wfile.write(body[start:cut])
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(body[start:])

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture
def cache(tmp_path: Path) -> Path:
    return tmp_path / "cache"


def models_folder(cache: Path) -> Path:
    return cache / "lsp-assist" / "models"


def run(
    cache: Path, models_url: str, *args: str, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env.update(XDG_CACHE_HOME=str(cache), LSP_ASSIST_MODELS_URL=models_url)
    return subprocess.run(
        [str(LSP_ASSIST), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=cwd,
    )


def assert_one_line_fault(result: subprocess.CompletedProcess[str], words: str) -> None:
    """Failed with one `lsp-assist:` line that says `words` (progress lines may come before)."""
    assert result.returncode == 1, result.stdout + result.stderr
    faults = [line for line in result.stderr.splitlines() if line.startswith("lsp-assist:")]
    assert len(faults) == 1, result.stderr
    assert words in faults[0]
    assert "Traceback" not in result.stderr + result.stdout


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_pull_downloads_the_default_model_and_checks_hugging_faces_sha256(
    mirror: Mirror, cache: Path
) -> None:
    result = run(cache, mirror.url, "models", "pull")
    assert result.returncode == 0, result.stderr
    pulled = models_folder(cache) / MODEL.file
    assert sha256_of(pulled) == mirror.sha256
    assert sorted(p.name for p in models_folder(cache).iterdir()) == [MODEL.file]
    assert "sha256 verified against Hugging Face's checksum (X-Linked-Etag)" in result.stdout
    assert mirror.ranges == [None]
    # Not a terminal: plain progress lines, up to 100%.
    assert f"pulling {MODEL.name}: 100% (1.7 MB of 1.7 MB)" in result.stderr.splitlines()


def test_list_and_path_show_what_is_pulled_and_which_the_embedded_engine_uses(
    mirror: Mirror, cache: Path
) -> None:
    before = run(cache, mirror.url, "models", "list")
    assert before.returncode == 0, before.stderr
    assert all(model.name in before.stdout for model in CATALOG)
    assert "pulled, the embedded engine uses it" not in before.stdout
    assert run(cache, mirror.url, "models", "pull").returncode == 0
    after = run(cache, mirror.url, "models", "list")
    [line] = [line for line in after.stdout.splitlines() if line.strip().startswith(MODEL.name)]
    assert "1.7 MB" in line and "pulled, the embedded engine uses it" in line
    folder = run(cache, mirror.url, "models", "path")
    assert folder.stdout.strip() == str(models_folder(cache))
    file = run(cache, mirror.url, "models", "path", MODEL.name)
    assert file.stdout.strip() == str(models_folder(cache) / MODEL.file)
    missing = run(cache, mirror.url, "models", "path", CATALOG[1].name)
    assert missing.returncode == 1
    assert f"lsp-assist models pull {CATALOG[1].name}" in missing.stderr


def test_a_download_that_does_not_match_its_checksum_is_refused_and_deleted(
    mirror: Mirror, cache: Path
) -> None:
    mirror.corrupt = True
    result = run(cache, mirror.url, "models", "pull")
    assert_one_line_fault(result, "does not match its checksum")
    assert list(models_folder(cache).iterdir()) == []


def test_an_interrupted_download_resumes_with_a_range_request(mirror: Mirror, cache: Path) -> None:
    half = len(mirror.body) // 2
    mirror.cut_after = half
    first = run(cache, mirror.url, "models", "pull")
    assert_one_line_fault(first, "run `lsp-assist models pull qwen2.5-coder-1.5b-q8` again to")
    part = models_folder(cache) / f"{MODEL.file}.part"
    assert part.stat().st_size == half
    assert not (models_folder(cache) / MODEL.file).exists()
    listed = run(cache, mirror.url, "models", "list")
    assert "partly downloaded" in listed.stdout

    second = run(cache, mirror.url, "models", "pull")
    assert second.returncode == 0, second.stderr
    assert mirror.ranges == [None, f"bytes={half}-"]
    assert sha256_of(models_folder(cache) / MODEL.file) == mirror.sha256
    assert not part.exists()
    assert "resumed at 847.7 KB" in second.stdout


def test_without_a_network_the_pull_says_how_to_fix_it(cache: Path) -> None:
    result = run(cache, unused_url(), "models", "pull")
    assert_one_line_fault(result, "cannot reach 127.0.0.1")
    assert "check the network connection" in result.stderr
    assert "LSP_ASSIST_MODELS_URL" in result.stderr
    assert list(models_folder(cache).iterdir()) == []


def test_a_model_the_server_gives_no_checksum_for_is_said_to_be_not_verified(
    mirror: Mirror, cache: Path
) -> None:
    mirror.sha256 = None
    result = run(cache, mirror.url, "models", "pull")
    assert result.returncode == 0, result.stderr
    assert "sha256 not verified" in result.stdout
    assert (models_folder(cache) / MODEL.file).read_bytes() == mirror.body


def test_a_download_larger_than_the_free_disk_space_is_refused_before_it_starts(
    mirror: Mirror, cache: Path
) -> None:
    mirror.announce = 10**16  # 10 PB
    result = run(cache, mirror.url, "models", "pull")
    assert_one_line_fault(result, "not enough disk space")
    assert list(models_folder(cache).iterdir()) == []


def test_hugging_faces_redirect_to_its_cdn_is_followed_with_the_checksum_it_announced(
    mirror: Mirror, cache: Path
) -> None:
    # As on huggingface.co: /resolve/ answers 302 with X-Linked-Etag; the CDN's answer has none.
    mirror.redirects = {MODEL_PATH: f"{mirror.url}/cdn/{MODEL.file}?signature=x"}
    result = run(cache, mirror.url, "models", "pull")
    assert result.returncode == 0, result.stderr
    assert "verified against Hugging Face's checksum" in result.stdout
    assert sha256_of(models_folder(cache) / MODEL.file) == mirror.sha256


def test_a_redirect_to_plain_http_on_another_host_is_refused(mirror: Mirror, cache: Path) -> None:
    elsewhere = unused_url().replace("127.0.0.1", "localhost")
    mirror.redirects = {MODEL_PATH: f"{elsewhere}/{MODEL.file}"}
    result = run(cache, mirror.url, "models", "pull")
    assert_one_line_fault(result, "which is not https — refused")
    assert mirror.ranges == []
    assert list(models_folder(cache).iterdir()) == []


def test_an_unknown_model_name_is_a_usage_error(mirror: Mirror, cache: Path) -> None:
    result = run(cache, mirror.url, "models", "pull", "gpt-5")
    assert result.returncode == 2
    assert f"the catalog has: {MODEL.name}" in result.stderr
    assert mirror.ranges == []


def test_a_pulled_model_answers_complete_before_the_offline_engine_when_no_server_answers(
    mirror: Mirror, cache: Path, tmp_path: Path
) -> None:
    assert run(cache, mirror.url, "models", "pull").returncode == 0
    project = tmp_path / "project"
    project.mkdir()
    # Plain text: the tiny model's random characters break no syntax (see
    # test_complete_endpoints.py).
    (project / "notes.txt").write_text("the plan for today\nfirst, \n", encoding="utf-8")
    settings = project / "settings.json"
    sampling = {"temperature": 0, "multiline": "always"}
    settings.write_text(json.dumps({"lspAssist": {"completion": sampling}}))
    ollama = unused_url()
    result = run(
        cache,
        mirror.url,
        "complete",
        "notes.txt:2:8",
        "--host",
        ollama,
        "--settings",
        str(settings),
        cwd=project,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()
    assert result.stderr.splitlines()[-1] == (
        f"lsp-assist: Ollama is not reachable at {ollama} — answered by the embedded llama.cpp "
        f"({MODEL.file}): start Ollama (`ollama serve`) to use it"
    )
