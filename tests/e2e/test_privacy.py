"""Secrets and local data.

- Secrets never reach the model: an open buffer full of them goes into completion prompts as
  context and a function holding one is reviewed, and what the fake Ollama receives carries
  the code around them but none of their values.
- The log holds no code at the default level: not the user's code, the prompts, the
  suggestions, the findings' quotes or the model's answers (they are there at debug).
- What the server keeps on disk (review cache, dismissals, workspace index) is the user's
  only: a 0700 state directory of 0600 files, whatever the umask.
- An API key is never logged, and never follows a redirect to another host.

The fake secrets are assembled from pieces so that no scanner mistakes this file for a leak.
"""

from __future__ import annotations

import asyncio
import json
import os
import stat
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types

from tests.e2e import editor as editor_module
from tests.e2e.editor import Editor, editor_session
from tests.fakes.fake_ollama import FakeOllama, Reply

AWS_SECRET = "wJalrXUtnFEMI/K7MDENG" + "/bPxRfiCYEXAMPLEKEY"
PASSWORD = "hunter2hunter2"
KEY_BODY = "MIIEpAIBAAKCAQEA3Tz2mr7SZiAMfQyuvBjMxv8Yk2YnR0bbyZqg7ZbWGlc5"
GITHUB_TOKEN = "ghp_" + "a1B2c3D4" * 4 + "e5F6"
SECRET_VALUES = [AWS_SECRET, PASSWORD, KEY_BODY, GITHUB_TOKEN]

SETTINGS = f'''"""Deployment settings."""

AWS_REGION = "eu-west-1"
AWS_SECRET_ACCESS_KEY = "{AWS_SECRET}"
DATABASE = {{"user": "app", "password": "{PASSWORD}"}}
SIGNING_KEY = """-----BEGIN RSA PRIVATE KEY-----
{KEY_BODY}
-----END RSA PRIVATE KEY-----"""


def github_headers():
    return {{"Authorization": "token {GITHUB_TOKEN}"}}
'''


APP = f"""import settings

ADMIN_PASSWORD = "{PASSWORD}"


def headers():
    return settings.github_headers("""
CURSOR = len(APP)

CLIENT = f'''def fetch(session, url):
    token = "{GITHUB_TOKEN}"
    return session.get(url, headers={{"Authorization": "token " + token}})
'''


def last_prompt(fake: FakeOllama) -> Callable[[], str]:
    return lambda: str(fake.generate_requests[-1].body["prompt"])


def answer(body: dict[str, Any]) -> Reply:
    return Reply(text='{"findings": []}' if "messages" in body else ")")


async def test_the_called_definition_is_context_and_no_secret_reaches_the_prompt(
    fake_ollama: FakeOllama,
) -> None:
    fake_ollama.set_responder(answer)
    async with editor_session(fake_ollama.url) as editor:
        editor.open("settings.py", SETTINGS)
        prompt = await editor.prompt_showing(
            "file:///workspace/app.py",
            APP,
            CURSOR,
            "def github_headers():",
            last_prompt(fake_ollama),
        )
    # What it calls, from settings.py, as context before the current file.
    assert prompt.index("<|file_sep|>settings.py\n") < prompt.index("def github_headers():")
    assert prompt.index("def github_headers():") < prompt.index("<|file_sep|>app.py\n")
    assert 'ADMIN_PASSWORD = "<redacted>"' in prompt  # the current file's own window
    for secret in SECRET_VALUES:
        assert secret not in prompt


async def test_a_reviewed_function_reaches_the_model_without_its_secret(
    fake_ollama: FakeOllama,
) -> None:
    fake_ollama.set_responder(answer)
    async with editor_session(fake_ollama.url) as editor:
        uri = editor.open("client.py", CLIENT)
        await editor.execute("lspAssist.reviewFile", uri)
    reviews = [r for r in fake_ollama.chat_requests if r.body.get("format")]
    assert reviews
    sent = "\n".join(m["content"] for r in reviews for m in r.body["messages"])
    assert "def fetch(session, url):" in sent
    assert "session.get(url" in sent
    assert GITHUB_TOKEN not in sent
    assert 'token = "<redacted>"' in sent


