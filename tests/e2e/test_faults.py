"""Every backend fault: the server never crashes, answers every request, and tells the user
once, with the fix."""

from __future__ import annotations

import asyncio
import contextlib
import http.server
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from lsp_assist.completion.generation import ANSWER_TIME_CAP_S
from tests.e2e.editor import Editor, editor_session
from tests.fakes.fake_ollama import FakeModel, FakeOllama, Reply, unused_url
from tests.fakes.fake_openai import FakeOpenAI
from tests.fakes.openai_wire import NGINX_404

ADD = "def add(a, b):\n    return \n"
CURSOR = ADD.index("return ") + len("return ")


async def ask_twice(editor: Editor) -> list[object]:
    uri = editor.open("add.py", ADD)
    first = await editor.inline(uri, CURSOR)
    offset = editor.type(uri, CURSOR, "a")
    second = await editor.inline(uri, offset)
    await editor.round_trip()
    return [first, second]


async def test_ollama_down_is_reported_once_with_the_fix() -> None:
    async with editor_session(unused_url()) as editor:
        assert await ask_twice(editor) == [None, None]
        messages = await editor.wait_for_message(1)
    assert len(messages) == 1
    assert "not reachable" in messages[0] and "ollama serve" in messages[0]


async def test_missing_model_says_how_to_pull_it(fake_ollama: FakeOllama) -> None:
    async with editor_session(
        fake_ollama.url, settings={"completion": {"model": "qwen2.5-coder:3b-base"}}
    ) as editor:
        assert await ask_twice(editor) == [None, None]
        messages = await editor.wait_for_message(1)
    assert messages == [
        "lsp-assist: model 'qwen2.5-coder:3b-base' not found — run "
        "`ollama pull qwen2.5-coder:3b-base`"
    ]


async def test_model_without_fim_is_named_with_an_alternative(fake_ollama: FakeOllama) -> None:
    fake_ollama.add_model(
        FakeModel(name="llama3.2:1b", template="{{ .System }}{{ .Prompt }}", family="llama")
    )
    async with editor_session(
        fake_ollama.url, settings={"completion": {"model": "llama3.2:1b"}}
    ) as editor:
        assert await ask_twice(editor) == [None, None]
        messages = await editor.wait_for_message(1)
    assert len(messages) == 1
    assert "llama3.2:1b" in messages[0] and "fill in the middle" in messages[0]
    assert fake_ollama.generate_requests == []


async def test_insert_refused_by_ollama_is_reported_as_no_fim(fake_ollama: FakeOllama) -> None:
    # An unknown family whose template has .Suffix: we use Ollama's template (suffix field),
    # and the server then refuses insert.
    fake_ollama.add_model(
        FakeModel(name="mystery:1b", template="{{ .Prompt }}{{ .Suffix }}", family="x")
    )
    fake_ollama.set_responder(
        lambda body: Reply(
            status=400, error="registry.ollama.ai/library/mystery:1b does not support insert"
        )
    )
    async with editor_session(
        fake_ollama.url, settings={"completion": {"model": "mystery:1b"}}
    ) as editor:
        assert await ask_twice(editor) == [None, None]
        messages = await editor.wait_for_message(1)
    assert len(messages) == 1 and "mystery:1b" in messages[0]
    assert fake_ollama.generate_requests[0].body["suffix"] == "\n"


