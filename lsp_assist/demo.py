"""`lsp-assist demo`: an editor session played in the terminal, so people see what it does.

It starts `lsp-assist serve`, opens a small sample project (shipped in `demo_project/`) or the
user's own file (`--file`), types a line or two character by character and asks for an inline
completion after each keystroke, printing each ghost-text suggestion with its end-to-end time
and where it came from (the model, type-through, the cache or the offline engine). Then it
types through one suggestion (no new model request) and ends with a summary.

With settings that name endpoints (`lspAssist.endpoints`), the demo sends them to the server as
an editor would, says which of the completion endpoints answer, and shows for every suggestion
(and in the summary) which endpoint served it.

When no model server answers, it says so, names the fix and lets the offline engine (which
learns from the project's own code) serve instead.
"""

from __future__ import annotations

import dataclasses
import statistics
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from lsp_assist.config import Settings, settings_to_json
from lsp_assist.demo_servers import answering_endpoints, ollama_answers, served_by
from lsp_assist.languages import language_for
from lsp_assist.lsp_client import LspClient, ServerGone
from lsp_assist.uris import uri_of_path

DEMO_PROJECT = Path(__file__).resolve().parent / "demo_project"
DEMO_FILE = "bank.py"
# The line of the sample project the demo types again (it is removed before opening). Its
# shape repeats in the project, so even the offline engine has something sensible to offer.
DEMO_LINE = '    def withdraw(self, account_id: str, amount: Decimal, memo: str = "") -> Decimal:\n'
DEMO_TYPED = "def withdraw(self, account_id: str, amount: Decimal, "
INSTALL_URL = "https://ollama.com/download"
DEFAULT_MODEL = "qwen2.5-coder:1.5b-base"
MAX_TOKENS = 48  # short suggestions: the demo shows many keystrokes, not long generations
INITIALIZE_TIMEOUT_S = 30.0
COMPLETION_TIMEOUT_S = 60.0  # a real model may have to load first
MAX_TYPE_THROUGH = 40
SOURCE_LABELS = {
    "model": "model",
    "type-through": "type-through",
    "cache": "cache",
    "offline": "offline engine",
}


class DemoError(Exception):
    """Something the user can fix; shown as one line."""


@dataclass
class Scenario:
    """Where to type: the files to open, the one typed in, the offset and the keystrokes."""

    root: Path
    files: dict[str, str]  # uri -> text, as opened
    uri: str
    offset: int
    keystrokes: list[str]
    title: str


@dataclass
class Answer:
    typed_line: str
    suggestion: str | None
    latency_ms: float
    source: str
    engine: str = ""
    """Who made it, as the status says ("lsp-assist · MODEL (ENDPOINT)")."""

    @property
    def endpoint(self) -> str:
        """The endpoint that served it ("" for Ollama at `ollama.host` or the offline engine)."""
        return served_by(self.engine).endpoint if self.suggestion else ""


@dataclass
class Results:
    answers: list[Answer] = field(default_factory=list)
    type_through: list[Answer] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)


# -- scenarios --------------------------------------------------------------------------------


def sample_scenario() -> Scenario:
    files = {
        uri_of_path(p): p.read_text(encoding="utf-8") for p in sorted(DEMO_PROJECT.glob("*.py"))
    }
    uri = uri_of_path(DEMO_PROJECT / DEMO_FILE)
    text = files[uri]
    start = text.index(DEMO_LINE)
    files[uri] = text[:start] + text[start + len(DEMO_LINE) :]
    indent = DEMO_LINE[: len(DEMO_LINE) - len(DEMO_LINE.lstrip())]
    keystrokes = ["\n" + indent, *DEMO_TYPED]
    title = f"sample project {DEMO_PROJECT.name}/, typing in {DEMO_FILE} (Bank.withdraw)"
    return Scenario(DEMO_PROJECT, files, uri, start - 1, keystrokes, title)


