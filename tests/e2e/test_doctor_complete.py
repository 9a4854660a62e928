"""`lsp-assist doctor` and `lsp-assist complete`, run as installed commands against the fake
Ollama (and against no server at all: then `complete` falls back to the offline engine, as
the server does, and says so)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.fakes.fake_ollama import FakeModel, FakeOllama, unused_url

LSP_ASSIST = Path(sys.executable).parent / "lsp-assist"
COMPLETION_MODEL = "qwen2.5-coder:1.5b-base"
REVIEW_MODEL = "qwen2.5-coder:7b-instruct"
NO_FIM = FakeModel(name="llama3.2:1b", template="{{ .Prompt }}", family="llama")
SOURCE = "def add(a, b):\n    return \n\nprint(add(1, 2))\n"
# Code the offline engine learns from the folder, and a new file where it completes "li" to
# "list(items)" from it (as in test_offline.py).
ORDERS = "".join(
    f"class Order{i}:\n"
    f"    def __init__(self, items, limit={i}):\n"
    f"        self.items = list(items)\n"
    f"        self.limit = limit\n\n\n"
    for i in range(6)
)
BASKET = "class Basket:\n    def __init__(self, items):\n        self.items = li\n"


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LSP_ASSIST), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


def assert_no_traceback(result: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in result.stderr
    assert "Traceback" not in result.stdout


@pytest.fixture(autouse=True)
def no_pulled_models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A model the user pulled would join `complete`'s route: the tests' cache has none."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


@pytest.fixture
def source_file(tmp_path: Path) -> Path:
    path = tmp_path / "add.py"
    path.write_text(SOURCE, encoding="utf-8")
    return path


@pytest.fixture
def garbage_url() -> Iterator[str]:
    """A server that answers every request with 200 and text that is not Ollama's JSON."""

    class Garbage(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            body = b"<html>hello</html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = _answer

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Garbage)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


# -- doctor ----------------------------------------------------------------------------------


def test_doctor_all_good(fake_ollama: FakeOllama) -> None:
    result = run("doctor", "--host", fake_ollama.url)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Ollama 0.13.5" in result.stdout
    assert COMPLETION_MODEL in result.stdout and REVIEW_MODEL in result.stdout
    assert "context 32768 tokens" in result.stdout
    assert "All good." in result.stdout
    assert "fix:" not in result.stdout


def test_doctor_reports_a_missing_model_with_its_fix(fake_ollama: FakeOllama) -> None:
    fake_ollama.remove_model(REVIEW_MODEL)
    result = run("doctor", "--host", fake_ollama.url)
    assert result.returncode == 1
    assert f"ollama pull {REVIEW_MODEL}" in result.stdout
    assert "1 problem found." in result.stdout
    assert_no_traceback(result)


def test_doctor_reports_a_completion_model_without_fim(fake_ollama: FakeOllama) -> None:
    fake_ollama.add_model(NO_FIM)
    result = run("doctor", "--host", fake_ollama.url, "--model", NO_FIM.name)
    assert result.returncode == 1
    assert "cannot fill in the middle" in result.stdout
    assert "ollama pull qwen2.5-coder:1.5b-base" in result.stdout
    # A model of unknown name with `insert` is fine (Ollama's template does the FIM).
    suffix_template = "{{ if .Suffix }}<A>{{ .Prompt }}<B>{{ .Suffix }}<C>{{ else }}{{ end }}"
    fake_ollama.add_model(FakeModel(name="mystery:1b", template=suffix_template))
    fine = run("doctor", "--host", fake_ollama.url, "--model", "mystery:1b")
    assert fine.returncode == 0, fine.stdout
    assert "insert capability" in fine.stdout


def test_doctor_with_the_host_down_says_how_to_start_it() -> None:
    url = unused_url()
    result = run("doctor", "--host", url)
    assert result.returncode == 1
    assert f"Ollama at {url}: Ollama is not reachable" in result.stdout
    assert "ollama serve" in result.stdout
    assert "https://ollama.com/download" in result.stdout
    assert "OLLAMA_HOST" in result.stdout
    assert_no_traceback(result)


def test_doctor_reports_a_host_that_answers_garbage(garbage_url: str) -> None:
    result = run("doctor", "--host", garbage_url)
    assert result.returncode == 1
    assert "not like Ollama" in result.stdout
    assert_no_traceback(result)


