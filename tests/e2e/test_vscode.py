"""The VS Code extension (editors/vscode) in a real VS Code: code-server, VS Code's web build,
driven by headless Chromium through playwright-core as a user would. The extension is built and
packaged as a .vsix and installed into a fresh extensions folder; it starts `lsp-assist serve`
from this checkout's Python and talks to the fake Ollama.

The first run installs code-server, Node 24 and Chromium (tests/e2e/vscode/setup-code-server.sh,
from npm and Debian's packages; a few minutes) into $LSP_ASSIST_E2E_CACHE, by default the
git-ignored `.cache/` of the checkout. LSP_ASSIST_SKIP_VSCODE_E2E=1 skips these tests.
Screenshots and logs are kept in test-artifacts/vscode/.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal, get_args, get_origin, get_type_hints

import pytest

from lsp_assist.config import Endpoint, Settings
from lsp_assist.stats.events import StatsEvent
from lsp_assist.stats.log import StatsLog, stats_dir
from tests.e2e.editor import SERVER_COMMAND
from tests.e2e.review_answers import SUBTRACTS_FINDING
from tests.fakes.fake_ollama import FakeOllama, Reply

ROOT = Path(__file__).resolve().parents[2]
EXTENSION = ROOT / "editors" / "vscode"
DRIVERS = Path(__file__).parent / "vscode"
CACHE = Path(os.environ.get("LSP_ASSIST_E2E_CACHE") or ROOT / ".cache")
ARTIFACTS = ROOT / "test-artifacts" / "vscode"

needs_code_server = pytest.mark.skipif(
    os.environ.get("LSP_ASSIST_SKIP_VSCODE_E2E") == "1",
    reason="LSP_ASSIST_SKIP_VSCODE_E2E=1",
)


def answer_like_a_model(body: dict[str, Any]) -> Reply:
    """Completions after `return ` are "a + b"; a review finds the subtraction, if any."""
    if body.get("format"):
        reviewed = json.dumps(body.get("messages", []))
        return Reply(
            text=json.dumps({"findings": [SUBTRACTS_FINDING] if "a - b" in reviewed else []})
        )
    return Reply(text="a + b" if body.get("prompt", "").endswith("return ") else "")


# -- installing ------------------------------------------------------------------------------


def timed(what: str, command: list[str], **kwargs: Any) -> None:
    started = time.monotonic()
    completed = subprocess.run(command, capture_output=True, text=True, **kwargs)
    print(f"{what}: {time.monotonic() - started:.1f} s")
    if completed.returncode != 0:
        pytest.fail(
            f"{what} failed ({completed.returncode}):\n{completed.stdout}\n{completed.stderr}"
        )


@pytest.fixture(scope="session")
def code_server() -> Path:
    """code-server, Node 24, playwright-core and Chromium (installed once; idempotent)."""
    install = CACHE / "code-server"
    timed("setup-code-server.sh", ["bash", str(DRIVERS / "setup-code-server.sh"), str(install)])
    return install


@pytest.fixture(scope="session")
def vsix(code_server: Path) -> Path:
    """editors/vscode built and packaged (`npm ci`, `npm run package`) with code-server's Node."""
    npm = shutil.which("npm")
    if npm is None:
        pytest.fail("npm not found: install Node.js and npm (apt-get install npm)")
    env = {**os.environ, "PATH": f"{code_server / 'node' / 'bin'}{os.pathsep}{os.environ['PATH']}"}
    lock = EXTENSION / "package-lock.json"
    installed = EXTENSION / "node_modules" / ".package-lock.json"
    if not installed.exists() or installed.stat().st_mtime < lock.stat().st_mtime:
        timed("npm ci", [npm, "ci", "--no-audit", "--no-fund"], cwd=EXTENSION, env=env)
    timed("npm run package", [npm, "run", "package"], cwd=EXTENSION, env=env)
    return EXTENSION / "lsp-assist.vsix"


# -- processes -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def kill_group(pgid: int, leader: subprocess.Popen[str] | None = None) -> None:
    """Ends a process group: SIGTERM, up to 10 s for its leader to exit, then SIGKILL for
    whatever is left (code-server's extension host and the lsp-assist server, Chromium's
    helpers)."""
    try:
        os.killpg(pgid, signal.SIGTERM)
    except ProcessLookupError:
        return
    if leader is not None:
        try:
            leader.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass


class LoggedProcess:
    """A command in a process group of its own, its output copied to a log file as it
    comes, so that the test can wait for a line."""

    def __init__(self, command: list[str], log: Path, **kwargs: Any) -> None:
        self.log = log
        self._lines: list[str] = []
        self._changed = threading.Condition()
        self.process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            start_new_session=True,
            **kwargs,
        )
        self._reader = threading.Thread(target=self._copy_output, daemon=True)
        self._reader.start()

    def _copy_output(self) -> None:
        assert self.process.stdout is not None
        with open(self.log, "w") as out:
            for line in self.process.stdout:
                out.write(line)
                out.flush()
                with self._changed:
                    self._lines.append(line)
                    self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def wait_for_line(self, text: str, timeout: float) -> None:
        def seen() -> bool:
            return any(text in line for line in self._lines) or not self._reader.is_alive()

        with self._changed:
            self._changed.wait_for(seen, timeout)
            if not any(text in line for line in self._lines):
                tail = "".join(self._lines[-40:])
                pytest.fail(f"no {text!r} within {timeout} s from {self.process.args}:\n{tail}")

    def stop(self) -> None:
        kill_group(self.process.pid, self.process)
        self._reader.join(timeout=5)


@contextmanager
def logged_process(command: list[str], log: Path, **kwargs: Any) -> Iterator[LoggedProcess]:
    process = LoggedProcess(command, log, **kwargs)
    try:
        yield process
    finally:
        process.stop()


@contextmanager
def running_code_server(
    install: Path,
    vsix: Path,
    workspace: Path,
    settings: dict[str, Any],
    machine_settings: dict[str, Any],
    home: Path,
) -> Iterator[str]:
    """code-server with the extension installed, `settings` as user settings and
    `machine_settings` as the machine's; yields the URL that opens `workspace`."""
    node = str(install / "node" / "bin" / "node")
    entry = str(install / "node_modules" / "code-server" / "out" / "node" / "entry.js")
    user_data, extensions = home / "user-data", home / "extensions"
    # Machine-scoped settings (the server's path) come from the machine VS Code runs on: in
    # code-server, which is VS Code's remote setup, that is Machine/, not User/.
    for scope, values in (("User", settings), ("Machine", machine_settings)):
        (user_data / scope).mkdir(parents=True)
        (user_data / scope / "settings.json").write_text(json.dumps(values, indent=2))
    timed(
        "install the .vsix",
        [node, entry, "--extensions-dir", str(extensions), "--install-extension", str(vsix)],
    )
    port = free_port()
    command = [
        *(node, entry, "--auth", "none", "--bind-addr", f"127.0.0.1:{port}"),
        *("--disable-telemetry", "--disable-update-check", "--disable-workspace-trust"),
        *("--user-data-dir", str(user_data), "--extensions-dir", str(extensions)),
        str(workspace),
    ]
    log = home / "code-server.log"
    # No model server but the fake: an unset ollama.host must not find a real one either.
    env = {**os.environ, "OLLAMA_HOST": "http://127.0.0.1:9"}
    with logged_process(command, log, env=env) as server:
        server.wait_for_line("HTTP server listening on", timeout=60)
        yield f"http://127.0.0.1:{port}/?folder={workspace}"


# Settings that keep VS Code from doing anything of its own during the test.
QUIET_VSCODE = {
    "security.workspace.trust.enabled": False,
    "workbench.startupEditor": "none",
    "workbench.tips.enabled": False,
    "workbench.secondarySideBar.defaultVisibility": "hidden",
    "chat.disableAIFeatures": True,
    "telemetry.telemetryLevel": "off",
    "files.autoSave": "off",  # the web build saves after a delay by default
    "extensions.autoUpdate": "off",
    "extensions.autoCheckUpdates": False,
}


def drive(install: Path, script: str, url: str, home: Path) -> dict[str, Any]:
    """Runs a driver script of tests/e2e/vscode against the VS Code at `url`; returns what it
    saw ({"steps": {...}, "error": ...}). Its Chromium is killed if the script leaves it."""
    result_file, browser_pid = home / "result.json", home / "chromium.pid"
    env = {
        **os.environ,
        "NODE_PATH": str(install / "node_modules"),
        "CODE_URL": url,
        "SHOTS": str(home / "screenshots"),
        "RESULT": str(result_file),
        "BROWSER_PID_FILE": str(browser_pid),
    }
    command = [str(install / "node" / "bin" / "node"), str(DRIVERS / script)]
    started = time.monotonic()
    with logged_process(command, home / "driver.log", env=env) as run:
        try:
            run.process.wait(timeout=600)
        finally:
            if browser_pid.exists():
                kill_group(int(browser_pid.read_text()))
    print(f"driving VS Code ({script}): {time.monotonic() - started:.1f} s")
    if not result_file.exists():
        pytest.fail(f"{script} wrote no result:\n{(home / 'driver.log').read_text()[-3000:]}")
    result: dict[str, Any] = json.loads(result_file.read_text())
    return result