def file_scenario(path: Path, line: int | None) -> Scenario:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DemoError(f"no such file: {path}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DemoError(f"cannot read {path}: {exc}") from None
    lines = text.split("\n")
    if line is None:
        candidates = [i for i, ln in enumerate(lines) if ln.strip()]
        if not candidates:
            raise DemoError(f"{path} is empty: there is nothing to learn from or type after")
        index = candidates[-1]
    elif not 1 <= line <= len(lines):
        raise DemoError(f"{path} has {len(lines)} lines; --line {line} is not one of them")
    else:
        index = line - 1
    offset = sum(len(ln) + 1 for ln in lines[:index]) + len(lines[index])
    indent = _next_indent(lines[index])
    keystrokes = ["\n" + indent, *_line_start(lines, index, indent)]
    uri = uri_of_path(path.resolve())
    title = f"{path}, typing after line {index + 1}"
    return Scenario(path.resolve().parent, {uri: text}, uri, offset, keystrokes, title)


def _next_indent(line: str) -> str:
    indent = line[: len(line) - len(line.lstrip())]
    return indent + "    " if line.rstrip().endswith((":", "{")) else indent


def _line_start(lines: list[str], index: int, indent: str) -> str:
    """The start of another line of the file, preferably one indented like the new line."""
    others = [ln for i, ln in enumerate(lines) if i != index and len(ln.strip()) >= 4]
    same = [ln for ln in others if ln.startswith(indent) and not ln[len(indent)].isspace()]
    chosen = (same or others or ["pass"])[-1].strip()
    return chosen[: max(4, min(12, len(chosen) // 2))]


# -- the servers ------------------------------------------------------------------------------


def initialization_options(settings: Settings, online: bool) -> dict[str, Any]:
    """The settings as an editor sends them (endpoints included), paced for the demo: no
    debounce, short suggestions; the offline engine only when no model server answers."""
    options = settings_to_json(settings)
    options["ollama"]["host"] = settings.ollama.resolved_host
    completion = options["completion"]
    completion["debounceMs"] = 0
    completion["maxTokens"] = min(completion["maxTokens"], MAX_TOKENS)
    if not online:
        completion["backend"] = "offline"
    if not settings.endpoints:
        del options["endpoints"]
    return options


# -- the session ------------------------------------------------------------------------------


class Demo:
    def __init__(self, console: Console, plain: bool, endpoint_names: tuple[str, ...] = ()) -> None:
        self.console = console
        self.plain = plain
        self.results = Results()
        self.client = LspClient(on_message=self._server_message)
        longest = max((len(name) for name in endpoint_names), default=0)
        # "type-through (NAME) " must fit, so the typed lines stay aligned.
        self.label_width = max(16, len("type-through () ") + longest)

    def _server_message(self, message: str) -> None:
        if message and message not in self.results.messages:
            self.results.messages.append(message)
            self.console.print(Text(f"  server: {message}", style="yellow"))

    async def run(self, scenario: Scenario, options: dict[str, Any]) -> Results:
        if self.plain:
            await self.client.start()
        else:
            with self.console.status("starting the language server…"):
                await self.client.start()
        try:
            await self.client.initialize(uri_of_path(scenario.root), options, INITIALIZE_TIMEOUT_S)
            for uri, text in scenario.files.items():
                self.client.open(uri, text, language_for(None, uri).name)
            offset = await self._type(scenario, scenario.offset, scenario.keystrokes, "typing")
            last = self.results.answers[-1] if self.results.answers else None
            if last is not None and last.suggestion:
                chars = list(last.suggestion.split("\n", 1)[0][:MAX_TYPE_THROUGH])
                await self._type(scenario, offset, chars, "accepting the suggestion")
            else:
                self.console.print("\nNo suggestion at the end of the typing to accept.")
        finally:
            await self.client.stop()
        return self.results

    async def _type(self, scenario: Scenario, offset: int, keys: list[str], phase: str) -> int:
        self.console.print(Text(f"\n{phase}:", style="bold"))
        for key in keys:
            offset = self.client.insert(scenario.uri, offset, key)
            answer = await self._ask(scenario.uri, offset)
            (self.results.answers if phase == "typing" else self.results.type_through).append(
                answer
            )
            self.console.print(self._row(answer), soft_wrap=True)
        return offset

    async def _ask(self, uri: str, offset: int) -> Answer:
        seen = len(self.client.statuses)
        started = time.perf_counter()
        suggestion = await self.client.inline_completion(uri, offset, COMPLETION_TIMEOUT_S)
        elapsed = (time.perf_counter() - started) * 1000
        status = await self.client.ready_status(seen) if suggestion else None
        source = str(status.get("source", "?")) if status else ("?" if suggestion else "")
        engine = str(status.get("engine") or "") if status else ""
        text = self.client.documents[uri].text
        line = text[text.rfind("\n", 0, offset) + 1 : offset]
        return Answer(line, suggestion, elapsed, source, engine)

    def _row(self, answer: Answer) -> Text:
        row = Text(f"  {answer.latency_ms:7.1f} ms  ")
        label = SOURCE_LABELS.get(answer.source, answer.source) if answer.suggestion else "-"
        if answer.endpoint:
            label += f" ({answer.endpoint})"
        style = {"model": "green", "type-through": "cyan", "offline": "magenta"}.get(answer.source)
        row.append(f"{label:<{self.label_width}}", style=style or "dim")
        row.append(answer.typed_line.lstrip())
        if not answer.suggestion:
            return row
        first, *more = answer.suggestion.split("\n")
        row.append("|" if self.plain else "▏", style="bold")
        row.append(first, style="dim italic")
        if more:
            row.append(f"  (+{len(more)} more lines)", style="dim")
        return row


# -- output -----------------------------------------------------------------------------------


def print_summary(
    console: Console, results: Results, diagnostics: int, settings: Settings | None = None
) -> None:
    suggested = [a for a in results.answers + results.type_through if a.suggestion]
    through = [a for a in results.type_through if a.source == "type-through"]
    table = Table(title="summary", show_header=False, box=None, title_justify="left")
    table.add_column("what")
    table.add_column("value", justify="right")
    table.add_row("keystrokes", str(len(results.answers) + len(results.type_through)))
    table.add_row("suggestions", str(len(suggested)))
    table.add_row("median latency", _median_ms(suggested))
    for source in ("model", "cache", "offline"):
        count = sum(1 for a in suggested if a.source == source)
        if count:
            table.add_row(f"from {SOURCE_LABELS[source]}", str(count))
    served = Counter(a.endpoint for a in suggested if a.endpoint)
    for name, count in served.most_common():
        table.add_row(f"served by {name}", str(count))
    table.add_row("type-through", str(len(through)))
    if through:
        table.add_row("median latency, type-through", _median_ms(through))
    if diagnostics:
        table.add_row("review diagnostics", str(diagnostics))
    console.print()
    console.print(table)
    if served:
        console.print(_served_sentence(served, suggested, settings), soft_wrap=True)
    if not suggested:
        console.print("No suggestion came during this demo.")
    elif through:
        console.print(
            f"Typed through {len(through)} characters of a suggestion: answered from it, "
            "without a new model request."
        )


def _served_sentence(
    served: Counter[str], suggested: list[Answer], settings: Settings | None
) -> str:
    known = {e.name: e for e in settings.all_endpoints()} if settings else {}
    parts = []
    for name, count in served.most_common():
        endpoint = known.get(name)
        where = endpoint.description if endpoint else name
        model = next(served_by(a.engine).model for a in suggested if a.endpoint == name)
        parts.append(f"{where}, model {model}: {count} suggestion{'s' if count != 1 else ''}")
    return "Served by " + "; ".join(parts) + "."


def _median_ms(answers: list[Answer]) -> str:
    return f"{statistics.median(a.latency_ms for a in answers):.1f} ms" if answers else "-"


async def run_demo(
    host: str,
    model: str | None,
    file: str | None,
    line: int | None,
    plain: bool,
    *,
    settings: Settings | None = None,
) -> int:
    """Runs the demo. `settings` (e.g. from a `--settings` file) are used as an editor's;
    without them, Ollama at `host` serves `model` (or the default model)."""
    console = make_console(plain)
    scenario = file_scenario(Path(file), line) if file else sample_scenario()
    settings = _with_overrides(settings or Settings(), host if settings is None else None, model)
    console.print(Text(f"lsp-assist demo: {scenario.title}", style="bold"))
    if settings.endpoints:
        online = await _say_which_endpoints_answer(console, settings)
    else:
        online = await _say_whether_ollama_answers(console, settings, model)
    names = tuple(e.name for e in settings.endpoints)
    demo = Demo(console, plain, names)
    try:
        results = await demo.run(scenario, initialization_options(settings, online))
    except ServerGone as exc:
        raise DemoError(str(exc)) from None
    diagnostics = sum(len(found) for found in demo.client.diagnostics.values())
    print_summary(console, results, diagnostics, settings)
    return 0


def _with_overrides(settings: Settings, host: str | None, model: str | None) -> Settings:
    if host:
        settings = dataclasses.replace(
            settings, ollama=dataclasses.replace(settings.ollama, host=host)
        )
    if model:
        settings = dataclasses.replace(
            settings, completion=dataclasses.replace(settings.completion, model=model)
        )
    return settings


async def _say_whether_ollama_answers(
    console: Console, settings: Settings, model: str | None
) -> bool:
    host = settings.ollama.resolved_host
    online = await ollama_answers(host)
    if online:
        console.print(f"Ollama answers at {host}: suggestions come from the model.")
    else:
        console.print(f"No model server answered at {host}.", style="yellow")
        console.print("The offline engine (learned from the project's own code) is serving.")
        console.print(
            f"  fix: install Ollama ({INSTALL_URL}), then `ollama pull {model or DEFAULT_MODEL}`",
            soft_wrap=True,
        )
    return online


async def _say_which_endpoints_answer(console: Console, settings: Settings) -> bool:
    answering = await answering_endpoints(settings)
    known = {e.name: e for e in settings.all_endpoints()}
    for name, answers in answering.items():
        where = known[name].description
        if answers:
            console.print(f"{where} answers: completions can come from it.", soft_wrap=True)
        else:
            console.print(f"{where} does not answer.", style="yellow", soft_wrap=True)
    online = any(answering.values())
    if not online:
        tried = ", ".join(answering) or "none (completion.endpoint names no endpoint)"
        console.print(f"No model server answered (tried: {tried}).", style="yellow")
        console.print("The offline engine (learned from the project's own code) is serving.")
        console.print("  fix: start them; `lsp-assist doctor` says what else to fix")
    return online


def make_console(plain: bool) -> Console:
    if plain:
        return Console(color_system=None, highlight=False, emoji=False, width=200)
    return Console(highlight=False)


def plain_output(requested: bool) -> bool:
    return requested or not sys.stdout.isatty()