async def test_unknown_family_with_insert_uses_ollamas_template(fake_ollama: FakeOllama) -> None:
    fake_ollama.add_model(
        FakeModel(name="mystery:1b", template="{{ .Prompt }}{{ .Suffix }}", family="x")
    )
    fake_ollama.reply_with("a + b")
    async with editor_session(
        fake_ollama.url, settings={"completion": {"model": "mystery:1b"}}
    ) as editor:
        uri = editor.open("add.py", ADD)
        assert await editor.ghost_text(uri, CURSOR) == "a + b"
    body = fake_ollama.generate_requests[0].body
    assert body.get("raw") is not True
    assert body["prompt"] == "def add(a, b):\n    return "
    assert body["suffix"] == "\n"


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (
            Reply(
                status=503,
                error="server busy, please try again.  maximum pending requests exceeded",
            ),
            "busy",
        ),
        (Reply(status=500, error="model runner has unexpectedly stopped"), "failed"),
        (
            Reply(text="a + b", midstream_error="an error was encountered while running the model"),
            "failed",
        ),
        (Reply(text="a + b", drop_connection=True), "failed"),
    ],
    ids=["busy-503", "runner-500", "error-line-mid-stream", "connection-dropped"],
)
async def test_server_faults_give_one_message_and_no_suggestion(
    fake_ollama: FakeOllama, reply: Reply, expected: str
) -> None:
    fake_ollama.set_responder(lambda body: reply)
    async with editor_session(fake_ollama.url) as editor:
        assert await ask_twice(editor) == [None, None]
        messages = await editor.wait_for_message(1)
        assert len(messages) == 1 and expected in messages[0]
        # It recovers as soon as Ollama does.
        fake_ollama.reply_with("x")
        uri = editor.open("other.py", "y = ")
        assert await editor.ghost_text(uri, 4) == "x"


async def test_stream_without_final_chunk_keeps_what_arrived(fake_ollama: FakeOllama) -> None:
    fake_ollama.set_responder(lambda body: Reply(text="a + b", omit_final_chunk=True))
    async with editor_session(fake_ollama.url) as editor:
        uri = editor.open("add.py", ADD)
        assert await editor.ghost_text(uri, CURSOR) == "a + b"
        messages = await editor.wait_for_message(1)
    assert len(messages) == 1 and "ended early" in messages[0]


async def test_slow_first_token_times_out_with_advice(fake_ollama: FakeOllama) -> None:
    fake_ollama.set_responder(lambda body: Reply(text="a", ttft=5.0))
    async with editor_session(fake_ollama.url, settings={"ollama": {"timeoutS": 0.3}}) as editor:
        uri = editor.open("add.py", ADD)
        assert await editor.inline(uri, CURSOR) is None
        messages = await editor.wait_for_message(1)
    assert len(messages) == 1 and "did not answer in time" in messages[0]


async def test_bad_settings_are_reported_and_defaults_used(fake_ollama: FakeOllama) -> None:
    fake_ollama.reply_with("a + b")
    async with editor_session(
        fake_ollama.url, settings={"completion": {"maxTokens": "lots"}}
    ) as editor:
        uri = editor.open("add.py", ADD)
        assert await editor.ghost_text(uri, CURSOR) == "a + b"
        messages = await editor.wait_for_message(1)
    assert "completion.maxTokens" in messages[0]
    assert fake_ollama.generate_requests[0].body["options"]["num_predict"] == 128


async def test_workspace_configuration_is_read_and_re_read_on_change(
    fake_ollama: FakeOllama,
) -> None:
    from lsprotocol import types

    fake_ollama.add_model(
        FakeModel(
            name="codellama:7b-code",
            template="<PRE> {{ .Prompt }} <SUF>{{ .Suffix }} <MID>",
            family="llama",
        )
    )
    fake_ollama.reply_with("a + b")
    configuration = {"completion": {"model": "codellama:7b-code", "debounceMs": 0}}
    async with editor_session(fake_ollama.url, configuration=configuration) as editor:
        uri = editor.open("add.py", ADD)
        await editor.round_trip()
        assert await editor.ghost_text(uri, CURSOR) == "a + b"
        editor.client.set_configuration(
            {"completion": {"model": QWEN_MODEL, "debounceMs": 0}}, section="lspAssist"
        )
        editor.client.workspace_did_change_configuration(
            types.DidChangeConfigurationParams(settings=None)
        )
        await editor.round_trip()
        offset = editor.type(uri, CURSOR, "(")
        await editor.ghost_text(uri, offset)
    models = [r.body["model"] for r in fake_ollama.generate_requests]
    assert list(dict.fromkeys(models)) == ["codellama:7b-code", QWEN_MODEL]  # (and prefetches)


