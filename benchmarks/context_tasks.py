"""Cross-file call tasks for the context benchmark, found with tree-sitter.

A task is a call site `callee(` or `x.callee(` whose callee is defined exactly once in the
workspace (one file, one container; overloads and a TypeScript declaration plus its body count
as one) and in another file than the call: the file is cut right after the `(` and the cursor
put there. The prompt's context should then carry the callee's definition, which only the
workspace index can find, since the defining file is not open.

The definitions are found here, independently of the index under test, so that the benchmark
does not grade the index with its own answers. JavaScript `new X(` is not a call site (only
call expressions are), nor is a tagged template.
"""

from __future__ import annotations

import random
import re
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import tree_sitter

from lsp_assist.languages import LanguageSpec, language_named

FUNCTION_VALUES = frozenset(
    {"arrow_function", "function_expression", "function", "generator_function"}
)
PY_DEFINITIONS = {"function_definition", "class_definition"}
JS_DEFINITIONS = {
    "function_declaration",
    "generator_function_declaration",
    "function_signature",
    "method_definition",
    "method_signature",
    "abstract_method_signature",
    "class_declaration",
    "abstract_class_declaration",
    "variable_declarator",
}
CONTAINERS = {"class_definition", "class_declaration", "abstract_class_declaration", "class"}
FUNCTION_BODIES = {
    "function_definition",
    "lambda",
    "function_declaration",
    "generator_function_declaration",
    "method_definition",
    *FUNCTION_VALUES,
}
"""A definition inside one of these is local: no index of the workspace knows it."""
LITERAL_RECEIVERS = {
    *("string", "concatenated_string", "list", "dictionary", "integer", "float", "tuple"),
    *("template_string", "array", "object", "number", "regex"),
}
"""`", ".join(`, `[].concat(`: a method of a built-in type, whatever the workspace defines."""
JS_GLOBALS = {
    *("Promise", "Object", "Array", "JSON", "Math", "Reflect", "Number", "String", "Symbol"),
    *("console", "Date", "Buffer", "process", "globalThis", "window", "document"),
}
MAX_TASKS_PER_CALLEE = 5
"""So that `httpx.Client(` in every test does not make the benchmark about one class."""
HEADER_KEYWORDS = ("def", "class", "function", "func", "fn")
KEY_CHARS = 80


@dataclass(frozen=True)
class Definition:
    name: str
    path: str
    """Workspace-relative POSIX path."""
    container: str
    line: int
    """0-based."""
    header: str
    """The definition's first line, stripped (for reports)."""
    signature: str
    """The definition up to its body, on one line."""

    @property
    def key(self) -> str:
        """What the context text must hold (whitespace removed on both sides): the
        signature from its keyword (`def`, `function`, …) or else from the name, without the
        `{`, `:` or `;` that ends it, at most `KEY_CHARS` characters."""
        return self._key()[0]

    @property
    def keyword(self) -> bool:
        """The key starts with a keyword (`def send(`), not with the bare name (`send(`,
        which a call could also read as): see `holds_definition`."""
        return self._key()[1]

    def _key(self) -> tuple[str, bool]:
        header = self.signature
        start, keyword = header.find(self.name), False
        for word in HEADER_KEYWORDS:
            match = re.search(rf"\b{word}\*?\s+\*?{re.escape(self.name)}\b", header)
            if match:
                start, keyword = match.start(), True
                break
        text = header[max(start, 0) :].rstrip()
        text = text.removesuffix("{").removesuffix(";").rstrip().removesuffix(":")
        return squeezed(text)[:KEY_CHARS], keyword


def squeezed(text: str) -> str:
    return "".join(text.split())


_MODIFIERS = re.compile(
    r"\s*(?:(?:export|default|async|static|public|private|protected|readonly|abstract|override"
    r"|get|set|const|let|var|declare)\s+|\*\s*)*"
)


@cache
def _key_pattern(key: str, whole: bool) -> re.Pattern[str]:
    """`key` with any whitespace between its characters, not running on into a longer name."""
    return re.compile(r"\s*".join(map(re.escape, key)) + (r"(?![\w$])" if whole else ""))