def keep_artifacts(home: Path, name: str) -> list[Path]:
    """Screenshots and logs (code-server's, the driver's, the extension's output channel)
    → ARTIFACTS/name."""
    kept_in = ARTIFACTS / name
    if kept_in.exists():
        shutil.rmtree(kept_in)
    kept_in.mkdir(parents=True)
    shots = sorted((home / "screenshots").glob("*.png"))
    logs = [
        home / "code-server.log",
        home / "driver.log",
        *(home / "user-data" / "logs").rglob("*lsp-assist*.log"),
    ]
    kept = [Path(shutil.copy(f, kept_in / f.name)) for f in [*shots, *logs] if f.is_file()]
    print("artefacts:", *kept, sep="\n  ")
    return kept


def run_scenario(
    script: str,
    install: Path,
    vsix: Path,
    tmp_path: Path,
    files: dict[str, str],
    settings: dict[str, Any],
    machine_settings: dict[str, Any],
) -> tuple[dict[str, Any], Path]:
    """A workspace of `files`, code-server on it with the extension, the driver `script`;
    returns what the script saw and the workspace."""
    workspace = tmp_path / "project"
    workspace.mkdir()
    for name, text in files.items():
        (workspace / name).write_text(text)
    home = tmp_path / "vscode"
    home.mkdir()
    try:
        with running_code_server(
            install, vsix, workspace, {**QUIET_VSCODE, **settings}, machine_settings, home
        ) as url:
            result = drive(install, script, url, home)
    finally:
        keep_artifacts(home, script.removesuffix(".js"))
    return result, workspace


# -- tests -----------------------------------------------------------------------------------


def test_extension_settings_mirror_the_server_settings() -> None:
    """Every server setting is an `lspAssist.*` setting with the server's default (and its
    choices), and the extension contributes no server setting the server does not know."""
    manifest = json.loads((EXTENSION / "package.json").read_text())
    contributed = {
        key.removeprefix("lspAssist."): spec
        for key, spec in manifest["contributes"]["configuration"]["properties"].items()
        if not key.startswith("lspAssist.server.")
    }

    def mirrored(cls: Any) -> dict[str, tuple[Any, list[str] | None]]:
        hints = get_type_hints(cls)
        fields: dict[str, tuple[Any, list[str] | None]] = {}
        for field in dataclasses.fields(cls):
            hint = hints[field.name]
            choices = list(get_args(hint)) if get_origin(hint) is Literal else None
            # JSON has no tuples: a tuple setting's default is an array in the manifest.
            default = list(field.default) if isinstance(field.default, tuple) else field.default
            fields[field.name] = (default, choices)
        return fields

    server: dict[str, tuple[Any, list[str] | None]] = {}
    for section in dataclasses.fields(Settings):
        if section.name == "endpoints":  # one object setting: named endpoints
            server["endpoints"] = ({}, None)
            continue
        cls = section.default_factory  # type: ignore[misc]
        for name, value in mirrored(cls).items():
            server[f"{section.name}.{name}"] = value
    extension = {key: (spec["default"], spec.get("enum")) for key, spec in contributed.items()}
    assert extension == server
    # Each endpoint's fields, their defaults and choices (the name is the object's key).
    endpoint = contributed["endpoints"]["additionalProperties"]["properties"]
    fields = mirrored(Endpoint)
    del fields["name"]
    assert {k: (v["default"], v.get("enum")) for k, v in endpoint.items()} == fields


# A setting named like this says where the code is sent or what program runs.
REACHES_OUT = re.compile(r"(host|url|uri|command|path|python|endpoints?)$", re.IGNORECASE)


def test_settings_that_send_code_or_run_a_program_are_restricted_in_untrusted_workspaces() -> None:
    """An untrusted repository's .vscode/settings.json must not point the model host, or the
    server command, anywhere: in Restricted Mode VS Code reads these from the user only."""
    manifest = json.loads((EXTENSION / "package.json").read_text())
    trust = manifest["capabilities"]["untrustedWorkspaces"]
    assert trust["supported"] == "limited"
    restricted = set(trust["restrictedConfigurations"])
    declared = manifest["contributes"]["configuration"]["properties"]
    reaching_out = {k for k in declared if any(map(REACHES_OUT.search, k.split(".")[1:]))}
    assert {"lspAssist.server.command", "lspAssist.ollama.host"} <= reaching_out
    assert reaching_out - restricted == set()
    # Declared or not yet: the model servers' endpoints.
    assert "lspAssist.endpoints" in restricted