QWEN_MODEL = "qwen2.5-coder:1.5b-base"


async def test_shutdown_with_work_in_flight_is_clean(fake_ollama: FakeOllama) -> None:
    fake_ollama.set_responder(lambda body: Reply(text="a + b" * 50, token_delay=0.2))
    async with editor_session(fake_ollama.url) as editor:
        uri = editor.open("add.py", ADD)
        request = editor.inline_request(uri, CURSOR)
        await fake_ollama.wait_for_requests_async(1)
        await asyncio.wait_for(editor.client.shutdown_async(None), 10)
        assert await fake_ollama.wait_for_disconnects_async(1) == 1
        # The in-flight request was answered (no suggestion), not left hanging.
        assert await asyncio.wait_for(request, 10) is None
        editor.client.exit(None)
        server = editor.client._server
        assert server is not None
        assert await asyncio.wait_for(server.wait(), 10) == 0
        editor.client.capabilities = None  # already shut down: nothing left for the fixture


# -- a model that writes too slowly, or only whitespace ----------------------------------------


async def test_a_trickle_of_one_token_a_second_is_stopped_and_told_once(
    fake_ollama: FakeOllama,
) -> None:
    """The first token comes at once, then one a second: the line would take half a minute.
    The request is answered empty when the suggestion's time is up, Ollama is stopped, and the
    user learns once that the model is too slow."""
    fake_ollama.set_responder(lambda body: Reply(text="a + b + c + d + e + f" * 3, token_delay=1.0))
    async with editor_session(fake_ollama.url) as editor:
        uri = editor.open("add.py", ADD)
        started = time.monotonic()
        assert await editor.inline(uri, CURSOR) is None
        assert time.monotonic() - started < ANSWER_TIME_CAP_S + 1.5
        await fake_ollama.wait_for_disconnects_async(1)
        assert fake_ollama.generate_requests[0].disconnected  # Ollama stops generating
        offset = editor.type(uri, CURSOR, "x")
        assert await editor.inline(uri, offset) is None
        await editor.round_trip()
        messages = editor.messages
    assert len(messages) == 1 and "come too slowly for ghost text" in messages[0]
    assert "smaller model" in messages[0]


async def test_a_slow_multi_line_suggestion_keeps_the_lines_that_came_in_time(
    fake_ollama: FakeOllama,
) -> None:
    body = "".join(f"v{i} = {i}\n    " for i in range(20))  # a line every 0.8 s
    fake_ollama.set_responder(lambda _: Reply(text=body, token_delay=0.2))
    async with editor_session(
        fake_ollama.url, settings={"completion": {"multiline": "always"}}
    ) as editor:
        uri = editor.open("setup.py", "def setup():\n    \n")
        started = time.monotonic()
        text = await editor.ghost_text(uri, len("def setup():\n    "))
        assert time.monotonic() - started < ANSWER_TIME_CAP_S + 1.5
        await editor.round_trip()
        assert editor.messages == []
    assert text is not None and body.startswith(text + "\n")  # whole lines only
    assert 1 <= text.count("\n") + 1 < 20
    assert fake_ollama.generate_requests[0].disconnected  # Ollama stopped at the time cap


@pytest.mark.parametrize(
    ("pieces", "multiline"),
    [([" "] * 1000, "never"), (["\n"] * 1000, "always"), (["  ", "\n", "\t"] * 400, "always")],
    ids=["spaces", "newlines", "mixed"],
)
async def test_endless_whitespace_ends_answered_empty_and_is_not_asked_again(
    fake_ollama: FakeOllama, pieces: list[str], multiline: str
) -> None:
    """Spaces end at Ollama's token-repeat guard (31 alike), line breaks at the stop rules
    (single-line: the first; multi-line: two blank lines): no suggestion, no message (the model
    had nothing to say here), and asking at the same place again costs no new generation."""
    fake_ollama.set_responder(lambda body: Reply(pieces=pieces))
    async with editor_session(
        fake_ollama.url, settings={"completion": {"multiline": multiline}}
    ) as editor:
        uri = editor.open("add.py", ADD)
        assert await editor.inline(uri, CURSOR) is None
        assert await editor.inline(uri, CURSOR) is None
        await editor.round_trip()
        assert editor.messages == []
    assert len(fake_ollama.generate_requests) == 1
    assert len(fake_ollama.generate_requests[0].output) < 200


