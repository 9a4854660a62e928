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