async def test_a_secret_file_open_in_the_editor_is_never_completed_nor_used_as_context(
    fake_ollama: FakeOllama,
) -> None:
    fake_ollama.reply_with("a + b")
    dotenv = f"AWS_SECRET_ACCESS_KEY={AWS_SECRET}\nDB_PASSWORD="
    async with editor_session(fake_ollama.url) as editor:
        env_uri = editor.open(".env", dotenv, language_id="python")
        assert await editor.ghost_text(env_uri, len(dotenv)) is None
        listed = await editor.completion(env_uri, len(dotenv))
        assert listed is not None and not listed.items
        uri = editor.open("add.py", "def add(a, b):\n    return ")
        assert await editor.ghost_text(uri, len("def add(a, b):\n    return ")) == "a + b"
    (request,) = fake_ollama.generate_requests
    assert "AWS_SECRET_ACCESS_KEY" not in request.body["prompt"]
    assert ".env" not in request.body["prompt"]


async def test_context_exclude_keeps_a_file_out_of_prompts(fake_ollama: FakeOllama) -> None:
    fake_ollama.reply_with("1)")
    settings = {"context": {"exclude": ["fixtures/"]}}
    calls = "from fixtures.table import lookup\nfrom helpers import helper\n\nhelper(lookup("
    async with editor_session(fake_ollama.url, settings=settings) as editor:
        editor.open("fixtures/table.py", "def lookup(key: str) -> int:\n    return 1\n")
        editor.open("helpers.py", "def helper(value: int) -> int:\n    return value\n")
        prompt = await editor.prompt_showing(
            "file:///workspace/main.py", calls, len(calls), "def helper(", last_prompt(fake_ollama)
        )
    assert "def helper(value: int) -> int:" in prompt
    assert "def lookup" not in prompt and "fixtures/table.py" not in prompt


async def test_a_workspace_seeded_with_secrets_leaks_none_while_the_definition_is_there(
    fake_ollama: FakeOllama, tmp_path: Path
) -> None:
    """Secrets in a module the user calls into (on disk, and open), in `.env`, in a key file:
    none reaches any prompt, and the called function's definition does."""
    fake_ollama.set_responder(answer)
    (tmp_path / "settings.py").write_text(SETTINGS)
    (tmp_path / ".env").write_text(f"GITHUB_TOKEN={GITHUB_TOKEN}\nDB_PASSWORD={PASSWORD}\n")
    (tmp_path / "deploy.pem").write_text(
        f"-----BEGIN RSA PRIVATE KEY-----\n{KEY_BODY}\n-----END RSA PRIVATE KEY-----\n"
    )
    app = tmp_path / "app.py"
    async with editor_session(fake_ollama.url, root_uri=tmp_path.as_uri()) as editor:
        editor.open_uri((tmp_path / "settings.py").as_uri(), SETTINGS)
        editor.open_uri((tmp_path / ".env").as_uri(), (tmp_path / ".env").read_text())
        prompt = await editor.prompt_showing(
            app.as_uri(), APP, CURSOR, "def github_headers():", last_prompt(fake_ollama)
        )
        await editor.execute("lspAssist.reviewFile", app.as_uri())
    assert "def github_headers():" in prompt
    sent = [r.body.get("prompt", "") for r in fake_ollama.generate_requests] + [
        m["content"] for r in fake_ollama.chat_requests for m in r.body["messages"]
    ]
    for text in sent:
        for secret in SECRET_VALUES:
            assert secret not in text


# -- the log --------------------------------------------------------------------------------------

# One word for each kind of text that must stay out of the log at the default level.
IN_THE_CODE = "quokka_7781"  # so also in the prompts, the findings' quotes and the quick fix
IN_A_SUGGESTION = "marmot_2290"
IN_A_FINDING = "narwhal_5120"  # the model's message and trigger
IN_AN_EXPLANATION = "heron_4417"
LEARNT_OFFLINE = "kestrel_8812"  # code the offline engine learns, and then suggests

LEDGER = f"""def settle(account, amount):
    {IN_THE_CODE} = account.balance
    if amount < {IN_THE_CODE}:
        raise ValueError("insufficient funds")
    account.balance = {IN_THE_CODE} - amount


def total(a, b):
    return
"""
AFTER_RETURN = LEDGER.index("    return\n") + len("    return")

