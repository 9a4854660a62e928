"""Acceptance statistics end to end: a real server session reports its suggestions' fates,
retention is measured after a short delay, and `lsp-assist stats` shows the figures."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from lsprotocol import types

from lsp_assist.stats.events import StatsEvent
from lsp_assist.stats.log import StatsLog
from tests.e2e.editor import Editor, editor_session
from tests.fakes.fake_ollama import FakeOllama

ADD = "def add(a, b):\n    return \n"
SUB = "def sub(a, b):\n    return \n"
ADD_JS = "function add(a, b) {\n  return \n}\n"
MODEL = "qwen2.5-coder:1.5b-base"
STATS_COMMAND = [sys.executable, "-m", "lsp_assist", "stats"]


def state_dir() -> Path:
    return Path(os.environ["XDG_STATE_HOME"]) / "lsp-assist"


async def suggestion(editor: Editor, uri: str, offset: int) -> tuple[types.Command, str]:
    """The ghost text at `offset`: its item's command, and its id."""
    result = await editor.inline(uri, offset)
    assert result is not None and len(result.items) == 1
    command = result.items[0].command
    assert command is not None and command.command == "lspAssist.suggestionAccepted"
    assert command.title == "lsp-assist: accepted"
    (argument,) = command.arguments or []
    return command, argument["id"]


def report(editor: Editor, suggestion_id: str, kind: str, accepted: int | None = None) -> None:
    params: dict[str, Any] = {"id": suggestion_id, "kind": kind}
    if accepted is not None:
        params["acceptedChars"] = accepted
    editor.client.protocol.notify("lspAssist/suggestionEvent", params)


async def logged(kind: str, count: int, timeout: float = 20) -> list[StatsEvent]:
    """The events of `kind` in the stats log, once there are `count` of them."""
    log = StatsLog(state_dir() / "stats")
    deadline = time.monotonic() + timeout
    while True:
        events = [event for event in log.read() if event.kind == kind]
        if len(events) >= count or time.monotonic() > deadline:
            return events
        await asyncio.sleep(0.05)


def stats(*arguments: str) -> str:
    done = subprocess.run(
        [*STATS_COMMAND, *arguments], capture_output=True, text=True, timeout=60, check=True
    )
    return done.stdout