@needs_code_server
@pytest.mark.timeout(1800)  # the first run installs code-server and Chromium
def test_vscode_shows_ghost_text_and_review_findings(
    code_server: Path, vsix: Path, fake_ollama: FakeOllama, tmp_path: Path
) -> None:
    fake_ollama.set_responder(answer_like_a_model)
    result, workspace = run_scenario(
        "ghost_text_and_review.js",
        code_server,
        vsix,
        tmp_path,
        files={"calc.py": '"""Arithmetic."""\n\n\n', "buggy.py": "def add(a, b):\n    return a\n"},
        settings={"lspAssist.ollama.host": fake_ollama.url},
        machine_settings={"lspAssist.server.command": SERVER_COMMAND},  # with -vv
    )
    steps, context = result["steps"], json.dumps(result, indent=2)[-4000:]
    assert steps.get("workbench"), context

    # Ghost text: the fake's completion, shown by VS Code at the cursor, accepted with Tab.
    assert steps.get("ghostText", "").strip() == "a + b", context
    assert "    return a + b" in steps["linesAfterTab"], context
    typed = '"""Arithmetic."""\n\n\ndef add(a, b):\n    return a + b'
    assert (workspace / "calc.py").read_text() == typed
    # Asked at the cursor after "return ", with the user's settings (model, host).
    (asked,) = [
        r.body
        for r in fake_ollama.generate_requests
        if r.body["prompt"].endswith("<|fim_middle|>    return ")
    ]
    assert asked["model"] == "qwen2.5-coder:1.5b-base"
    assert "def add(a, b):" in asked["prompt"]
    assert re.search(r"qwen2\.5-coder:1\.5b-base · \d+ ms", steps["statusBar"]), context

    # Review: saving the bug shows the model's finding in the Problems panel.
    assert (workspace / "buggy.py").read_text() == "def add(a, b):\n    return a - b\n"
    assert fake_ollama.chat_requests, f"no review request reached the fake Ollama\n{context}"
    assert result["error"] is None, context
    # One row: the message, source and code (shown as "lsp-assist(logic)"), the place.
    (problem,) = steps["problems"]
    assert problem.lower().startswith("subtracts instead of adding"), problem
    assert "lsp-assistlogic[Ln 2, Col 5]" in problem, problem
    assert steps["squiggle"], context

    # "lsp-assist: Toggle Completions" turns them off in the user's settings.
    assert "completions off" in steps["statusBarToggled"], context
    user_settings = json.loads((tmp_path / "vscode/user-data/User/settings.json").read_text())
    assert user_settings["lspAssist.completion.enabled"] is False


@needs_code_server
@pytest.mark.timeout(1800)
def test_vscode_says_how_to_fix_a_server_that_cannot_start(
    code_server: Path, vsix: Path, tmp_path: Path
) -> None:
    # A Python without lsp-assist, as far as the extension can tell.
    python = tmp_path / "bin" / "python"
    python.parent.mkdir()
    python.write_text('#!/bin/sh\necho "$0: No module named lsp_assist" >&2\nexit 1\n')
    python.chmod(0o755)
    result, _ = run_scenario(
        "start_failure.js",
        code_server,
        vsix,
        tmp_path,
        files={"main.py": "print('hello')\n"},
        settings={},
        machine_settings={"lspAssist.server.python": str(python)},
    )
    steps, context = result["steps"], json.dumps(result, indent=2)[-4000:]
    assert result["error"] is None, context
    message = steps["message"]
    assert f"the server did not start ({python} -m lsp_assist serve" in message, message
    assert "No module named lsp_assist" in message, message
    assert "pip install lsp-assist" in message, message
    assert "lspAssist.server.command" in message, message
    assert steps["buttons"] == ["Open Settings", "Show Log"], context
    assert steps["notifications"] == 1, context
    assert "stopped" in steps["statusBar"], context
    assert any("Command" in title for title in steps["settingsShown"]), context


def fim_middle(body: dict[str, Any]) -> str:
    """The cursor line up to the cursor, as the server's FIM prompt ends with it."""
    return str(body.get("prompt", "")).rsplit("<|fim_middle|>", 1)[-1]


PARTIAL_ANSWERS = {"total = ": "add(1, 2)\nprint(total)", "result = ": "add(3, 4)"}


def answer_partial_accept(body: dict[str, Any]) -> Reply:
    """Two lines after `total = `, one after `result = `, nothing anywhere else."""
    if body.get("format"):
        return Reply(text=json.dumps({"findings": []}))
    return Reply(text=PARTIAL_ANSWERS.get(fim_middle(body), ""))


