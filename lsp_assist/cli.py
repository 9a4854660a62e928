"""Command line: `lsp-assist serve` (stdio or TCP) and `--version`."""

from __future__ import annotations

import argparse
import gc
import logging
import sys
from collections.abc import Sequence

from lsp_assist import __version__


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
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args_list = list(sys.argv[1:] if argv is None else argv)
    # Editors often start servers as `lsp-assist --stdio`.
    if args_list and args_list[0] == "--stdio":
        args_list.insert(0, "serve")
    parser = build_parser()
    args = parser.parse_args(args_list)
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
