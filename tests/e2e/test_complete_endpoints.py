"""`lsp-assist complete --settings FILE` against named endpoints: a real llama.cpp server on the
tiny model, asked as llama.cpp and as an OpenAI-compatible server (its /v1), in failover order.
The installed command runs as a subprocess; the server runs in the test's process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.engines.fixtures import llamacpp_fixture, tiny_model_fixture  # noqa: F401
from tests.engines.llamacpp_server import LlamaServer
from tests.fakes.fake_ollama import unused_url

LSP_ASSIST = Path(sys.executable).parent / "lsp-assist"
# Plain text has no syntax to break, so the tiny model's random characters are never dropped;
# with several lines allowed a first newline does not end the suggestion; temperature 0 makes
# it the same on every run.
NOTES = "the plan for today\nfirst, \n"
LOCATION = "notes.txt:2:8"
SAMPLING = {"temperature": 0, "multiline": "always"}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "notes.txt").write_text(NOTES, encoding="utf-8")
    return folder


def complete(
    project: Path, settings: dict[str, Any] | str, *args: str
) -> subprocess.CompletedProcess[str]:
    file = project / "settings.json"
    file.write_text(settings if isinstance(settings, str) else json.dumps(settings))
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env["XDG_CACHE_HOME"] = str(project / "cache")  # no pulled model joins the route
    return subprocess.run(
        [str(LSP_ASSIST), "complete", LOCATION, "--settings", str(file), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=project,
    )


def test_complete_asks_a_llamacpp_endpoint_of_the_settings_file(
    llamacpp: LlamaServer, project: Path
) -> None:
    settings = {
        "lspAssist": {
            "endpoints": {"lcpp": {"kind": "llamacpp", "url": llamacpp.url}},
            "completion": SAMPLING,
        }
    }
    result = complete(project, settings)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()
    assert result.stderr == f"lsp-assist: answered by lcpp (llama.cpp at {llamacpp.url})\n"


def test_complete_asks_an_openai_compatible_endpoint_with_the_fim_tokens_it_is_told(
    llamacpp: LlamaServer, project: Path
) -> None:
    # VS Code's settings.json: flat keys, comments, trailing commas, other extensions' keys.
    settings = f"""{{
        // the model server on the GPU box
        "lspAssist.endpoints": {{
            "gpu": {{"kind": "openai", "url": "{llamacpp.url}/v1", "fim": "qwen",}},
        }},
        /* deterministic */ "lspAssist.completion.temperature": 0,
        "lspAssist.completion.multiline": "always",
        "editor.fontSize": 14,
    }}"""
    result = complete(project, settings)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()
    assert result.stderr == (
        f"lsp-assist: answered by gpu (OpenAI-compatible server at {llamacpp.url}/v1)\n"
    )


def test_an_openai_endpoint_whose_fim_tokens_are_unknown_is_one_line_with_the_fix(
    llamacpp: LlamaServer, project: Path
) -> None:
    # The tiny model's name (its file path) says nothing of its FIM tokens.
    settings = {"endpoints": {"gpu": {"kind": "openai", "url": f"{llamacpp.url}/v1"}}}
    result = complete(project, settings)
    assert result.returncode == 1
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert "cannot fill in the middle" in line and "lspAssist.endpoints.gpu.fim" in line
    assert "Traceback" not in result.stderr


def test_complete_passes_over_an_unreachable_endpoint_to_the_next_and_says_so(
    llamacpp: LlamaServer, project: Path
) -> None:
    down = unused_url()
    settings = {
        "endpoints": {
            "desk": {"kind": "llamacpp", "url": down},
            "lcpp": {"kind": "llamacpp", "url": llamacpp.url},
        },
        "completion": SAMPLING,
    }
    result = complete(project, settings)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()
    assert result.stderr == (
        f"lsp-assist: desk (llama.cpp at {down}) is not reachable — answered by lcpp "
        f"(llama.cpp at {llamacpp.url}): start desk to use it\n"
    )


def test_the_same_request_gives_the_same_suggestion_by_either_api(
    llamacpp: LlamaServer, project: Path
) -> None:
    """One prompt, one model: llama.cpp's /completion and its /v1/completions agree (at
    temperature 0), so both endpoints really sent the server's prompt."""
    native = complete(
        project,
        {
            "endpoints": {"lcpp": {"kind": "llamacpp", "url": llamacpp.url}},
            "completion": SAMPLING,
        },
    )
    openai = complete(
        project,
        {
            "endpoints": {"gpu": {"kind": "openai", "url": f"{llamacpp.url}/v1", "fim": "qwen"}},
            "completion": SAMPLING,
        },
    )
    assert native.returncode == openai.returncode == 0, native.stderr + openai.stderr
    assert native.stdout == openai.stdout != ""