def test_doctor_pull_pulls_the_missing_model(fake_ollama: FakeOllama) -> None:
    fake_ollama.remove_model(REVIEW_MODEL)
    result = run("doctor", "--host", fake_ollama.url, "--pull")
    assert result.returncode == 0, result.stdout + result.stderr
    pulls = [r for r in fake_ollama.requests if r.path == "/api/pull"]
    assert [r.body["model"] for r in pulls] == [REVIEW_MODEL]
    # stderr is not a terminal here: one line per status.
    progress = result.stderr.splitlines()
    assert f"pulling {REVIEW_MODEL}: pulling manifest" in progress
    assert f"pulling {REVIEW_MODEL}: success" in progress
    assert any("MB)" in line for line in progress)
    assert "All good." in result.stdout
    again = run("doctor", "--host", fake_ollama.url)
    assert again.returncode == 0, again.stdout
    assert len([r for r in fake_ollama.requests if r.path == "/api/pull"]) == 1


def test_doctor_json_parses(fake_ollama: FakeOllama) -> None:
    fake_ollama.remove_model(REVIEW_MODEL)
    result = run("doctor", "--host", fake_ollama.url, "--json")
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["ok"] is False
    assert report["host"]["reachable"] is True and report["host"]["version"] == "0.13.5"
    by_name = {m["name"]: m for m in report["models"]}
    assert by_name[COMPLETION_MODEL]["pulled"] is True
    assert by_name[COMPLETION_MODEL]["fim"] is True
    assert by_name[COMPLETION_MODEL]["context_length"] == 32768
    assert by_name[REVIEW_MODEL]["pulled"] is False
    assert by_name[REVIEW_MODEL]["fix"] == f"ollama pull {REVIEW_MODEL}"


# -- complete --------------------------------------------------------------------------------


def test_complete_prints_the_models_reply_for_a_file_position(
    fake_ollama: FakeOllama, source_file: Path
) -> None:
    fake_ollama.reply_with("a + b")
    result = run("complete", f"{source_file}:2:12", "--host", fake_ollama.url)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "a + b"
    [request] = fake_ollama.generate_requests
    body = request.body
    assert body["model"] == COMPLETION_MODEL
    assert body["raw"] is True and "suffix" not in body
    # The server's prompt layout: the cursor line up to the cursor comes last.
    assert body["prompt"].startswith("<|file_sep|>add.py\n<|fim_prefix|>def add(a, b):\n")
    assert body["prompt"].endswith("<|fim_middle|>    return ")
    assert "<|fim_suffix|>\n\nprint(add(1, 2))\n" in body["prompt"]
    assert "<|endoftext|>" in body["options"]["stop"]


def test_complete_reads_stdin(fake_ollama: FakeOllama) -> None:
    fake_ollama.reply_with("a + b")
    result = run("complete", "-:2:12", "--host", fake_ollama.url, stdin=SOURCE)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "a + b"
    assert fake_ollama.generate_requests[0].body["prompt"].endswith("<|fim_middle|>    return ")


def test_complete_uses_the_chosen_model(fake_ollama: FakeOllama, source_file: Path) -> None:
    fake_ollama.reply_with("a + b")
    model = "codellama:7b-code"
    result = run("complete", f"{source_file}:2:12", "--host", fake_ollama.url, "--model", model)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "a + b"
    body = fake_ollama.generate_requests[0].body
    assert body["model"] == model
    assert body["prompt"].startswith("<PRE> def add(a, b):\n")


def test_complete_says_on_stderr_which_server_answered(
    fake_ollama: FakeOllama, source_file: Path
) -> None:
    fake_ollama.reply_with("a + b")
    result = run("complete", f"{source_file}:2:12", "--host", fake_ollama.url)
    assert result.returncode == 0, result.stderr
    assert result.stderr == f"lsp-assist: answered by Ollama at {fake_ollama.url}\n"


