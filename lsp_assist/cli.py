"""Command line: `lsp-assist serve` (stdio or TCP), `doctor`, `complete`, `demo`, `--version`.

`doctor`, `complete` and `demo` are small tools around the same machinery as the server; their
logic lives in `lsp_assist.doctor`, `lsp_assist.complete_command` and `lsp_assist.demo`, and
this module only parses arguments, prints and picks the exit code (0 fine, 1 a problem, 2 a
usage error).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import gc
import json
import logging
import sys
from collections.abc import Coroutine, Sequence
from typing import Any

from lsp_assist import __version__
from lsp_assist.config import Settings

HOST_HELP = "Ollama's URL (default: $OLLAMA_HOST, then http://127.0.0.1:11434)"


def _setup_logging(verbosity: int, log_file: str | None) -> None:
    # stdout is the LSP transport: logs go to stderr, or to a file.
    handler: logging.Handler = (
        logging.FileHandler(log_file, encoding="utf-8")
        if log_file
        else logging.StreamHandler(sys.stderr)
    )
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    # Our own INFO lines are few and useful in an editor's output panel; -v adds the
    # libraries' INFO, -vv everything.
    root.setLevel(
        logging.DEBUG if verbosity >= 2 else logging.INFO if verbosity == 1 else logging.WARNING
    )
    logging.getLogger("lsp_assist").setLevel(logging.DEBUG if verbosity >= 2 else logging.INFO)
    # The HTTP client logs every request at INFO: noise next to ours.
    logging.getLogger("httpx").setLevel(logging.WARNING)


def _host_port(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    if not host or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {value!r}")
    return host, int(port)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lsp-assist",
        description="A language server for private, fast AI code completion with local models.",
    )
    parser.add_argument("--version", action="version", version=f"lsp-assist {__version__}")
    commands = parser.add_subparsers(dest="command")

    serve = commands.add_parser("serve", help="run the language server (stdio by default)")
    transport = serve.add_mutually_exclusive_group()
    transport.add_argument(
        "--stdio", action="store_true", help="talk LSP over stdin/stdout (default)"
    )
    transport.add_argument(
        "--tcp", type=_host_port, metavar="HOST:PORT", help="listen on TCP instead"
    )
    serve.add_argument("--log-file", help="write the log here instead of stderr")
    serve.add_argument("-v", "--verbose", action="count", default=0, help="more log (-vv: debug)")

    doctor = commands.add_parser(
        "doctor", help="check that Ollama and the models are ready, and say how to fix what is not"
    )
    doctor.add_argument("--host", help=HOST_HELP)
    doctor.add_argument(
        "--model",
        dest="models",
        action="append",
        metavar="M",
        help="check this model for completion instead of the configured ones (repeatable)",
    )
    doctor.add_argument("--pull", action="store_true", help="pull the models that are missing")
    doctor.add_argument("--json", action="store_true", help="print the report as JSON")
    doctor.add_argument("-v", "--verbose", action="count", default=0, help="more log on stderr")

    complete = commands.add_parser(
        "complete", help="print the completion for a position of a file (FILE may be -)"
    )
    complete.add_argument(
        "location", type=_location, metavar="FILE:LINE:COL", help="1-based line and column"
    )
    complete.add_argument("--model", help="the completion model (default: the configured one)")
    complete.add_argument("--host", help=HOST_HELP)
    complete.add_argument("-v", "--verbose", action="count", default=0, help="more log on stderr")

    demo = commands.add_parser(
        "demo", help="play an editor session in the terminal: live suggestions and their timing"
    )
    demo.add_argument("--file", help="type in this file instead of the bundled sample project")
    demo.add_argument("--line", type=int, metavar="N", help="with --file: type after line N")
    demo.add_argument("--model", help="the completion model (default: the configured one)")
    demo.add_argument("--host", help=HOST_HELP)
    demo.add_argument("--plain", action="store_true", help="no colours or live output (for CI)")
    demo.add_argument("-v", "--verbose", action="count", default=0, help="more log on stderr")
    return parser


def _location(value: str) -> Any:
    from lsp_assist.complete_command import parse_location

    try:
        return parse_location(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _stdin_location_last(args: list[str]) -> list[str]:
    """`complete -:LINE:COL` reads stdin, but argparse takes "-:…" for an option: move it
    behind a `--`, where it can only be the positional argument."""
    if not args or args[0] != "complete" or "--" in args:
        return args
    stdin = [a for a in args if a.startswith("-:")]
    if len(stdin) != 1:
        return args
    return [a for a in args if a != stdin[0]] + ["--", stdin[0]]


def _tool_logging(verbosity: int) -> None:
    # The tools' own output is the point: the log stays quiet unless asked for.
    logging.basicConfig(stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s", force=True)
    level = logging.DEBUG if verbosity >= 2 else logging.INFO if verbosity else logging.WARNING
    logging.getLogger("lsp_assist").setLevel(level)
    logging.getLogger("httpx").setLevel(logging.WARNING)


def _settings(host: str | None, model: str | None = None) -> Settings:
    settings = Settings()
    if host:
        settings = dataclasses.replace(
            settings, ollama=dataclasses.replace(settings.ollama, host=host)
        )
    if model:
        settings = dataclasses.replace(
            settings, completion=dataclasses.replace(settings.completion, model=model)
        )
    return settings


def _run_tool(main: Coroutine[Any, Any, int]) -> int:
    """Runs a tool's coroutine: its exit code, and never a traceback for the user."""
    try:
        return asyncio.run(main)
    except KeyboardInterrupt:
        print("lsp-assist: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug of ours: one line, the details in the -vv log
        logging.getLogger("lsp_assist").debug("unexpected failure", exc_info=True)
        print(f"lsp-assist: unexpected error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


async def _doctor(args: argparse.Namespace) -> int:
    from lsp_assist.doctor import PullProgressPrinter, diagnose, format_report, pull_models

    settings = _settings(args.host)
    report = await diagnose(settings, args.models)
    if args.pull and report.host.reachable and report.missing_models:
        printer = PullProgressPrinter(sys.stderr)
        results = await pull_models(settings.ollama.resolved_host, report.missing_models, printer)
        printer.finish()
        for result in results:
            if not result.ok:
                print(f"lsp-assist: could not pull {result.model}: {result.error}", file=sys.stderr)
        report = await diagnose(settings, args.models)
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        print(format_report(report))
    return 0 if report.ok else 1


async def _complete(args: argparse.Namespace) -> int:
    from lsp_assist.complete_command import CompleteError, complete, write_suggestion

    settings = _settings(args.host, args.model)
    try:
        text = await complete(settings, args.location, stdin=sys.stdin, notes=sys.stderr)
    except CompleteError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    write_suggestion(text, sys.stdout)
    return 0


async def _demo(args: argparse.Namespace) -> int:
    from lsp_assist.demo import DemoError, plain_output, run_demo

    settings = _settings(args.host, args.model)
    try:
        return await run_demo(
            settings.ollama.resolved_host,
            args.model,
            args.file,
            args.line,
            plain_output(args.plain),
        )
    except DemoError as exc:
        print(f"lsp-assist demo: {exc}", file=sys.stderr)
        return 1


def main(argv: Sequence[str] | None = None) -> None:
    args_list = list(sys.argv[1:] if argv is None else argv)
    # Editors often start servers as `lsp-assist --stdio`.
    if args_list and args_list[0] == "--stdio":
        args_list.insert(0, "serve")
    args_list = _stdin_location_last(args_list)
    parser = build_parser()
    args = parser.parse_args(args_list)
    if args.command in ("doctor", "complete", "demo"):
        _tool_logging(args.verbose)
        tools = {"doctor": _doctor, "complete": _complete, "demo": _demo}
        sys.exit(_run_tool(tools[args.command](args)))
    if args.command != "serve":
        parser.print_help(sys.stderr)
        sys.exit(2)
    _setup_logging(args.verbose, args.log_file)
    from lsp_assist.server import run_stdio, run_tcp

    # Everything imported so far lives as long as the server: keep the garbage collector from
    # walking it again and again (a full collection otherwise costs tens of ms mid-keystroke).
    gc.collect()
    gc.freeze()

    if args.tcp:
        run_tcp(*args.tcp)
    else:
        run_stdio()