# -- a model that leaves and comes back --------------------------------------------------------


async def test_a_model_removed_mid_session_is_told_once_and_serves_again_once_pulled(
    fake_ollama: FakeOllama,
) -> None:
    fake_ollama.reply_with("a + b")
    async with editor_session(fake_ollama.url) as editor:
        uri = editor.open("add.py", ADD)
        assert await editor.ghost_text(uri, CURSOR) == "a + b"
        fake_ollama.remove_model(QWEN_MODEL)  # `ollama rm`
        offset = CURSOR
        for char in "xyz":  # not what was suggested: each keystroke asks the model
            offset = editor.type(uri, offset, char)
            assert await editor.inline(uri, offset) is None
        [message] = await editor.wait_for_message(1)
        assert message == (
            f"lsp-assist: model '{QWEN_MODEL}' not found — run `ollama pull {QWEN_MODEL}`"
        )
        fake_ollama.add_model(FakeModel(name=QWEN_MODEL))  # `ollama pull`
        other = editor.open("other.py", "y = ")
        assert await editor.ghost_text(other, 4) == "a + b"
        await editor.round_trip()
        assert editor.messages == [message]


async def test_a_model_reloaded_mid_session_answers_empty_while_it_loads_then_serves(
    fake_ollama: FakeOllama,
) -> None:
    """Unloaded (keep_alive ran out, `ollama stop`, a restart) and slow to load again: the
    request is answered within firstTokenMs, the status says why (no popup), and the
    generation that waited for the load serves the next request there."""
    fake_ollama.reply_with("a + b")
    # No prefetch after the first answer: its request would reload the model first.
    settings = {"completion": {"firstTokenMs": 300, "preload": False, "prefetch": "never"}}
    async with editor_session(fake_ollama.url, settings=settings) as editor:
        uri = editor.open("add.py", ADD)
        assert await editor.ghost_text(uri, CURSOR) == "a + b"
        fake_ollama.add_model(FakeModel(name=QWEN_MODEL, load_time=1.5))
        fake_ollama.unload_models()
        other = editor.open("other.py", "y = ")
        started = time.monotonic()
        assert await editor.inline(other, 4) is None
        assert time.monotonic() - started < 1.2
        await editor.round_trip()
        waiting = [s for s in editor.statuses if getattr(s, "state", "") == "waiting"]
        assert waiting and "no answer from the model in 0.3 s" in waiting[-1].message
        await fake_ollama.wait_for_answers_async(2)  # loaded, and the answer came
        assert await editor.ghost_text(other, 4) == "a + b"
        await editor.round_trip()
        ready = [s for s in editor.statuses if getattr(s, "state", "") == "ready"]
        assert ready[-1].source == "cache"  # the generation that waited for the load
        assert editor.messages == []
    assert [r.reloaded for r in fake_ollama.generate_requests] == [True, True]


