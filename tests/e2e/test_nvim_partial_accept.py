"""Accepting part of a suggestion in the Neovim plugin (editors/nvim), in the real editor.

Headless Neovim 0.11 with the plugin's default keys: <M-Right> accepts the suggestion's next
word, <M-Down> its next line, <Tab> the rest, <C-]> dismisses it. What is left after a partial
accept stays shown, and the plugin asks again: the server answers from the same generation
(type-through), a suggestion of its own. The plugin tells the server what became of each
suggestion (`lspAssist/suggestionEvent`); the tests read what the server recorded in its stats
log, and the requests the fake Ollama got.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from lsp_assist.stats.events import StatsEvent
from lsp_assist.stats.log import StatsLog, stats_dir
from tests.e2e.test_nvim_plugin import (
    GHOST_FUNCTION,
    NO_GHOST,
    Neovim,
    completions,
    fim_middle,
    running_neovim,
)
from tests.fakes.fake_ollama import FakeOllama

# As tests/e2e/nvim/plugin_init.lua, with no suggestion prepared ahead (prefetch): every
# generation the fake gets is one the keystrokes asked for.
INIT = """
vim.opt.runtimepath:prepend(os.getenv("LSP_ASSIST_PLUGIN"))
vim.opt.swapfile = false
require("lsp_assist").setup({
  cmd = vim.json.decode(os.getenv("LSP_ASSIST_CMD")),
  settings = {
    ollama = { host = os.getenv("OLLAMA_URL") },
    completion = { debounceMs = 0, backend = "ollama", prefetch = "never" },
  },
  debounce_ms = 10,
})
"""

BODY = "résumé = a * b\n    return résumé"
"""Two lines for the start of a function's body, with characters of two bytes in UTF-8."""

GHOST_STATE = f"""
local marks = ({GHOST_FUNCTION})()
if #marks ~= 1 then return vim.NIL end
local row, col, details = marks[1][2], marks[1][3], marks[1][4]
local below = vim.tbl_map(function(line) return line[1][1] end, details.virt_lines or {{}})
return {{ row = row, col = col, text = details.virt_text[1][1], below = below }}
"""


@pytest.fixture
def nvim(fake_ollama: FakeOllama, tmp_path: Path) -> Iterator[Neovim]:
    init = tmp_path / "init.lua"
    init.write_text(INIT)
    with running_neovim(fake_ollama, init) as editor:
        yield editor


def ghost_becomes(nvim: Neovim, row: int, col: int, text: str, below: list[str]) -> None:
    """Waits until the one ghost text is `text` at (row, col) with the lines `below` under it."""
    want = {"row": row, "col": col, "text": text, "below": below}
    deadline = time.monotonic() + 15
    while (ghost := nvim.lua(GHOST_STATE)) != want:
        assert time.monotonic() < deadline, f"the ghost text is {ghost}, not {want}"
        time.sleep(0.02)


def recorded(nvim: Neovim, done: Callable[[list[StatsEvent]], bool]) -> list[StatsEvent]:
    """What the server recorded of its suggestions once `done` holds (it writes its stats
    log from a thread of its own)."""
    log = StatsLog(stats_dir(nvim.project.parent / "state" / "lsp-assist"))
    deadline = time.monotonic() + 15
    while not done(events := list(log.read())):
        assert time.monotonic() < deadline, f"the server recorded only {events}"
        time.sleep(0.02)
    return events


def shown(count: int) -> Callable[[list[StatsEvent]], bool]:
    return lambda events: sum(e.kind == "shown" for e in events) >= count


def fates(events: list[StatsEvent]) -> list[tuple[str, list[tuple[str, int]]]]:
    """Per suggestion (in the order they were shown): where it came from, and its events with
    their character counts."""
    return [
        (first.source, [(e.kind, e.chars) for e in events if e.id == first.id])
        for first in events
        if first.kind == "shown"
    ]