def holds_definition(text: str, definition: Definition) -> bool:
    """Whether `text` (a context block) holds the header of `definition`.

    A key with its keyword is looked for anywhere, and must not run on into a longer name
    (`class Auth` is not `class AuthFlow`). A key that starts with the name must start a line,
    after modifiers (`async`, `static`, `export const`…), so that a call `read(name)` in some
    code window is not taken for the method `read(name) {`."""
    key = definition.key
    pattern = _key_pattern(key, len(key) < KEY_CHARS)
    if definition.keyword:
        return pattern.search(text) is not None
    for line in re.finditer(r"^", text, re.MULTILINE):
        start = _MODIFIERS.match(text, line.start())
        if start is not None and pattern.match(text, start.end()):
            return True
    return False


@dataclass(frozen=True)
class Task:
    repository: str
    path: str
    """The file the call is in (workspace-relative)."""
    language_id: str
    text: str
    """The whole file as on disk."""
    cursor: int
    """`str` offset right after the call's `(`."""
    callee: str
    line: int
    """0-based line of the call."""
    definition: Definition
    chain: tuple[str, ...]
    """The called name as the resolver is asked for it: ("send",) for `send(`,
    ("client", "send") for `client.send(`, ("self", "pool", "send") for `self.pool.send(`;
    "" stands for a receiver that is not a name (`f().send(` → ("", "send"))."""

    @property
    def cut(self) -> str:
        """The file cut right after the `(`: the cursor is at its end."""
        return self.text[: self.cursor]

    @property
    def rest_of_line(self) -> str:
        """What follows the `(` on the call's line: typed one character at a time."""
        end = self.text.find("\n", self.cursor)
        return self.text[self.cursor : end if end >= 0 else len(self.text)]


@dataclass
class ParsedFile:
    path: str
    language: LanguageSpec
    text: str
    source: bytes
    tree: tree_sitter.Tree


def source_files(root: Path) -> Iterator[tuple[str, LanguageSpec]]:
    """The workspace's source files we have a grammar for, sorted, with their language."""
    for path in sorted(root.rglob("*")):
        if not path.is_file():
            continue
        relative = path.relative_to(root).as_posix()
        spec = language_named(None, relative)
        if spec is not None and spec.grammar is not None:
            yield relative, spec


def parse_workspace(root: Path) -> list[ParsedFile]:
    parsed = []
    for relative, spec in source_files(root):
        grammar = spec.grammar
        assert grammar is not None
        text = (root / relative).read_text(encoding="utf-8", errors="replace")
        source = text.encode("utf-8")
        tree = tree_sitter.Parser(grammar).parse(source)
        parsed.append(ParsedFile(relative, spec, text, source, tree))
    return parsed


def _walk(node: tree_sitter.Node) -> Iterator[tree_sitter.Node]:
    cursor = node.walk()
    while True:
        assert cursor.node is not None
        yield cursor.node
        if cursor.goto_first_child():
            continue
        while not cursor.goto_next_sibling():
            if not cursor.goto_parent():
                return


def _name_text(node: tree_sitter.Node | None) -> str:
    return node.text.decode("utf-8", "replace") if node is not None and node.text else ""


def _container(node: tree_sitter.Node) -> str | None:
    """The enclosing class's name, "" at module level, None inside a function (local)."""
    parent = node.parent
    while parent is not None:
        if parent.type in CONTAINERS:
            return _name_text(parent.child_by_field_name("name"))
        if parent.type in FUNCTION_BODIES:
            return None
        parent = parent.parent
    return ""


def definitions_in(parsed: ParsedFile) -> Iterator[Definition]:
    wanted = PY_DEFINITIONS if parsed.language.name == "python" else JS_DEFINITIONS
    lines = parsed.text.splitlines()
    for node in _walk(parsed.tree.root_node):
        if node.type not in wanted:
            continue
        if node.type == "variable_declarator":
            value = node.child_by_field_name("value")
            if value is None or value.type not in FUNCTION_VALUES:
                continue
        name = _name_text(node.child_by_field_name("name"))
        if not name or not (name[0].isalpha() or name[0] in "_$"):
            continue
        container = _container(node)
        if container is None:
            continue
        line = node.start_point[0]
        header = lines[line].strip() if line < len(lines) else ""
        signature = " ".join(_signature_text(node, parsed.source).split())
        yield Definition(name, parsed.path, container, line, header, signature)