# -- what stands in front of Ollama: proxies, redirects, web servers, TLS -----------------------


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        (
            Reply(status=429, headers={"Retry-After": "60"}, error="rate limited"),
            "is busy and asked to wait for 60 s — requests resume then",
        ),
        (
            Reply(status=503, headers={"Retry-After": "60"}, body=b"", content_type="text/plain"),
            "is busy and asked to wait for 60 s — requests resume then",
        ),
        (
            Reply(status=401, body=b"Unauthorized\n", content_type="text/plain"),
            "asks for an API key — set the endpoint's apiKeyEnv",
        ),
        (
            Reply(status=502, body=b"<html>502 Bad Gateway</html>", content_type="text/html"),
            "Ollama is not reachable at",
        ),
    ],
    ids=["429-retry-after", "503-retry-after", "401-proxy", "502-proxy"],
)
async def test_a_proxy_in_front_of_ollama_is_told_as_such(
    fake_ollama: FakeOllama, reply: Reply, expected: str
) -> None:
    fake_ollama.set_responder(lambda body: reply)
    async with editor_session(fake_ollama.url) as editor:
        uri = editor.open("add.py", ADD)
        offset = CURSOR
        for char in "xyz":
            await editor.inline(uri, offset)
            offset = editor.type(uri, offset, char)
        await editor.round_trip()
        messages = editor.messages
    assert len(messages) == 1 and expected in messages[0], messages
    if reply.status in (429, 503):  # asked once; nothing more before its Retry-After
        assert len(fake_ollama.generate_requests) == 1


async def test_a_retry_after_is_waited_out_then_completions_resume(fake_ollama: FakeOllama) -> None:
    replies = iter([Reply(status=429, headers={"Retry-After": "1"}, error="rate limited")])
    fake_ollama.set_responder(lambda body: next(replies, Reply(text="a + b")))
    async with editor_session(
        fake_ollama.url, settings={"completion": {"backend": "model"}}
    ) as editor:
        uri = editor.open("add.py", ADD)
        started = time.monotonic()
        text = await editor.ghost_text(uri, CURSOR)
        while text is None and time.monotonic() - started < 10:
            assert len(fake_ollama.generate_requests) == 1  # nothing sent meanwhile
            await asyncio.sleep(0.1)  # an editor's next keystroke, paced
            text = await editor.ghost_text(uri, CURSOR)
        resumed = time.monotonic() - started
        messages = editor.messages
    assert text == "a + b" and resumed >= 1.0
    assert len(messages) == 1 and "asked to wait for 1 s" in messages[0]


async def test_a_redirect_is_not_followed_and_is_told_once(fake_ollama: FakeOllama) -> None:
    with FakeOllama() as elsewhere:
        location = elsewhere.url + "/api/generate"
        fake_ollama.set_responder(
            lambda body: Reply(status=307, headers={"Location": location}, body=b"")
        )
        async with editor_session(fake_ollama.url) as editor:
            assert await ask_twice(editor) == [None, None]
            messages = editor.messages
        assert elsewhere.requests == []
    [message] = messages
    assert f"{fake_ollama.url} answered with a redirect to {location}" in message
    assert "does not follow redirects" in message


