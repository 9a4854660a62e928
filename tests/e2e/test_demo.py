"""`lsp-assist demo`, run as the installed command: against the fake Ollama, on a file of the
user's, against no server at all, and with a file that does not exist; and with named endpoints
(a real llama.cpp server), run in-process with the settings a `--settings` file gives."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from lsp_assist.config import parse_settings
from lsp_assist.demo import run_demo
from tests.engines.fixtures import llamacpp_fixture, tiny_model_fixture  # noqa: F401
from tests.engines.llamacpp_server import LlamaServer
from tests.fakes.fake_ollama import FakeOllama, unused_url

LSP_ASSIST = Path(sys.executable).parent / "lsp-assist"
# What the model would write after "def withdraw(self, account_id: str, amount: Decimal, ".
TYPED = "def withdraw(self, account_id: str, amount: Decimal, "
REPLY = 'memo: str = "") -> Decimal:'
USER_FILE = """\
def greet(name):
    message = "hello " + name
    print(message)
    return message


def shout(name):
    message = greet(name).upper()
    print(message)
    return message
"""


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LSP_ASSIST), "demo", "--plain", *args], capture_output=True, text=True, timeout=90
    )


def assert_no_traceback(result: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in result.stderr
    assert "Traceback" not in result.stdout


def rows(output: str, source: str) -> list[str]:
    return [line for line in output.splitlines() if f" ms  {source} " in line]


def test_demo_shows_the_models_suggestions_and_types_through_one(
    fake_ollama: FakeOllama,
) -> None:
    fake_ollama.reply_with(REPLY)
    result = run("--host", fake_ollama.url)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert f"Ollama answers at {fake_ollama.url}" in out
    model_rows = rows(out, "model")
    assert any(line.endswith(f"{TYPED}|{REPLY}") for line in model_rows)
    # Typing the suggestion's first characters is answered from it: no new request.
    accepted = out.split("accepting the suggestion:")[1]
    through = rows(accepted, "type-through")
    assert through and through[0].endswith(f"{TYPED}m|{REPLY[1:]}")
    assert "summary" in out and "keystrokes" in out and "median latency" in out
    assert "without a new model request" in out
    requests = fake_ollama.generate_requests
    assert requests and all("<|fim_middle|>" in r.body["prompt"] for r in requests)
    # The other files of the sample project are in the prompt as context.
    assert "<|file_sep|>accounts.py" in requests[-1].body["prompt"]
    typing, accepting = out.split("accepting the suggestion:")
    assert len(requests) <= len(rows(typing, "model")) + len(rows(typing, "-"))
    assert not rows(accepting, "model")
    assert_no_traceback(result)


def test_demo_on_the_users_file(fake_ollama: FakeOllama, tmp_path: Path) -> None:
    path = tmp_path / "hello.py"
    path.write_text(USER_FILE, encoding="utf-8")
    fake_ollama.reply_with("print(message)")
    result = run("--host", fake_ollama.url, "--file", str(path), "--line", "8")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{path}, typing after line 8" in result.stdout
    assert rows(result.stdout, "model")
    assert "print(message)" in result.stdout
    assert fake_ollama.generate_requests
    # The file on disk is left alone: the demo types into the editor's buffer only.
    assert path.read_text(encoding="utf-8") == USER_FILE
    assert_no_traceback(result)


def test_demo_without_a_model_server_says_so_and_names_the_fix() -> None:
    url = unused_url()
    result = run("--host", url)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"No model server answered at {url}" in result.stdout
    assert "offline engine" in result.stdout
    assert "ollama pull qwen2.5-coder:1.5b-base" in result.stdout
    assert "summary" in result.stdout
    # The offline engine, learnt from the sample project, offers the rest of the signature.
    offline = rows(result.stdout, "offline engine")
    assert any(line.endswith(f"{TYPED.rstrip()}| {REPLY[: -len(' Decimal:')]}") for line in offline)
    assert rows(result.stdout.split("accepting the suggestion:")[1], "type-through")
    assert_no_traceback(result)


def test_demo_with_a_missing_file_says_so(tmp_path: Path) -> None:
    missing = tmp_path / "nope.py"
    result = run("--host", unused_url(), "--file", str(missing))
    assert result.returncode == 1
    assert result.stderr.strip() == f"lsp-assist demo: no such file: {missing}"
    assert_no_traceback(result)


def test_demo_with_a_line_past_the_end_says_so(tmp_path: Path) -> None:
    path = tmp_path / "hello.py"
    path.write_text(USER_FILE, encoding="utf-8")
    result = run("--host", unused_url(), "--file", str(path), "--line", "99")
    assert result.returncode == 1
    assert "--line 99" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert_no_traceback(result)


# -- named endpoints ---------------------------------------------------------------------------

# The tiny model writes random characters: typed in comments, any of them is valid code, and
# temperature 0 makes them repeatable.
NOTES = "# shopping list\n# apples and pears\n# bread and butter\n"
QUICK = {"temperature": 0, "multiline": "never", "maxTokens": 16}


async def demo_output(
    capsys: pytest.CaptureFixture[str], raw: dict[str, Any], file: Path | None = None
) -> str:
    settings, problems = parse_settings(raw)
    assert problems == []
    code = await run_demo(
        unused_url(), None, str(file) if file else None, None, True, settings=settings
    )
    assert code == 0
    return capsys.readouterr().out


async def test_demo_with_a_llama_cpp_endpoint_says_which_endpoint_served(
    llamacpp: LlamaServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    notes = tmp_path / "notes.py"
    notes.write_text(NOTES, encoding="utf-8")
    raw = {
        "endpoints": {"lcpp": {"kind": "llamacpp", "url": llamacpp.url}},
        "completion": QUICK,
        "review": {"enabled": False},
    }
    out = await demo_output(capsys, raw, notes)
    assert f"lcpp (llama.cpp at {llamacpp.url}) answers" in out
    typing, accepting = out.split("accepting the suggestion:")
    assert rows(typing, "model (lcpp)")
    assert rows(accepting, "type-through (lcpp)")
    served = [line.split() for line in out.splitlines() if "served by lcpp" in line]
    suggestions = [
        line.split() for line in out.splitlines() if line.strip().startswith("suggestions")
    ]
    assert served and served[0][-1] == suggestions[0][-1]  # every suggestion came from lcpp
    model = llamacpp.model_path.name
    assert f"Served by lcpp (llama.cpp at {llamacpp.url}), model {model}:" in out
    assert_no_offline(out)


async def test_demo_with_endpoints_that_do_not_answer_lets_the_offline_engine_serve(
    capsys: pytest.CaptureFixture[str],
) -> None:
    down = unused_url()
    raw = {"endpoints": {"lcpp": {"kind": "llamacpp", "url": down}}, "review": {"enabled": False}}
    out = await demo_output(capsys, raw)
    assert f"lcpp (llama.cpp at {down}) does not answer." in out
    assert "No model server answered (tried: lcpp)." in out
    assert "`lsp-assist doctor` says what else to fix" in out
    assert rows(out, "offline engine")
    assert "served by" not in out


def assert_no_offline(output: str) -> None:
    assert not rows(output, "offline engine")
    assert "from offline engine" not in output