async def test_lsp_assist_stats_shows_the_figures_of_a_session(fake_ollama: FakeOllama) -> None:
    fake_ollama.reply_with("a + b")
    env = {**os.environ, "LSP_ASSIST_RETENTION_S": "1"}
    async with editor_session(fake_ollama.url, env=env) as editor:
        # Python: shown, accepted in full (VS Code runs the item's command after inserting
        # it), then "+ b" deleted: 2 of its 5 characters are retained.
        add = editor.open("add.py", ADD)
        cursor = ADD.index("return ") + len("return ")
        command, accepted_id = await suggestion(editor, add, cursor)
        report(editor, accepted_id, "shown")
        editor.replace(add, cursor, cursor, "a + b")
        await editor.execute(command.command, *command.arguments or [])
        report(editor, accepted_id, "accepted", 5)  # a second report of it counts for nothing
        editor.replace(add, cursor + 2, cursor + 5, "")

        # JavaScript: shown, its first word accepted ("a "), the rest left.
        add_js = editor.open("add.js", ADD_JS, "javascript")
        cursor_js = ADD_JS.index("return ") + len("return ")
        _, partial_id = await suggestion(editor, add_js, cursor_js)
        report(editor, partial_id, "shown")
        editor.replace(add_js, cursor_js, cursor_js, "a ")
        report(editor, partial_id, "partial", 2)

        # Python again: shown, typed through (a second suggestion, with no new generation),
        # then dismissed.
        sub = editor.open("sub.py", SUB)
        _, first_id = await suggestion(editor, sub, cursor)
        report(editor, first_id, "shown")
        typed = editor.type(sub, cursor, "a")
        _, typed_id = await suggestion(editor, sub, typed)
        report(editor, typed_id, "shown")
        report(editor, typed_id, "dismissed")
        report(editor, "nobody-1", "accepted")  # an unknown id is ignored
        await editor.round_trip()

        retained = await logged("retained", 2)
        assert sorted((e.language, e.chars, e.retained) for e in retained) == [
            ("javascript", 2, 2),
            ("python", 5, 2),
        ]

    folder = state_dir() / "stats"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    (log_file,) = folder.iterdir()
    assert stat.S_IMODE(log_file.stat().st_mode) == 0o600
    written = log_file.read_text()
    for code_or_name in ("a + b", "add.py", "add.js", "sub", "return"):
        assert code_or_name not in written

    figures = json.loads(stats("--json"))
    groups = {(g["model"], g["language"]): g for g in figures["groups"]}
    assert set(groups) == {(MODEL, "python"), (MODEL, "javascript")}
    python, javascript = groups[MODEL, "python"], groups[MODEL, "javascript"]
    assert (python["shown"], python["accepted"], python["acceptedFull"]) == (3, 1, 1)
    assert (python["dismissed"], python["acceptanceRate"]) == (1, 0.3333)
    assert (python["acceptedChars"], python["retainedChars"]) == (5, 2)
    assert python["retentionRate"] == 0.4
    # Two generations at least (the engine may prefetch the suggestion after a shown one).
    assert python["generations"] >= 2
    assert python["generationsPerAccepted"] == python["generations"] / 1
    assert python["latency"]["first"]["count"] == 2
    assert python["latency"]["typeThrough"]["count"] == 1
    for latency in (python["latency"]["first"], python["latency"]["typeThrough"]):
        assert 0 < latency["p50Ms"] <= latency["p95Ms"]
    assert (javascript["shown"], javascript["acceptedPartial"]) == (1, 1)
    assert (javascript["acceptanceRate"], javascript["acceptedChars"]) == (1.0, 2)
    assert javascript["retainedChars"] == 2
    assert javascript["generations"] >= 1
    assert javascript["generationsPerAccepted"] == javascript["generations"] / 1
    assert figures["total"]["shown"] == 4 and figures["total"]["accepted"] == 2

    text = stats("--days", "1")
    print(text)
    print(json.dumps(figures, indent=2))
    assert f"{MODEL} — python" in text and f"{MODEL} — javascript" in text
    assert "1 (33%): 1 in full, 0 in part; 1 dismissed" in text
    assert "2 of 5 measured (40%)" in text
    assert f"{python['generationsPerAccepted']:.2f} ({python['generations']} generations)" in text


async def test_a_neovim_accept_counts_in_bytes_and_is_measured_when_the_server_stops(
    fake_ollama: FakeOllama,
) -> None:
    """Neovim reports its accept itself, in UTF-8 bytes, for the completion item too; an
    accept not yet 30 s old when the server stops is measured then."""
    fake_ollama.reply_with("'né'")
    async with editor_session(fake_ollama.url, client="neovim") as editor:
        assert editor.encoding == "utf-8"
        uri = editor.open("name.py", "def name():\n    return \n")
        cursor = editor.end_of(uri) - 1
        result = await editor.completion(uri, cursor)
        assert result is not None
        item = result.items[0]
        assert item.command is not None
        assert item.command.command == "lspAssist.suggestionAccepted"
        suggestion_id = (item.command.arguments or [])[0]["id"]
        editor.replace(uri, cursor, cursor, "'né'")
        report(editor, suggestion_id, "accepted", len("'né'".encode()))
        await editor.round_trip()
    (group,) = json.loads(stats("--json"))["groups"]
    assert (group["language"], group["shown"], group["acceptedFull"]) == ("python", 1, 1)
    assert (group["acceptedChars"], group["retainedChars"]) == (4, 4)
    assert group["latency"]["first"]["count"] == 1  # accepted, so shown: its latency counts