FINDING = {
    "line": 3,
    "evidence": f"if amount < {IN_THE_CODE}:",
    "trigger": f"settle({IN_A_FINDING}, 5) with a balance of 10 raises",
    "is_problem": True,
    "category": "logic",
    "confidence": "high",
    "message": f"The comparison is inverted ({IN_A_FINDING})",
    "fix_old": f"amount < {IN_THE_CODE}",
    "fix_new": f"amount > {IN_THE_CODE}",
}

ORDERS = "".join(
    f"class Order{i}:\n"
    f"    def __init__(self, items):\n"
    f"        self.items = {LEARNT_OFFLINE}(items)\n\n\n"
    for i in range(6)
)
BASKET = "class Basket:\n    def __init__(self, items):\n        self.items = kest"


# Answers the server drops, each logged on its way out: a quote that is not in the function,
# a finding too unsure to show, a finding without its fields; for `total`, no JSON at all
# (the last two from a model that ignores the format, as some do).
DROPPED = [
    FINDING | {"evidence": f"if amount <= {IN_A_FINDING}:"},
    FINDING | {"confidence": "low", "message": f"Might be wrong ({IN_A_FINDING})"},
    {"line": 2, "message": f"Half a finding ({IN_A_FINDING})"},
]
NOT_JSON = f"The function looks fine to me ({IN_A_FINDING})."


def model_answers(body: dict[str, Any]) -> Reply:
    """A suggestion for completions, the finding (and dropped ones) in `settle` for reviews,
    an explanation for Explain."""
    if "messages" not in body:
        return Reply(text=f" {IN_A_SUGGESTION}(a, b)")
    if not body.get("format"):
        return Reply(text=f"{IN_AN_EXPLANATION}: it refuses the withdrawals that are covered.")
    if "def settle(" in body["messages"][-1]["content"]:
        return Reply(text=json.dumps({"findings": [FINDING, *DROPPED]}), ignores_format=True)
    return Reply(text=NOT_JSON, ignores_format=True)


def log_to(monkeypatch: pytest.MonkeyPatch, log: Path, *flags: str) -> None:
    """The servers the editor starts log to `log`, at the level `flags` ask for (none: the
    level users get)."""
    command = [sys.executable, "-m", "lsp_assist", "serve", "--log-file", str(log), *flags]
    monkeypatch.setattr(editor_module, "SERVER_COMMAND", command)


async def a_code_action(editor: Editor, uri: str, diagnostic: types.Diagnostic, title: str) -> Any:
    actions = await editor.code_actions(uri, diagnostic)
    action = next(a for a in actions if title in a.title)
    assert isinstance(action, types.CodeAction) and action.command is not None
    return await editor.execute(action.command.command, *action.command.arguments or [])


async def reviewed_by_the_model(editor: Editor, uri: str) -> None:
    """Waits for the end of a review run of `uri` that asked the model."""

    def done() -> bool:
        return any(
            getattr(s, "state", None) == "reviewed" and s.uri == uri and s.calls
            for s in editor.statuses
        )

    async def wait() -> None:
        while not done():
            await editor.client.wait_for_notification("lspAssist/status")

    await asyncio.wait_for(wait(), 20)


async def everything_that_shows_code(fake_ollama: FakeOllama) -> list[str]:
    """A session with each feature that handles code: ghost text, a review on save with its
    finding, Explain, the quick fix; then the offline engine's ghost text. What was shown."""
    fake_ollama.set_responder(model_answers)
    async with editor_session(fake_ollama.url) as editor:
        uri = editor.open("ledger.py", LEDGER)
        suggestion = await editor.ghost_text(uri, AFTER_RETURN)
        editor.save(uri)
        await reviewed_by_the_model(editor, uri)
        (diagnostic,) = editor.diagnostics(uri)
        explanation = await a_code_action(editor, uri, diagnostic, "Explain")
        actions = await editor.code_actions(uri, diagnostic)
        fix = next(a for a in actions if isinstance(a, types.CodeAction) and a.edit)
        editor.apply(uri, fix.edit)  # type: ignore[arg-type]
        await editor.wait_for_diagnostics(uri, lambda d: d == [])
    async with editor_session(
        fake_ollama.url, settings={"completion": {"backend": "offline"}}
    ) as editor:
        editor.open("orders.py", ORDERS)
        uri = editor.open("basket.py", BASKET)
        offline = await editor.ghost_text(uri, len(BASKET))
    assert suggestion == f" {IN_A_SUGGESTION}(a, b)"
    assert diagnostic.message.startswith("The comparison is inverted")
    assert isinstance(explanation, str) and explanation.startswith(IN_AN_EXPLANATION)
    assert offline is not None and offline.startswith("rel_8812")
    return [suggestion, diagnostic.message, explanation, offline]