def wait_for_stats(
    done: Callable[[list[StatsEvent]], bool], timeout: float = 10
) -> list[StatsEvent]:
    """What the server recorded of its suggestions, once `done` holds: the server inherits the
    test's $XDG_STATE_HOME through code-server, and writes from a thread of its own."""
    log = StatsLog(stats_dir(Path(os.environ["XDG_STATE_HOME"]) / "lsp-assist"))
    deadline = time.monotonic() + timeout
    while not done(events := list(log.read())) and time.monotonic() < deadline:
        time.sleep(0.05)
    return events


def lsp_assist_stats(*arguments: str) -> str:
    command = [sys.executable, "-m", "lsp_assist", "stats", *arguments]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=True).stdout


@needs_code_server
@pytest.mark.timeout(1800)
def test_vscode_accepts_a_suggestion_word_by_word_and_line_by_line(
    code_server: Path, vsix: Path, fake_ollama: FakeOllama, tmp_path: Path
) -> None:
    fake_ollama.set_responder(answer_partial_accept)
    result, workspace = run_scenario(
        "partial_accept.js",
        code_server,
        vsix,
        tmp_path,
        files={"calc.py": "def add(a, b):\n    return a + b\n\n\n"},
        settings={
            "lspAssist.ollama.host": fake_ollama.url,
            "lspAssist.completion.multiline": "always",
            # Only the generations the keystrokes ask for: nothing prepared ahead.
            "lspAssist.completion.prefetch": "never",
            "lspAssist.review.enabled": False,
        },
        machine_settings={"lspAssist.server.command": SERVER_COMMAND},  # with -vv
    )
    steps, context = result["steps"], json.dumps(result, indent=2)[-4000:]
    assert result["error"] is None, context

    # The word, then the line (with its line break), each leaving the rest shown; Tab the rest.
    assert "total = add" in steps["afterWord"]["buffer"], context
    assert steps["afterWord"]["ghost"] == "(1, 2)\nprint(total)", context
    assert steps["afterLine"]["ghost"] == "print(total)", context
    assert steps["secondGhost"].strip() == "add(3, 4)", context
    expected = "def add(a, b):\n    return a + b\n\n\ntotal = add(1, 2)\nprint(total)\nresult = "
    assert (workspace / "calc.py").read_text() == expected

    # One generation for the whole suggestion: the server answered what was left after each
    # partial accept by type-through (a prompt with part of it in the document and not all).
    prompts = [r.body["prompt"] for r in fake_ollama.generate_requests]
    assert [fim_middle(r.body) for r in fake_ollama.generate_requests].count("total = ") == 1
    assert [p for p in prompts if "total = add" in p and "print(total)" not in p] == []
    assert any(fim_middle(r.body) == "result = " for r in fake_ollama.generate_requests)

    # What the server recorded: the suggestion, shown, accepted word by word (VS Code's
    # acceptedLength: from the start of the item it shows), then the rest with Tab (the item's
    # command). After each partial accept VS Code asks again and shows the server's
    # type-through answer, an item of its own; which item a key press meets depends on whether
    # that answer is back yet, so the test checks what holds either way.
    events = wait_for_stats(lambda events: any(e.kind == "dismissed" for e in events))
    kinds = {e.id: [x.kind for x in events if x.id == e.id] for e in events if e.kind == "shown"}
    print(json.dumps(kinds, indent=2))
    suggestion = PARTIAL_ANSWERS["total = "]
    first, *rest, dismissed = kinds
    assert kinds[first][:2] == ["shown", "partial"], kinds
    (first_partial, *_) = [e for e in events if e.kind == "partial"]
    assert (first_partial.id, first_partial.chars) == (first, len("add")), events
    (accepted,) = [e for e in events if e.kind == "accepted"]
    shown = {e.id: e for e in events if e.kind == "shown"}
    assert accepted.chars == shown[accepted.id].chars, events  # the rest of what VS Code showed
    # Every character of the suggestion accepted once, by the part that accepted it.
    most = {e.id: e.chars for e in events if e.kind in ("partial", "accepted")}
    assert sum(most.values()) == len(suggestion), events
    assert shown[first].source == "model", shown
    assert all(shown[i].source == "type-through" for i in rest), shown
    assert kinds[dismissed] == ["shown", "dismissed"], kinds

    figures = json.loads(lsp_assist_stats("--json"))
    (group,) = figures["groups"]
    assert (group["language"], group["acceptedFull"], group["dismissed"]) == ("python", 1, 1)
    assert group["accepted"] == len(most) and group["shown"] == len(kinds), group