@contextlib.contextmanager
def web_server(status: int, content_type: str, body: bytes) -> Iterator[str]:
    """A web server that answers every request the same way (a page, a 404, a 400)."""

    class Page(http.server.BaseHTTPRequestHandler):
        def answer(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_HEAD = answer

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def vllm_server() -> Iterator[str]:
    with FakeOpenAI() as fake:
        yield fake.url


@pytest.mark.parametrize(
    "server",
    [
        lambda: web_server(200, "text/html; charset=utf-8", b"<!doctype html><p>My app</p>"),
        lambda: web_server(404, "text/html", NGINX_404),
        vllm_server,  # another API: its 404 is JSON, but not Ollama's
    ],
    ids=["web-page", "nginx-404", "vllm"],
)
async def test_a_server_that_is_not_ollama_is_named_as_such_not_as_a_missing_model(
    server: Callable[[], contextlib.AbstractContextManager[str]],
) -> None:
    with server() as url:
        async with editor_session(url, settings={"review": {"enabled": False}}) as editor:
            assert await ask_twice(editor) == [None, None]
            messages = editor.messages
    [message] = messages
    assert f"what answers at {url} is not Ollama" in message
    assert "check the endpoint's url" in message and "ollama pull" not in message


# -- TLS ----------------------------------------------------------------------------------------


@dataclass
class PrivateCa:
    ca: Path
    folder: Path

    def server_context(self, subject_alt_name: str) -> ssl.SSLContext:
        """A TLS server context with a certificate from this CA for `subject_alt_name`."""
        key, csr, cert, ext = (self.folder / f"{n}-{subject_alt_name}" for n in "kcse")
        ext.write_text(f"subjectAltName={subject_alt_name}\n")
        ca_key = self.folder / "ca.key"
        for command in (
            f"req -newkey rsa:2048 -nodes -keyout {key} -out {csr} -subj /CN=server",
            f"x509 -req -in {csr} -CA {self.ca} -CAkey {ca_key} -CAcreateserial -out {cert} "
            f"-days 2 -extfile {ext}",
        ):
            subprocess.run(["openssl", *command.split()], check=True, capture_output=True)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        return context


@pytest.fixture
def private_ca(tmp_path: Path) -> PrivateCa:
    ca_key, ca = tmp_path / "ca.key", tmp_path / "ca.pem"
    command = f"req -x509 -newkey rsa:2048 -nodes -keyout {ca_key} -out {ca} -days 2 -subj /CN=ca"
    subprocess.run(["openssl", *command.split()], check=True, capture_output=True)
    return PrivateCa(ca, tmp_path)


async def test_a_certificate_from_a_private_ca_is_told_with_the_ca_bundle_that_fixes_it(
    private_ca: PrivateCa,
) -> None:
    with FakeOllama(tls=private_ca.server_context("IP:127.0.0.1")) as fake:
        fake.reply_with("a + b")
        async with editor_session(fake.url) as editor:
            assert await ask_twice(editor) == [None, None]
            messages = editor.messages
        assert fake.generate_requests == []
        [message] = messages
        assert f"the TLS certificate of {fake.url} is not trusted" in message
        assert "lspAssist.endpoints.ollama.caBundle" in message
        # What the message says to do:
        fixed = {"endpoints": {"ollama": {"caBundle": str(private_ca.ca)}}}
        async with editor_session(fake.url, settings=fixed) as editor:
            uri = editor.open("add.py", ADD)
            assert await editor.ghost_text(uri, CURSOR) == "a + b"
            assert editor.messages == []


async def test_a_certificate_for_another_name_says_which_name_to_use(
    private_ca: PrivateCa,
) -> None:
    with FakeOllama(tls=private_ca.server_context("DNS:ollama.internal")) as fake:
        trusted = {"endpoints": {"ollama": {"caBundle": str(private_ca.ca)}}}
        async with editor_session(fake.url, settings=trusted) as editor:
            assert await ask_twice(editor) == [None, None]
            messages = editor.messages
        url = fake.url
    [message] = messages
    assert f"the TLS certificate of {url} is for another name" in message
    assert "mismatch" in message


@contextlib.contextmanager
def silent_server() -> Iterator[str]:
    """Accepts connections and never says a word (it waits for a request line that our TLS
    handshake never ends, as the fake Ollama's parser does)."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"


@pytest.mark.parametrize(
    ("server", "expected"),
    [
        (
            lambda: web_server(200, "application/json", b"{}"),  # answers the handshake: 400
            "does not speak TLS (https) — use an http:// URL",
        ),
        (silent_server, "did not answer the TLS handshake — if the server speaks plain HTTP"),
    ],
    ids=["answers-400", "silent"],
)
async def test_https_to_a_plain_http_server_says_to_use_http(
    server: Callable[[], contextlib.AbstractContextManager[str]], expected: str
) -> None:
    with server() as plain:
        url = plain.replace("http://", "https://")
        async with editor_session(url, settings={"review": {"enabled": False}}) as editor:
            assert await ask_twice(editor) == [None, None]
            messages = editor.messages
    [message] = messages
    assert f"{url} {expected}" in message


async def test_http_to_a_tls_port_says_to_use_https() -> None:
    body = b"Client sent an HTTP request to an HTTPS server.\n"  # Go's (Caddy's) answer
    with web_server(400, "text/plain; charset=utf-8", body) as url:
        async with editor_session(url) as editor:
            assert await ask_twice(editor) == [None, None]
            messages = editor.messages
    [message] = messages
    assert f"{url} speaks only TLS — use its https:// URL" in message