MARKERS = [IN_THE_CODE, IN_A_SUGGESTION, IN_A_FINDING, IN_AN_EXPLANATION, LEARNT_OFFLINE]


async def test_the_log_at_the_default_level_holds_no_code_prompt_suggestion_or_answer(
    fake_ollama: FakeOllama, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = tmp_path / "server.log"
    log_to(monkeypatch, log)
    shown = await everything_that_shows_code(fake_ollama)
    text = log.read_text()
    # The log did follow the session, the answers it dropped included.
    assert "review of total dropped: no valid answer after a retry" in text
    shown_lines = [line for answer in shown for line in answer.splitlines()]
    assert [m for m in [*MARKERS, *shown_lines] if m in text] == []


async def test_at_debug_the_log_holds_them(
    fake_ollama: FakeOllama, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same session: what keeps them out of the default log is its level. (The offline
    engine's source is never logged, only its suggestion.)"""
    log = tmp_path / "server.log"
    log_to(monkeypatch, log, "-vv")
    *_, offline = await everything_that_shows_code(fake_ollama)
    text = log.read_text()
    seen = [IN_THE_CODE, IN_A_SUGGESTION, IN_A_FINDING, IN_AN_EXPLANATION, offline]
    assert [m for m in seen if m not in text] == []


# -- what the server keeps on disk ----------------------------------------------------------------


@contextmanager
def umask(mask: int) -> Iterator[None]:
    previous = os.umask(mask)
    try:
        yield
    finally:
        os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def private_modes(state: Path) -> dict[str, int]:
    """What in `state` (itself included, as ".") is not 0700 for a folder or 0600 for a file."""
    return {
        str(p.relative_to(state)): mode(p)
        for p in [state, *state.rglob("*")]
        if mode(p) != (0o700 if p.is_dir() else 0o600)
    }


@pytest.mark.parametrize("found", ["no state directory", "one an older version left open"])
async def test_what_the_server_keeps_on_disk_is_readable_by_the_user_only(
    fake_ollama: FakeOllama, tmp_path: Path, found: str
) -> None:
    """Under the usual umask (plain writes give 0644 files in 0755 folders), a session that
    reviews, dismisses and indexes leaves a 0700 state folder of 0600 files."""
    state = tmp_path / "state" / "lsp-assist"
    if found != "no state directory":
        (state / "index").mkdir(parents=True)
        for folder in (state, state / "index"):
            folder.chmod(0o755)
        (state / "index" / "0123456789abcdef.json").write_text("{}")  # another workspace's
        (state / "index" / "0123456789abcdef.json").chmod(0o644)
    project = tmp_path / "project"
    project.mkdir()
    (project / "ledger.py").write_text(LEDGER)
    fake_ollama.set_responder(model_answers)
    env = {**os.environ, "XDG_STATE_HOME": str(state.parent)}
    with umask(0o022):
        async with editor_session(fake_ollama.url, env=env, root_uri=project.as_uri()) as editor:
            uri = editor.open_uri((project / "ledger.py").as_uri(), LEDGER)
            editor.save(uri)
            await reviewed_by_the_model(editor, uri)
            (diagnostic,) = editor.diagnostics(uri)
            assert await a_code_action(editor, uri, diagnostic, "Dismiss")
            await editor.wait_for_diagnostics(uri, lambda d: d == [])
    assert IN_THE_CODE in (state / "review-cache.json").read_text()  # what is at stake
    assert (state / "dismissed.json").exists()
    assert list((state / "index").glob("*.json"))
    assert private_modes(state) == {}


async def indexed(editor: Editor) -> None:
    """Waits for the end of the workspace's indexing ($/progress "Indexing")."""

    def done() -> bool:
        return any(
            isinstance(reports[0], types.WorkDoneProgressBegin)
            and reports[0].title == "Indexing"
            and isinstance(reports[-1], types.WorkDoneProgressEnd)
            for reports in editor.client.progress_reports.values()
            if reports
        )

    async def wait() -> None:
        while not done():
            await editor.client.wait_for_notification(types.PROGRESS)

    await asyncio.wait_for(wait(), 20)


async def test_the_workspace_index_alone_is_kept_private(
    fake_ollama: FakeOllama, tmp_path: Path
) -> None:
    """With review off, the index is the first and only thing written: it makes the state
    folder private itself."""
    state = tmp_path / "state" / "lsp-assist"
    project = tmp_path / "project"
    project.mkdir()
    (project / "ledger.py").write_text(LEDGER)
    env = {**os.environ, "XDG_STATE_HOME": str(state.parent)}
    with umask(0o022):
        async with editor_session(
            fake_ollama.url,
            env=env,
            root_uri=project.as_uri(),
            settings={"review": {"enabled": False}},
        ) as editor:
            await indexed(editor)
    assert [p.name for p in state.iterdir()] == ["index"]
    assert "def settle(account, amount):" in next((state / "index").glob("*.json")).read_text()
    assert private_modes(state) == {}


# -- API keys -------------------------------------------------------------------------------------

API_KEY = "sk-" + "lspassist" + "0f9e8d7c6b5a4f3e2d1c"


async def test_the_api_key_goes_to_the_configured_host_and_never_to_the_log(
    fake_ollama: FakeOllama, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At debug, the most the log ever says, through completion, review and Explain."""
    log = tmp_path / "server.log"
    log_to(monkeypatch, log, "-vv")
    fake_ollama.set_responder(model_answers)
    env = {**os.environ, "OLLAMA_API_KEY": API_KEY}
    async with editor_session(fake_ollama.url, env=env) as editor:
        uri = editor.open("ledger.py", LEDGER)
        assert await editor.ghost_text(uri, AFTER_RETURN)
        editor.save(uri)
        await reviewed_by_the_model(editor, uri)
        (diagnostic,) = editor.diagnostics(uri)
        assert await a_code_action(editor, uri, diagnostic, "Explain")
    sent = {
        r.headers.get("authorization") for r in fake_ollama.requests if r.path != "/api/version"
    }
    assert sent == {f"Bearer {API_KEY}"}
    assert API_KEY not in log.read_text()


class Redirector(ThreadingHTTPServer):
    """A model server that answers every request with a redirect to `target` (307 keeps the
    method and the body: what a client that follows it sends on, key included)."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.requests: list[tuple[str, str, str | None]] = []  # method, path, authorization
        super().__init__(("127.0.0.1", 0), _Redirect)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Redirect(BaseHTTPRequestHandler):
    server: Redirector

    def _redirect(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.requests.append((self.command, self.path, self.headers.get("Authorization")))
        self.send_response(307)
        self.send_header("Location", self.server.target + self.path)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_POST = do_HEAD = do_DELETE = _redirect

    def log_message(self, *args: Any) -> None:
        pass


@contextmanager
def redirecting_to(target: str) -> Iterator[Redirector]:
    server = Redirector(target)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


async def a_session_redirected(fake_ollama: FakeOllama) -> tuple[Redirector, list[str]]:
    """Completion and review with `ollama.host` answering a redirect to the fake Ollama: the
    redirector's log, and the messages the user got."""
    fake_ollama.set_responder(model_answers)
    env = {**os.environ, "OLLAMA_API_KEY": API_KEY}
    with redirecting_to(fake_ollama.url) as redirector:
        async with editor_session(redirector.url, env=env) as editor:
            uri = editor.open("ledger.py", LEDGER)
            await editor.ghost_text(uri, AFTER_RETURN)
            await editor.execute("lspAssist.reviewFile", uri)
            await editor.round_trip()
    return redirector, editor.messages


async def test_a_redirect_is_not_followed_so_neither_code_nor_key_reaches_another_host(
    fake_ollama: FakeOllama,
) -> None:
    redirector, _ = await a_session_redirected(fake_ollama)
    # The review's code was on its way, with the key, to the host the user configured,
    assert ("POST", "/api/chat", f"Bearer {API_KEY}") in redirector.requests
    assert fake_ollama.requests == []  # and went no further.


async def test_a_redirect_is_told_once_with_what_to_set_instead(fake_ollama: FakeOllama) -> None:
    redirector, messages = await a_session_redirected(fake_ollama)
    (message,) = messages
    assert f"{redirector.url} answered with a redirect to {fake_ollama.url}" in message
    assert "does not follow redirects" in message
