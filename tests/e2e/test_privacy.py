"""Secrets never reach the model: an open buffer full of them goes into completion prompts as
context and a function holding one is reviewed, and what the fake Ollama receives carries the
code around them but none of their values.

The fake secrets are assembled from pieces so that no scanner mistakes this file for a leak.
"""

from __future__ import annotations

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

CODE_AROUND = [
    'AWS_REGION = "eu-west-1"',
    "AWS_SECRET_ACCESS_KEY = ",
    '"user": "app"',
    "-----BEGIN RSA PRIVATE KEY-----",
    "def github_headers():",
]

APP = "import settings\n\n\ndef region():\n    return \n"
CURSOR = APP.index("return ") + len("return ")

CLIENT = f'''def fetch(session, url):
    token = "{GITHUB_TOKEN}"
    return session.get(url, headers={{"Authorization": "token " + token}})
'''


def answer(body: dict[str, Any]) -> Reply:
    return Reply(text='{"findings": []}' if "messages" in body else "settings.AWS_REGION")


async def test_an_open_buffer_with_secrets_goes_into_the_prompt_without_them(
    fake_ollama: FakeOllama,
) -> None:
    fake_ollama.set_responder(answer)
    async with editor_session(fake_ollama.url) as editor:
        editor.open("settings.py", SETTINGS)
        uri = editor.open("app.py", APP)
        assert await editor.ghost_text(uri, CURSOR) == "settings.AWS_REGION"
    (request,) = fake_ollama.generate_requests
    prompt = request.body["prompt"]
    for code in CODE_AROUND:
        assert code in prompt  # the open buffer is context
    for secret in SECRET_VALUES:
        assert secret not in prompt
    assert "<redacted>" in prompt


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
    fake_ollama.reply_with("a + b")
    settings = {"context": {"exclude": ["fixtures/"]}}
    async with editor_session(fake_ollama.url, settings=settings) as editor:
        editor.open("fixtures/big_table.py", "TABLE = [1, 2, 3]\n")
        editor.open("helpers.py", "def helper():\n    return 1\n")
        uri = editor.open("add.py", "def add(a, b):\n    return ")
        assert await editor.ghost_text(uri, len("def add(a, b):\n    return ")) == "a + b"
    (request,) = fake_ollama.generate_requests
    assert "TABLE = [1, 2, 3]" not in request.body["prompt"]
    assert "def helper():" in request.body["prompt"]