def test_complete_with_the_host_down_is_answered_by_the_offline_engine_from_the_folder(
    tmp_path: Path,
) -> None:
    # Changed by issue 12: `complete` takes the server's route, so it no longer fails when
    # Ollama is down — the offline engine answers from the folder's code, and stderr says so.
    (tmp_path / "orders.py").write_text(ORDERS, encoding="utf-8")
    basket = tmp_path / "basket.py"
    basket.write_text(BASKET, encoding="utf-8")
    url = unused_url()
    result = run("complete", f"{basket}:3:24", "--host", url)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "st(items)"
    assert result.stderr == (
        f"lsp-assist: Ollama is not reachable at {url} — answered by the offline engine from "
        "this folder's code: start Ollama (`ollama serve`) for model suggestions\n"
    )


def test_the_offline_engine_learns_the_whole_git_repository_of_the_file(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / "shop").mkdir()
    (tmp_path / "shop" / "orders.py").write_text(ORDERS, encoding="utf-8")
    (tmp_path / "cart").mkdir()
    basket = tmp_path / "cart" / "basket.py"
    basket.write_text(BASKET, encoding="utf-8")
    result = run("complete", f"{basket}:3:24", "--host", unused_url())
    assert result.returncode == 0, result.stderr
    assert result.stdout == "st(items)"


def test_complete_with_the_host_down_and_only_model_servers_allowed_says_how_to_start_it(
    source_file: Path, tmp_path: Path
) -> None:
    settings = tmp_path / "settings.json"
    settings.write_text('{"lspAssist": {"completion": {"backend": "model"}}}')
    url = unused_url()
    result = run("complete", f"{source_file}:2:12", "--host", url, "--settings", str(settings))
    assert result.returncode == 1
    assert result.stdout == ""
    assert f"Ollama is not reachable at {url}" in result.stderr
    assert "ollama serve" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert_no_traceback(result)


def test_complete_never_sends_a_secret_file(fake_ollama: FakeOllama, tmp_path: Path) -> None:
    secrets = tmp_path / ".env"
    secrets.write_text("API_KEY=sk-1234\nDB_PASSWORD=\n", encoding="utf-8")
    result = run("complete", f"{secrets}:2:13", "--host", fake_ollama.url)
    assert result.returncode == 1
    assert "is private" in result.stderr and "never sent to a model" in result.stderr
    assert fake_ollama.generate_requests == []
    assert_no_traceback(result)


def test_complete_with_a_missing_model_says_how_to_pull_it(
    fake_ollama: FakeOllama, source_file: Path
) -> None:
    result = run("complete", f"{source_file}:2:12", "--host", fake_ollama.url, "--model", "no:1b")
    assert result.returncode == 1
    assert "`ollama pull no:1b`" in result.stderr
    assert_no_traceback(result)


def test_complete_with_a_model_without_fim_says_so(
    fake_ollama: FakeOllama, source_file: Path
) -> None:
    fake_ollama.add_model(NO_FIM)
    result = run(
        "complete", f"{source_file}:2:12", "--host", fake_ollama.url, "--model", NO_FIM.name
    )
    assert result.returncode == 1
    assert "cannot fill in the middle" in result.stderr
    assert fake_ollama.generate_requests == []
    assert_no_traceback(result)


def test_complete_clamps_a_position_past_the_end(
    fake_ollama: FakeOllama, source_file: Path
) -> None:
    fake_ollama.reply_with("a + b")
    past_line = run("complete", f"{source_file}:2:99", "--host", fake_ollama.url)
    assert past_line.returncode == 0, past_line.stderr
    assert "column 99 is past the end of line 2" in past_line.stderr
    assert past_line.stdout == "a + b"
    past_file = run("complete", f"{source_file}:99:1", "--host", fake_ollama.url)
    assert past_file.returncode == 0, past_file.stderr
    assert "line 99 is past the end" in past_file.stderr
    assert fake_ollama.generate_requests[-1].body["prompt"].endswith("<|fim_middle|>")


def test_complete_reports_a_missing_file_and_bad_positions(tmp_path: Path) -> None:
    missing = run("complete", f"{tmp_path / 'nope.py'}:1:1", "--host", unused_url())
    assert missing.returncode == 1
    assert "no such file" in missing.stderr
    assert_no_traceback(missing)
    for bad in ("file.py", "file.py:1", "file.py:0:1", "file.py:a:1"):
        usage = run("complete", bad)
        assert usage.returncode == 2, bad
        assert "FILE:LINE:COL" in usage.stderr
        assert_no_traceback(usage)
