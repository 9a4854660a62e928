"""Secrets never reach the model: an open buffer full of them goes into completion prompts as
context and a function holding one is reviewed, and what the fake Ollama receives carries the
code around them but none of their values.

The fake secrets are assembled from pieces so that no scanner mistakes this file for a leak.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.e2e.editor import editor_session
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
