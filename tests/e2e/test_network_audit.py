"""Network audit (issue 12, item 4): lsp-assist connects to the model servers the settings name,
and to nothing else — no telemetry, no update check, no download unless the user pulls a model.

The server runs under `audit_hook.py`, which writes down every connect, name lookup, datagram,
URL and program start of its process, through a whole session: a workspace indexed and learnt,
ghost text, a review on save, the doctor and a pull (which Ollama does: lsp-assist only asks
it). The embedded engine's server is C++, out of the hook's sight: its session runs under
`strace -ff` too, which sees the connect() of every thread of every process of the tree.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import tests.e2e.editor as editor_module
from tests.e2e.audit_hook import read_events
from tests.e2e.editor import Editor, editor_session
from tests.engines.fixtures import llamacpp_fixture, tiny_model_fixture  # noqa: F401
from tests.engines.llamacpp_server import LlamaServer
from tests.fakes.fake_ollama import FakeOllama, Reply, unused_url
from tests.fakes.fake_openai import FakeOpenAI

AUDITED = [sys.executable, "-m", "tests.e2e.audit_hook"]
LOOKUPS = ("socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyaddr")

SHOP = """def total(prices):
    return sum(prices)


def mean(prices):
    return total(prices) / len(prices)
"""
BASKET = "from shop import total\n\n\ndef checkout(basket):\n    return \n"
AFTER_RETURN = BASKET.index("return ") + len("return ")
# The tiny random model's text means nothing: a comment is where any one line is valid code.
NOTE = "def area(w, h):\n    # TODO: \n    return w * h\n"
IN_COMMENT = NOTE.index("# TODO: ") + len("# TODO: ")
QUICK = {"debounceMs": 0, "temperature": 0, "preload": False, "multiline": "never", "maxTokens": 16}


# -- what the audit saw -------------------------------------------------------------------------


@dataclass
class Audit:
    events: list[dict[str, Any]]

    def of(self, *names: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["event"] in names]

    @property
    def connects(self) -> set[tuple[str, int]]:
        """(host, port) of every TCP connect (IPv4 or IPv6)."""
        return {
            (str(e["address"][0]), int(e["address"][1]))
            for e in self.of("socket.connect")
            if e["family"] in ("AF_INET", "AF_INET6")
        }

    @property
    def lookups(self) -> set[str]:
        """Every name looked up (DNS, hosts file, reverse lookups)."""
        hosts = {str(e["host"]) for e in self.of(*LOOKUPS)}
        return hosts | {str(e["address"][0]) for e in self.of("socket.getnameinfo")}

    @property
    def programs(self) -> list[str]:
        """The programs started (their argv, joined)."""
        return [" ".join(map(str, e["argv"])) for e in self.of("subprocess.Popen")]

    def assert_only(
        self,
        hosts: set[tuple[str, int]],
        *,
        names: set[str] | None = None,
        programs: tuple[str, ...] = (),
    ) -> None:
        """Connects to `hosts` (every one of them: the audit saw the session) and nothing
        else; no name looked up but `names` (by default the hosts'); no datagram, URL or
        other socket; only `programs` started."""
        assert self.connects == hosts, self.connects
        assert self.lookups <= (names or {host for host, _ in hosts}), self.lookups
        accounted = ("socket.connect", *LOOKUPS, "socket.getnameinfo", "subprocess.Popen")
        others = [
            e
            for e in self.events
            if e["event"] not in accounted or e.get("family") not in (None, "AF_INET", "AF_INET6")
        ]
        assert others == [], others  # datagrams, URLs, local sockets, a bind: none
        unexpected = [p for p in self.programs if not p.startswith(programs)]
        assert unexpected == [], unexpected


def address(url: str) -> tuple[str, int]:
    found = re.match(r"https?://([^/:]+):(\d+)", url)
    assert found, url
    return found.group(1), int(found.group(2))


@pytest.fixture
def audited(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """Servers the editor starts run under the audit hook; the path of its events."""
    events = tmp_path / "audit.jsonl"
    monkeypatch.setattr(editor_module, "SERVER_COMMAND", [*AUDITED, str(events), "serve", "-vv"])
    yield events


async def wait_for_state(editor: Editor, state: str, timeout: float = 30) -> Any:
    """The first status of `state` (the server says it when the work is done)."""

    async def wait() -> Any:
        while True:
            for status in editor.statuses:
                if getattr(status, "state", None) == state:
                    return status
            await editor.client.wait_for_notification("lspAssist/status")

    return await asyncio.wait_for(wait(), timeout)


def workspace(root: Path) -> Path:
    """A small project in git (the review's base is its HEAD, read with `git show`)."""
    root.mkdir()
    (root / "shop.py").write_text(SHOP)
    (root / "basket.py").write_text(BASKET)
    (root / "README.md").write_text("# shop\n")
    if shutil.which("git"):
        git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-C", str(root)]
        for command in (["init", "-q"], ["add", "."], ["commit", "-qm", "shop"]):
            subprocess.run([*git, *command], check=True, capture_output=True)
    return root


def answers(body: dict[str, Any]) -> Reply:
    """Ghost text for completions, no findings for reviews."""
    if "messages" in body:
        return Reply(text=json.dumps({"findings": []}))
    return Reply(text="total(basket)")


# -- sessions -----------------------------------------------------------------------------------


async def test_an_ollama_session_connects_to_the_ollama_host_only(
    audited: Path, tmp_path: Path, fake_ollama: FakeOllama
) -> None:
    fake_ollama.set_responder(answers)
    root = workspace(tmp_path / "shop")
    async with editor_session(fake_ollama.url, root_uri=root.as_uri()) as editor:
        await wait_for_state(editor, "learnt")  # the workspace indexed and learnt
        uri = editor.open_uri((root / "basket.py").as_uri(), BASKET)
        assert await editor.ghost_text(uri, AFTER_RETURN) == "total(basket)"
        editor.type(uri, AFTER_RETURN, "0")
        editor.save(uri)  # review.onSave
        await wait_for_state(editor, "reviewed")
        shop = editor.open_uri((root / "shop.py").as_uri(), SHOP)
        assert (await editor.execute("lspAssist.reviewFile", shop))["calls"] >= 1
        assert (await editor.execute("lspAssist.doctor"))["ok"] is True
        # A pull the user asks for: Ollama downloads the model, lsp-assist only asks it to.
        pulled = await editor.execute("lspAssist.pullModels", "starcoder2:3b")
        assert [result["ok"] for result in pulled] == [True]
    assert fake_ollama.chat_requests and any(r.path == "/api/pull" for r in fake_ollama.requests)
    audit = Audit(read_events(audited))
    audit.assert_only({address(fake_ollama.url)}, programs=("git show",))


async def test_a_session_of_endpoints_connects_to_those_endpoints_only(
    audited: Path, tmp_path: Path, llamacpp: LlamaServer
) -> None:
    """Completions from vLLM, reviews from llama.cpp, the doctor on both: `ollama.host` is
    not one of the endpoints, so nothing goes there either."""
    unused_ollama = unused_url()
    with FakeOpenAI(ttft=0.001, token_delay=0.0) as gpu:
        gpu.reply_with("total(basket)")
        settings = {
            "endpoints": {
                "gpu": {"kind": "openai", "url": gpu.url + "/v1", "fim": "qwen"},
                "lcpp": {"kind": "llamacpp", "url": llamacpp.url},
            },
            "completion": {"endpoint": "gpu", "backend": "model"},
            "review": {"endpoint": "lcpp"},
        }
        root = workspace(tmp_path / "shop")
        async with editor_session(
            unused_ollama, settings=settings, root_uri=root.as_uri()
        ) as editor:
            await wait_for_state(editor, "learnt")
            uri = editor.open_uri((root / "basket.py").as_uri(), BASKET)
            assert await editor.ghost_text(uri, AFTER_RETURN) == "total(basket)"
            editor.type(uri, AFTER_RETURN, "0")
            editor.save(uri)
            await wait_for_state(editor, "reviewed", timeout=60)
            shop = editor.open_uri((root / "shop.py").as_uri(), SHOP)
            assert (await editor.execute("lspAssist.reviewFile", shop, timeout=60))["calls"] >= 1
            report = await editor.execute("lspAssist.doctor")
        assert gpu.completion_requests
        hosts = {address(gpu.url), address(llamacpp.url)}
    assert {e["name"] for e in report["endpoints"]} == {"gpu", "lcpp"}
    Audit(read_events(audited)).assert_only(hosts, programs=("git show",))


STRACE_CALL = re.compile(r"^(?P<call>connect|bind|getsockname)\((?P<fd>\d+), \{(?P<addr>[^}]*)\}")


@dataclass
class Trace:
    """What `strace -ff -e trace=connect,bind,getsockname` saw each thread of the process tree
    do (one file per thread: no call is split by another's)."""

    connects: set[tuple[str, str, int]]
    """(family, host, port) of every connect(); AF_UNIX as (family, path, 0)."""
    listening: set[tuple[str, int]]
    """Local addresses sockets were bound to (port 0: the port getsockname then told)."""

    @classmethod
    def read(cls, prefix: Path) -> Trace:
        connects: set[tuple[str, str, int]] = set()
        listening: set[tuple[str, int]] = set()
        for per_thread in prefix.parent.glob(prefix.name + ".*"):
            bound_to_any_port: set[str] = set()  # its sockets bound to port 0
            for line in per_thread.read_text().splitlines():
                found = STRACE_CALL.match(line)
                if not found:
                    continue
                family, host, port = _sockaddr(found.group("addr"))
                call, fd = found.group("call"), found.group("fd")
                if call == "connect":
                    connects.add((family, host, port))
                elif call == "bind" and family.startswith("AF_INET"):
                    if port:
                        listening.add((host, port))
                    else:
                        bound_to_any_port.add(fd)
                elif call == "getsockname" and fd in bound_to_any_port:
                    listening.add((host, port))
                    bound_to_any_port.discard(fd)
        return cls(connects, listening)


def _sockaddr(text: str) -> tuple[str, str, int]:
    family = re.search(r"sa_family=(\w+)", text)
    port = re.search(r"sin6?_port=htons\((\d+)\)", text)
    host = re.search(r'inet_addr\("([^"]+)"\)|inet_pton\(AF_INET6, "([^"]+)"', text)
    path = re.search(r'sun_path=(?:@?)"([^"]*)"', text)
    name = family.group(1) if family else "?"
    if path:
        return name, path.group(1), 0
    where = (host.group(1) or host.group(2)) if host else "?"
    return name, where, int(port.group(1)) if port else 0


@pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed")
async def test_the_embedded_engine_only_listens_and_the_server_only_connects_to_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, tiny_model: Path
) -> None:
    pytest.importorskip("xllamacpp")
    events, trace = tmp_path / "audit.jsonl", tmp_path / "strace"
    calls = "trace=connect,bind,getsockname"
    strace = ["strace", "-ff", "--seccomp-bpf", "-qq", "-o", str(trace), "-e", calls]
    command = [*strace, *AUDITED, str(events), "serve", "-vv"]
    monkeypatch.setattr(editor_module, "SERVER_COMMAND", command)
    engine = {"kind": "embedded", "modelPath": str(tiny_model), "threads": 1}
    settings = {
        "endpoints": {"local": engine},
        "completion": {**QUICK, "endpoint": "local", "backend": "model", "firstTokenMs": 0},
        "review": {"enabled": False},
    }
    async with editor_session(unused_url(), settings=settings) as editor:
        uri = editor.open("area.py", NOTE)
        assert await editor.ghost_text(uri, IN_COMMENT)
    seen = Trace.read(trace)
    # The engine's server: one socket, on a random port of 127.0.0.1.
    [engine] = [(host, port) for host, port in seen.listening if host == "127.0.0.1"]
    assert seen.listening == {engine}, seen.listening
    # The only connect() of the whole tree, C++ included: the language server to the engine.
    assert seen.connects == {("AF_INET", *engine)}, seen.connects
    audit = Audit(read_events(events))
    audit.assert_only({engine}, programs=(f"{sys.executable} -m lsp_assist.embedded_server",))
    assert len(audit.programs) == 1


# -- the command-line tools ---------------------------------------------------------------------


def run_audited(events: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*AUDITED, str(events), *arguments], capture_output=True, text=True, timeout=120
    )


def test_doctor_and_complete_look_up_and_connect_to_the_ollama_host_only(
    tmp_path: Path, fake_ollama: FakeOllama
) -> None:
    """Ollama named `localhost`, as users write it: that one name is looked up."""
    fake_ollama.set_responder(answers)
    host, port = address(fake_ollama.url)
    url = f"http://localhost:{port}"
    root = workspace(tmp_path / "shop")
    events = tmp_path / "audit.jsonl"
    doctor = run_audited(events, "doctor", "--host", url)
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    complete = run_audited(events, "complete", f"{root / 'basket.py'}:5:12", "--host", url)
    assert complete.returncode == 0, complete.stderr
    assert complete.stdout.strip() == "total(basket)"
    audit = Audit(read_events(events))
    assert audit.lookups == {"localhost"}
    local = {a[4][:2] for a in socket.getaddrinfo("localhost", port, type=socket.SOCK_STREAM)}
    assert audit.connects <= local and (host, port) in audit.connects
    audit.assert_only(audit.connects, names={"localhost"})
