"""Command line: `lsp-assist serve` (stdio or TCP), `doctor`, `complete`, `demo`, `models`,
`--version`.

`doctor`, `complete`, `demo` and `models` are small tools around the same machinery as the
server; their logic lives in `lsp_assist.doctor`, `lsp_assist.complete_command`,
`lsp_assist.demo` and `lsp_assist.models_command`, and this module only parses arguments,
prints and picks the exit code:

  0    fine (`complete`: answered, by whoever the route reached — stderr says who)
  1    a problem, told in one line on stderr with its fix (`doctor`: one was found)
  2    a usage error: a bad argument, an unknown model name, an unreadable settings file
  130  interrupted (Ctrl-C; `models pull` resumes where it stopped)

`doctor`, `complete` and `demo` take `--settings FILE`: the `lspAssist` settings an editor
would send (see `settings_file.py`), parsed by the server's own `parse_settings`; `--host` and
`--model` override what the file says.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import os
import sys
from collections.abc import Coroutine, Sequence
from typing import Any

from lsp_assist import __version__
from lsp_assist.config import Settings, parse_settings
from lsp_assist.model_store import DEFAULT_MODEL

HOST_HELP = "Ollama's URL (default: $OLLAMA_HOST, then http://127.0.0.1:11434)"
SETTINGS_HELP = (
    'a JSON file of lspAssist settings: {"lspAssist": {...}}, the bare object, or VS Code\'s '
    'settings.json (flat "lspAssist.…" keys); --host and --model override it'
)
COMPLETE_EPILOG = """\
The route is the server's: the model servers of lspAssist.endpoints in failover order
(without endpoints: Ollama at --host), then the embedded engine if `lsp-assist models pull`
fetched a model, then the offline engine, learnt from the code of the file's folder (its git
repository). stdout gets the suggestion; stderr one line saying who answered.

exit codes:
  0  answered (a suggestion, or none here); servers passed over are named on stderr
  1  nothing could answer: unreadable or private file, a server failed, a model is missing
     or cannot fill in the middle (one line on stderr with the fix)
  2  usage: bad FILE:LINE:COL or flag, or an unreadable --settings file
"""
MODELS_EPILOG = """\
Models live in $XDG_CACHE_HOME/lsp-assist/models (~/.cache/…). They are downloaded from
Hugging Face, or from the mirror in $LSP_ASSIST_MODELS_URL, only by `models pull`.

exit codes:
  0  done
  1  the download failed (one line on stderr with the fix; a later pull resumes it), or
     `path NAME` names a model that is not pulled
  2  usage: an unknown model name
"""


def _setup_logging(verbosity: int, log_file: str | None) -> None:
    # stdout is the LSP transport: logs go to stderr, or to a file.
    handler: logging.Handler
    if log_file:
        # Private (0600) whatever the umask: at -v and -vv it holds the editor's messages.
        os.close(os.open(log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))
        handler = logging.FileHandler(log_file, encoding="utf-8")
    else:
        handler = logging.StreamHandler(sys.stderr)
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
    doctor.add_argument("--settings", metavar="FILE", help=SETTINGS_HELP)
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
        "complete",
        help="print the completion for a position of a file (FILE may be -)",
        epilog=COMPLETE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    complete.add_argument(
        "location", type=_location, metavar="FILE:LINE:COL", help="1-based line and column"
    )
    complete.add_argument("--model", help="the completion model (default: the configured one)")
    complete.add_argument("--host", help=HOST_HELP)
    complete.add_argument("--settings", metavar="FILE", help=SETTINGS_HELP)
    complete.add_argument("-v", "--verbose", action="count", default=0, help="more log on stderr")

    demo = commands.add_parser(
        "demo", help="play an editor session in the terminal: live suggestions and their timing"
    )
    demo.add_argument("--file", help="type in this file instead of the bundled sample project")
    demo.add_argument("--line", type=int, metavar="N", help="with --file: type after line N")
    demo.add_argument("--model", help="the completion model (default: the configured one)")
    demo.add_argument("--host", help=HOST_HELP)
    demo.add_argument("--settings", metavar="FILE", help=SETTINGS_HELP)
    demo.add_argument("--plain", action="store_true", help="no colours or live output (for CI)")
    demo.add_argument("-v", "--verbose", action="count", default=0, help="more log on stderr")

    models = commands.add_parser(
        "models",
        help="the GGUF models of the embedded engine: list, pull, path",
        epilog=MODELS_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    models.add_argument("-v", "--verbose", action="count", default=0, help="more log on stderr")
    models_commands = models.add_subparsers(dest="models_command", metavar="{list,pull,path}")
    models_commands.required = True
    models_commands.add_parser("list", help="the catalog, what is pulled, and which is used")
    pull = models_commands.add_parser(
        "pull", help="download a model (resumable, sha256-checked) for the embedded engine"
    )
    pull.add_argument("name", nargs="?", metavar="NAME", help=f"default: {DEFAULT_MODEL}")
    pull.add_argument("--force", action="store_true", help="download it again if it is pulled")
    path = models_commands.add_parser(
        "path", help="print the models folder, or the file of a pulled model"
    )
    path.add_argument("name", nargs="?", metavar="NAME", help="a catalog name")

    from lsp_assist import stats_command

    stats = commands.add_parser(
        "stats", help="what became of the suggestions: acceptance, retained characters, latency"
    )
    stats_command.add_arguments(stats)
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


def _tool_logging(verbosity: int, quiet: int = logging.WARNING) -> None:
    # The tools' own output is the point: the log stays quiet unless asked for.
    logging.basicConfig(stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s", force=True)
    level = logging.DEBUG if verbosity >= 2 else logging.INFO if verbosity else quiet
    logging.getLogger("lsp_assist").setLevel(level)
    logging.getLogger("httpx").setLevel(logging.WARNING)


class _UsageError(Exception):
    """A problem with the command line itself: its line is printed and the exit code is 2."""


def _raw_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The lspAssist object of `--settings`, with `--host` / `--model` on top."""
    from lsp_assist.settings_file import SettingsFileError, read_settings_file, with_overrides

    try:
        raw = read_settings_file(args.settings) if args.settings else {}
    except SettingsFileError as exc:
        raise _UsageError(str(exc)) from None
    return with_overrides(raw, host=args.host, model=getattr(args, "model", None))