def _signature_text(node: tree_sitter.Node, source: bytes) -> str:
    """The definition's text before its body (all of it when it has none)."""
    owner = node
    if node.type == "variable_declarator":
        owner = node.child_by_field_name("value") or node
    body = owner.child_by_field_name("body")
    end = body.start_byte if body is not None else node.end_byte
    return source[node.start_byte : end].decode("utf-8", "replace")


def _chain(node: tree_sitter.Node, python: bool) -> tuple[str, ...]:
    if node.type in ("identifier", "this", "property_identifier"):
        return (_name_text(node),)
    if node.type in ("attribute", "member_expression"):
        field = "attribute" if python else "property"
        receiver = node.child_by_field_name("object")
        head = _chain(receiver, python) if receiver is not None else ("",)
        return (*head, _name_text(node.child_by_field_name(field)))
    return ("",)


def _call_sites(parsed: ParsedFile) -> Iterator[tuple[str, int, int, tuple[str, ...]]]:
    """(callee, byte offset right after the `(`, line, chain) of every call in the file."""
    python = parsed.language.name == "python"
    call_type = "call" if python else "call_expression"
    for node in _walk(parsed.tree.root_node):
        if node.type != call_type:
            continue
        function = node.child_by_field_name("function")
        arguments = node.child_by_field_name("arguments")
        if function is None or arguments is None:
            continue
        if parsed.source[arguments.start_byte : arguments.start_byte + 1] != b"(":
            continue  # a tagged template, or `f"..."`-like oddities
        if function.type == "identifier":
            name = _name_text(function)
        elif function.type in ("attribute", "member_expression"):
            receiver = function.child_by_field_name("object")
            if receiver is None or receiver.type in LITERAL_RECEIVERS:
                continue
            if not python and _name_text(receiver) in JS_GLOBALS:
                continue
            field = "attribute" if python else "property"
            name = _name_text(function.child_by_field_name(field))
        else:
            continue
        if name:
            yield name, arguments.start_byte + 1, arguments.start_point[0], _chain(function, python)


def unique_definitions(parsed: list[ParsedFile]) -> dict[str, Definition]:
    """Names defined in exactly one place (one file, one container), with that definition (the
    first one written, for overloads)."""
    places: dict[str, dict[tuple[str, str], Definition]] = defaultdict(dict)
    for file in parsed:
        for definition in definitions_in(file):
            places[definition.name].setdefault((definition.path, definition.container), definition)
    return {name: next(iter(found.values())) for name, found in places.items() if len(found) == 1}


def find_tasks(
    repository: str, root: Path, *, limit: int = 300, seed: int = 1234
) -> tuple[list[Task], int]:
    """Up to `limit` tasks of the workspace at `root` (at most `MAX_TASKS_PER_CALLEE` per
    callee), sampled with a fixed seed, and how many call sites qualified before sampling."""
    parsed = parse_workspace(root)
    unique = unique_definitions(parsed)
    by_callee: dict[str, list[Task]] = defaultdict(list)
    for file in parsed:
        for callee, byte, line, chain in _call_sites(file):
            definition = unique.get(callee)
            if definition is None or definition.path == file.path:
                continue
            if len(chain) == 1 and definition.container:
                continue  # a bare name is never a method: a local alias or a builtin
            cursor = len(file.source[:byte].decode("utf-8", "replace"))
            language_id = file.language.language_ids[0]
            task = Task(
                repository,
                file.path,
                language_id,
                file.text,
                cursor,
                callee,
                line,
                definition,
                chain,
            )
            by_callee[callee].append(task)
    chooser = random.Random(seed)
    total = sum(len(found) for found in by_callee.values())
    tasks: list[Task] = []
    for callee in sorted(by_callee):
        found = by_callee[callee]
        if len(found) > MAX_TASKS_PER_CALLEE:
            found = chooser.sample(found, MAX_TASKS_PER_CALLEE)
        tasks.extend(found)
    if len(tasks) > limit:
        tasks = chooser.sample(tasks, limit)
    return sorted(tasks, key=lambda t: (t.path, t.cursor)), total