def test_a_suggestion_accepted_word_by_word_then_line_by_line_then_whole(
    nvim: Neovim, fake_ollama: FakeOllama
) -> None:
    fake_ollama.set_responder(completions({"    ": BODY}))
    nvim.edit("mul.py", "def mul(a, b):\n")
    nvim.api.input("Go")  # Python's indent puts the new line in the body: "    "
    ghost_becomes(nvim, 1, 4, "résumé = a * b", ["    return résumé"])

    nvim.api.input("<M-Right>")

    nvim.wait_for("return vim.api.nvim_get_current_line() == '    résumé'", "the word")
    ghost_becomes(nvim, 1, len("    résumé".encode()), " = a * b", ["    return résumé"])
    # Asked again there, the server answers the rest from the same generation.
    recorded(nvim, shown(2))

    nvim.api.input("<M-Down>")

    # The line with its line break: the cursor at the start of the next line, the rest there.
    nvim.wait_for("return vim.api.nvim_buf_line_count(0) == 3", "the line")
    ghost_becomes(nvim, 2, 0, "    return résumé", [])
    assert nvim.lines() == ["def mul(a, b):", "    résumé = a * b", ""]
    recorded(nvim, shown(3))

    nvim.api.input("<Tab>")

    nvim.wait_for("return vim.api.nvim_get_current_line() == '    return résumé'", "the rest")
    assert nvim.lines() == ["def mul(a, b):", "    résumé = a * b", "    return résumé"]
    assert nvim.api.current.window.cursor == (3, len("    return résumé".encode()))
    assert nvim.lua(NO_GHOST) is True
    events = recorded(nvim, lambda events: any(e.kind == "accepted" for e in events))
    # Each part counted as accepted once, in characters (the plugin sends UTF-8 bytes).
    assert fates(events) == [
        ("model", [("shown", len(BODY)), ("partial", len("résumé"))]),
        ("type-through", [("shown", len(" = a * b\n    return résumé")), ("partial", 9)]),
        ("type-through", [("shown", len("    return résumé")), ("accepted", 17)]),
    ]
    # One generation: what was left after each partial accept came from it.
    asked = [fim_middle(r.body) for r in fake_ollama.generate_requests]
    assert asked.count("    ") == 1, asked
    partly = [r for r in fake_ollama.generate_requests if "résumé" in r.body["prompt"]]
    assert all("return résumé" in r.body["prompt"] for r in partly), asked


def test_the_next_word_and_the_next_line_are_what_the_keys_take(nvim: Neovim) -> None:
    def part(unit: str, text: str) -> str:
        return str(nvim.lua(f"return require('lsp_assist.parts').next_{unit}(...)", text))

    # A word: blanks, line breaks too, then letters/digits/_ (any non-ASCII character is one
    # of them), or a run of other non-blank characters; all of a blank rest.
    assert part("word", "résumé = a") == "résumé"
    assert part("word", " = a * b") == " ="
    assert part("word", "(1, 2)") == "("
    assert part("word", "\n    return x") == "\n    return"
    assert part("word", "  \n") == "  \n"
    # A line: the rest of this one with its line break; at its end, the line below.
    assert part("line", " = a * b\n    return x\n") == " = a * b\n"
    assert part("line", "\n    return x\n    y") == "\n    return x\n"
    assert part("line", "return x") == "return x"


def test_dismissing_a_suggestion_tells_the_server_and_keeps_the_buffer(
    nvim: Neovim, fake_ollama: FakeOllama
) -> None:
    fake_ollama.set_responder(completions({"    return ": "a + b"}))
    nvim.edit("add.py", "def add(a, b):\n    retur\n")
    nvim.api.input("2GAn ")
    ghost_becomes(nvim, 1, len("    return "), "a + b", [])

    nvim.api.input("<C-]>")

    nvim.wait_for(NO_GHOST, "the ghost text to go")
    assert nvim.lines() == ["def add(a, b):", "    return "]
    events = recorded(nvim, lambda events: any(e.kind == "dismissed" for e in events))
    assert fates(events) == [("model", [("shown", 5), ("dismissed", 0)])]


def test_leaving_insert_mode_dismisses_the_suggestion_and_the_keys_are_neovims_without_one(
    nvim: Neovim, fake_ollama: FakeOllama
) -> None:
    fake_ollama.set_responder(completions({"    return ": "a + b"}))
    nvim.edit("add.py", "def add(a, b):\n    retur\n")
    nvim.api.input("2GAn ")
    ghost_becomes(nvim, 1, len("    return "), "a + b", [])

    nvim.api.input("<Esc>")

    nvim.wait_for(NO_GHOST, "the ghost text to go")
    events = recorded(nvim, lambda events: any(e.kind == "dismissed" for e in events))
    assert [kinds for _, kinds in fates(events)] == [[("shown", 5), ("dismissed", 0)]]
    # With nothing shown, <M-Right> is Neovim's own: an unmapped ALT key is <Esc> and the key.
    fake_ollama.set_responder(completions({}))
    nvim.api.input("o<M-Right>")
    nvim.wait_for("return vim.api.nvim_get_mode().mode == 'n'", "<Esc><Right>")
    assert nvim.lines() == ["def add(a, b):", "    return ", ""]  # dedented after a return
