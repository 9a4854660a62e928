"""The command line: `lsp-assist --version`, `serve` over stdio (also as `--stdio`) and TCP."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any, BinaryIO

import pytest

from lsp_assist import __version__
from tests.fakes.fake_ollama import FakeOllama, unused_url

LSP_ASSIST = Path(sys.executable).parent / "lsp-assist"
INITIALIZE = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"capabilities": {}}}


def frame(message: dict[str, object]) -> bytes:
    body = json.dumps(message).encode("utf-8")
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


def read_message(stream: BinaryIO) -> dict[str, Any]:
    header = b""
    while not header.endswith(b"\r\n\r\n"):
        byte = stream.read(1)
        assert byte, f"the server closed the stream after {header!r}"
        header += byte
    length = int(header.split(b"Content-Length:")[1].split(b"\r\n")[0])
    result: dict[str, Any] = json.loads(stream.read(length))
    return result


def test_version_is_printed() -> None:
    result = subprocess.run(
        [str(LSP_ASSIST), "--version"], capture_output=True, text=True, timeout=30, check=True
    )
    assert result.stdout.strip() == f"lsp-assist {__version__}"


def test_python_dash_m_runs_the_same_command() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "lsp_assist", "--version"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert result.stdout.strip() == f"lsp-assist {__version__}"


@pytest.mark.parametrize("args", [["serve"], ["serve", "--stdio"], ["--stdio"]])
def test_the_server_speaks_lsp_on_stdio_and_logs_only_to_stderr(args: list[str]) -> None:
    process = subprocess.Popen(
        [str(LSP_ASSIST), *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert process.stdin is not None and process.stdout is not None
        process.stdin.write(frame(INITIALIZE))
        process.stdin.flush()
        reply = read_message(process.stdout)
        assert reply["id"] == 1
        result = reply["result"]
        assert isinstance(result, dict)
        assert "inlineCompletionProvider" in result["capabilities"]
        process.stdin.write(frame({"jsonrpc": "2.0", "id": 2, "method": "shutdown"}))
        process.stdin.flush()
        assert read_message(process.stdout)["id"] == 2
        process.stdin.write(frame({"jsonrpc": "2.0", "method": "exit"}))
        process.stdin.flush()
        assert process.wait(timeout=15) == 0
    finally:
        if process.poll() is None:
            process.kill()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_the_server_listens_on_tcp() -> None:
    port = free_port()
    process = subprocess.Popen(
        [str(LSP_ASSIST), "serve", "--tcp", f"127.0.0.1:{port}", "-v"],
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        # The log says when the port is open.
        for line in process.stderr:
            if "Serving on" in line:
                break
        with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
            connection.sendall(frame(INITIALIZE))
            reply = read_message(connection.makefile("rb"))
        assert reply["id"] == 1
    finally:
        process.terminate()
        process.wait(timeout=15)


def test_the_log_can_go_to_a_file(tmp_path: Path) -> None:
    log_file = tmp_path / "server.log"
    process = subprocess.Popen(
        [str(LSP_ASSIST), "serve", "--log-file", str(log_file)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        assert process.stdin is not None and process.stdout is not None
        process.stdin.write(frame(INITIALIZE))
        process.stdin.flush()
        assert read_message(process.stdout)["id"] == 1
        assert "initialized: client=" in log_file.read_text()
    finally:
        process.kill()
        process.wait(timeout=15)


def test_a_bad_tcp_address_is_a_clear_usage_error() -> None:
    result = subprocess.run(
        [str(LSP_ASSIST), "serve", "--tcp", "nowhere"], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 2
    assert "expected HOST:PORT" in result.stderr


def test_exit_without_shutdown_ends_the_server_with_code_1() -> None:
    process = subprocess.Popen(
        [str(LSP_ASSIST), "serve"], stdin=subprocess.PIPE, stdout=subprocess.PIPE
    )
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write(frame(INITIALIZE))
    process.stdin.flush()
    assert read_message(process.stdout)["id"] == 1
    process.stdin.write(frame({"jsonrpc": "2.0", "method": "exit"}))
    process.stdin.flush()
    assert process.wait(timeout=15) == 1


def test_closing_stdin_ends_the_server() -> None:
    process = subprocess.Popen([str(LSP_ASSIST), "serve"], stdin=subprocess.PIPE)
    assert process.stdin is not None
    process.stdin.close()
    assert process.wait(timeout=15) == 0


# -- --settings FILE (doctor, complete, demo) --------------------------------------------------

SOURCE = "def add(a, b):\n    return \n"
CODELLAMA = "codellama:7b-code"


def run_tool(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LSP_ASSIST), *args], capture_output=True, text=True, timeout=90, cwd=cwd
    )


@pytest.fixture
def source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # no pulled model
    path = tmp_path / "add.py"
    path.write_text(SOURCE, encoding="utf-8")
    return path


def settings_file(tmp_path: Path, text: str) -> str:
    path = tmp_path / "settings.json"
    path.write_text(text, encoding="utf-8")
    return str(path)


@pytest.mark.parametrize(
    "shape",
    [
        '{"lspAssist": {"ollama": {"host": "HOST"}, "completion": {"model": "MODEL"}}}',
        '{"ollama": {"host": "HOST"}, "completion": {"model": "MODEL"}}',
        # VS Code's settings.json: flat keys, comments, a trailing comma, other keys.
        """{
            // lsp-assist
            "lspAssist.ollama.host": "HOST", /* the fake */
            "lspAssist.completion.model": "MODEL",
            "editor.inlineSuggest.enabled": true,
        }""",
    ],
    ids=["section", "bare", "vscode"],
)
def test_complete_reads_the_settings_file_in_each_shape(
    shape: str, fake_ollama: FakeOllama, source: Path, tmp_path: Path
) -> None:
    fake_ollama.reply_with("a + b")
    text = shape.replace("HOST", fake_ollama.url).replace("MODEL", CODELLAMA)
    result = run_tool("complete", f"{source}:2:12", "--settings", settings_file(tmp_path, text))
    assert result.returncode == 0, result.stderr
    assert result.stdout == "a + b"
    assert fake_ollama.generate_requests[0].body["model"] == CODELLAMA


def test_bad_values_in_the_settings_file_are_told_one_line_each_and_replaced_by_defaults(
    fake_ollama: FakeOllama, source: Path, tmp_path: Path
) -> None:
    fake_ollama.reply_with("a + b")
    text = '{"completion": {"maxTokens": -1, "temperature": 9}}'
    result = run_tool(
        "complete",
        f"{source}:2:12",
        "--host",
        fake_ollama.url,
        "--settings",
        settings_file(tmp_path, text),
    )
    assert result.returncode == 0, result.stderr
    told = [line for line in result.stderr.splitlines() if line.startswith("lsp-assist settings:")]
    assert told == [
        "lsp-assist settings: completion.maxTokens must be positive: -1; using 128",
        "lsp-assist settings: completion.temperature must be between 0 and 2: 9; using 0.2",
    ]
    options = fake_ollama.generate_requests[0].body["options"]
    assert options["num_predict"] == 128 and options["temperature"] == 0.2


def test_host_and_model_flags_override_the_settings_file(
    fake_ollama: FakeOllama, source: Path, tmp_path: Path
) -> None:
    fake_ollama.reply_with("a + b")
    text = json.dumps({"ollama": {"host": unused_url()}, "completion": {"model": "no:1b"}})
    result = run_tool(
        "complete",
        f"{source}:2:12",
        "--settings",
        settings_file(tmp_path, text),
        "--host",
        fake_ollama.url,
        "--model",
        CODELLAMA,
    )
    assert result.returncode == 0, result.stderr
    assert fake_ollama.generate_requests[0].body["model"] == CODELLAMA


@pytest.mark.parametrize("tool", ["complete", "doctor", "demo"])
def test_a_settings_file_that_cannot_be_read_is_a_usage_error(tool: str, tmp_path: Path) -> None:
    args = [tool, *(["add.py:1:1"] if tool == "complete" else [])]
    missing = run_tool(*args, "--settings", str(tmp_path / "nope.json"))
    assert missing.returncode == 2
    assert missing.stderr == f"lsp-assist: no such settings file: {tmp_path / 'nope.json'}\n"
    broken = run_tool(*args, "--settings", settings_file(tmp_path, '{"ollama": {"host": }}'))
    assert broken.returncode == 2
    [line] = broken.stderr.splitlines()
    assert "is not JSON: Expecting value (line 1, column 21)" in line


def test_doctor_checks_the_host_the_settings_file_names(
    fake_ollama: FakeOllama, tmp_path: Path
) -> None:
    text = json.dumps({"lspAssist": {"ollama": {"host": fake_ollama.url}}})
    result = run_tool("doctor", "--settings", settings_file(tmp_path, text))
    assert result.returncode == 0, result.stdout + result.stderr
    assert any(r.path == "/api/show" for r in fake_ollama.requests)


def test_demo_uses_the_host_the_settings_file_names(
    fake_ollama: FakeOllama, tmp_path: Path
) -> None:
    text = json.dumps({"lspAssist": {"ollama": {"host": fake_ollama.url}}})
    result = run_tool("demo", "--plain", "--settings", settings_file(tmp_path, text))
    assert result.returncode == 0, result.stdout + result.stderr
    assert fake_ollama.generate_requests


def test_complete_and_models_help_say_their_exit_codes() -> None:
    for command in ("complete", "models"):
        result = run_tool(command, "--help")
        assert result.returncode == 0
        assert "exit codes:" in result.stdout
        assert "  0  " in result.stdout and "  1  " in result.stdout and "  2  " in result.stdout


def run_serve(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LSP_ASSIST), "serve", *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_an_address_in_use_is_one_line_with_the_fix() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_serve("--tcp", f"127.0.0.1:{port}")
    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert f"cannot listen on 127.0.0.1:{port}" in line and "address already in use" in line
    assert "--tcp HOST:PORT" in line and "Traceback" not in result.stderr


def test_an_unknown_host_is_one_line_with_the_fix() -> None:
    result = run_serve("--tcp", "no-such-host.invalid:2087")
    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert "cannot listen on no-such-host.invalid:2087" in line


def test_a_log_file_in_a_missing_folder_is_one_line_with_the_fix(tmp_path: Path) -> None:
    result = run_serve("--log-file", str(tmp_path / "missing" / "server.log"))
    assert result.returncode == 2
    [line] = result.stderr.splitlines()
    assert "cannot write the log file" in line and "create its folder" in line


def test_the_log_file_is_private(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    result = run_serve("--log-file", str(log))  # stdin closed at once: the server exits
    assert result.returncode == 0
    assert log.stat().st_mode & 0o777 == 0o600