def _settings(args: argparse.Namespace) -> Settings:
    """The tool's settings; each bad value is told on one line of stderr (its default is used)."""
    settings, problems = parse_settings(_raw_settings(args))
    for problem in problems:
        print(f"lsp-assist settings: {problem}", file=sys.stderr)
    return settings


def _run_tool(main: Coroutine[Any, Any, int]) -> int:
    """Runs a tool's coroutine: its exit code, and never a traceback for the user."""
    try:
        return asyncio.run(main)
    except _UsageError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("lsp-assist: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # a bug of ours: one line, the details in the -vv log
        logging.getLogger("lsp_assist").debug("unexpected failure", exc_info=True)
        print(f"lsp-assist: unexpected error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


async def _doctor(args: argparse.Namespace) -> int:
    from lsp_assist.doctor import PullProgressPrinter, diagnose, format_report, pull_missing

    settings = _settings(args)
    report = await diagnose(settings, args.models)
    if args.pull:
        printer = PullProgressPrinter(sys.stderr)
        results = await pull_missing(report, printer)  # on each reachable Ollama endpoint
        printer.finish()
        for result in results:
            if not result.ok:
                print(f"lsp-assist: could not pull {result.model}: {result.error}", file=sys.stderr)
        if results:
            report = await diagnose(settings, args.models)
    if args.json:
        print(json.dumps(report.to_json(), indent=2))
    else:
        print(format_report(report))
    return 0 if report.ok else 1


async def _complete(args: argparse.Namespace) -> int:
    from lsp_assist.complete_command import (
        EXIT_ANSWERED,
        EXIT_FAULT,
        CompleteError,
        complete,
        write_suggestion,
    )

    # The session parses the settings, as the server does, and tells each bad value.
    raw = _raw_settings(args)
    try:
        answer = await complete(raw, args.location, stdin=sys.stdin, notes=sys.stderr)
    except CompleteError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_FAULT
    print(answer.who, file=sys.stderr)
    write_suggestion(answer.text, sys.stdout)
    return EXIT_ANSWERED


async def _demo(args: argparse.Namespace) -> int:
    from lsp_assist.demo import DemoError, plain_output, run_demo

    settings = _settings(args)
    try:
        return await run_demo(
            settings.ollama.resolved_host,
            args.model,
            args.file,
            args.line,
            plain_output(args.plain),
            # A settings file is used as an editor's settings (--host / --model are in it).
            settings=settings if args.settings else None,
        )
    except DemoError as exc:
        print(f"lsp-assist demo: {exc}", file=sys.stderr)
        return 1


async def _models(args: argparse.Namespace) -> int:
    from lsp_assist import models_command

    if args.models_command == "pull":
        return await models_command.run_pull(args.name, args.force, sys.stdout, sys.stderr)
    if args.models_command == "path":
        return models_command.run_path(args.name, sys.stdout, sys.stderr)
    print(models_command.model_list())
    return 0


def main(argv: Sequence[str] | None = None) -> None:
    args_list = list(sys.argv[1:] if argv is None else argv)
    # Editors often start servers as `lsp-assist --stdio`.
    if args_list and args_list[0] == "--stdio":
        args_list.insert(0, "serve")
    args_list = _stdin_location_last(args_list)
    parser = build_parser()
    args = parser.parse_args(args_list)
    if args.command in ("doctor", "complete", "demo", "models"):
        # `complete` tells each fault in its own line: the engine's log of it would repeat it.
        _tool_logging(
            args.verbose, logging.ERROR if args.command == "complete" else logging.WARNING
        )
        tools = {"doctor": _doctor, "complete": _complete, "demo": _demo, "models": _models}
        sys.exit(_run_tool(tools[args.command](args)))
    if args.command == "stats":
        from lsp_assist import stats_command

        sys.exit(stats_command.run(args))
    if args.command != "serve":
        parser.print_help(sys.stderr)
        sys.exit(2)
    try:
        _setup_logging(args.verbose, args.log_file)
    except OSError as exc:
        print(
            f"lsp-assist: cannot write the log file {args.log_file}: {exc.strerror or exc} — "
            "create its folder, or choose another --log-file",
            file=sys.stderr,
        )
        sys.exit(2)
    from lsp_assist.server import run_stdio, run_tcp

    # Everything imported so far lives as long as the server: keep the garbage collector from
    # walking it again and again (a full collection otherwise costs tens of ms mid-keystroke).
    gc.collect()
    gc.freeze()

    if args.tcp:
        host, port = args.tcp
        try:
            run_tcp(host, port)
        except OSError as exc:  # the address: in use, not this machine's, a name unknown
            reason = exc.strerror or str(exc)
            print(
                f"lsp-assist: cannot listen on {host}:{port}: {reason} — choose another address "
                "with --tcp HOST:PORT",
                file=sys.stderr,
            )
            sys.exit(1)
    else:
        run_stdio()
