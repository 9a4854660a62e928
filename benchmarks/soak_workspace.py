"""The soak benchmark's workspace: generated source files in eight languages, and what is typed
into them.

Each file is a module of ordinary-looking functions (and, where the language has them, a
class or an `impl` of methods), 150 to 300 lines, the same on every run for a seed. Every
function takes `items`, `value` and `limit`, computes a `total` and a `count`, and ends with
`return total`: the line that the typist types new code in front of.

What is typed comes from `Language.blocks`: a few lines of statements that fit any of those
functions (level 0 at the function body's indentation, 1 one level deeper). One line per
language (`Language.flagged`) is what the scripted reviewer (`review_rules`) calls a bug, so
that reviews find something, and an undo takes it away again.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

Block = tuple[tuple[int, str], ...]


@dataclass(frozen=True)
class Language:
    language_id: str
    extension: str
    indent: str
    """One level of indentation."""
    comment: str
    header: str
    function: str
    """A top-level function's first line(s): {name}, {n}."""
    method: str
    """A method's first line(s) inside `class_open` (empty: no classes)."""
    class_open: str
    """{Name}, {n}; its body is one level deeper."""
    close: str
    """What ends a function or a class at its own indentation ("" for Python)."""
    body: tuple[str, ...]
    """Statements a function body is made of: the first two (defining `total` and `count`),
    then some of the others in this order (an entry of several lines is one group; a line
    indented by one level is nested)."""
    ret: str
    blocks: tuple[Block, ...]
    flagged: str
    """The block line the scripted reviewer flags."""


PYTHON = Language(
    "python",
    ".py",
    "    ",
    "#",
    '"""{Name} bookkeeping."""\n\nfrom __future__ import annotations\n\nimport logging\n\n'
    "log = logging.getLogger(__name__)\n\n\n",
    "def {name}(items: list[int], value: int, limit: int = {n}) -> int:",
    "def {name}(self, items: list[int], value: int, limit: int = {n}) -> int:",
    'class {Name}:\n    """What {Name} holds."""\n\n'
    "    def __init__(self, limit: int = {n}) -> None:\n        self.limit = limit\n",
    "",
    (
        "total = 0",
        "count = len(items)",
        "for item in items:\n    total += item * value",
        "if count > limit:\n    total -= limit",
        'log.debug("%d items, total %d", count, total)',
        "total = max(total, value)",
        "ratio = total / max(count, 1)\ntotal += int(ratio)",
    ),
    "return total",
    (
        ((0, "if total > limit:"), (1, "total = limit")),
        ((0, "discount = value // 10 if count > 10 else 0"), (0, "total -= discount")),
        ((0, "for item in items[:count]:"), (1, "total += item")),
        ((0, "retries = 3"), (0, "while retries and total < 0:"), (1, "retries -= 1")),
        ((0, 'log.info("total %d over %d items", total, count)'),),
        ((0, 'summary = {"total": total, "count": count}'), (0, 'total = summary["total"]')),
        ((0, "average = total / count"),),
    ),
    "average = total / count",
)

_BRACES_CLOSE = "}"

TYPESCRIPT = Language(
    "typescript",
    ".ts",
    "  ",
    "//",
    'import { strict as assert } from "node:assert";\n\n'
    "export interface {Name}Entry {\n  id: string;\n  items: number[];\n  limit: number;\n}\n\n",
    "export function {name}(items: number[], value: number, limit = {n}): number {",
    "{name}(items: number[], value: number, limit = {n}): number {",
    "export class {Name}Store {\n  private readonly entries = new Map<string, number>();\n",
    _BRACES_CLOSE,
    (
        "let total = 0;",
        "const count = items.length;",
        "for (const item of items) {\n  total += item * value;\n}",
        "if (count > limit) {\n  total -= limit;\n}",
        "total = Math.max(total, value);",
        "assert.ok(count >= 0);",
    ),
    "return total;",
    (
        ((0, "if (total > limit) {"), (1, "total = limit;"), (0, "}")),
        (
            (0, "const discount = count > 10 ? Math.floor(value / 10) : 0;"),
            (0, "total -= discount;"),
        ),
        ((0, "for (const item of items.slice(0, count)) {"), (1, "total += item;"), (0, "}")),
        ((0, "console.debug(`total ${total} over ${count} items`);"),),
        ((0, "const average = total / count;"),),
    ),
    "const average = total / count;",
)

JAVASCRIPT = Language(
    "javascript",
    ".js",
    "  ",
    "//",
    '"use strict";\n\nconst assert = require("node:assert");\n\n',
    "function {name}(items, value, limit = {n}) {",
    "{name}(items, value, limit = {n}) {",
    "class {Name} {\n  constructor(limit = {n}) {\n    this.limit = limit;\n  }\n",
    _BRACES_CLOSE,
    TYPESCRIPT.body,
    "return total;",
    (
        ((0, "if (total > limit) {"), (1, "total = limit;"), (0, "}")),
        (
            (0, "const discount = count > 10 ? Math.floor(value / 10) : 0;"),
            (0, "total -= discount;"),
        ),
        ((0, "items.slice(0, count).forEach((item) => {"), (1, "total += item;"), (0, "});")),
        ((0, "const average = total / count;"),),
    ),
    "const average = total / count;",
)

GO = Language(
    "go",
    ".go",
    "\t",
    "//",
    'package {name}\n\nimport (\n\t"fmt"\n\t"strings"\n)\n\n'
    "type {Name} struct {\n\tName  string\n\tItems []int\n\tLimit int\n}\n\n",
    "func {Name}(items []int, value int, limit int) int {",
    "",
    "",
    _BRACES_CLOSE,
    (
        "total := 0",
        "count := len(items)",
        "for _, item := range items {\n\ttotal += item * value\n}",
        "if count > limit {\n\ttotal -= limit\n}",
        'fmt.Println(strings.Repeat("-", count), total)',
        "total = max(total, value)",
    ),
    "return total",
    (
        ((0, "if total > limit {"), (1, "total = limit"), (0, "}")),
        ((0, "discount := value / 10"), (0, "total -= discount")),
        ((0, "for _, item := range items[:count] {"), (1, "total += item"), (0, "}")),
        ((0, 'fmt.Printf("total %d over %d items\\n", total, count)'),),
        ((0, "average := total / count"),),
    ),
    "average := total / count",
)

RUST = Language(
    "rust",
    ".rs",
    "    ",
    "//",
    "use std::collections::HashMap;\n\n"
    "pub struct {Name} {\n    pub name: String,\n    pub items: Vec<i64>,\n"
    "    pub limit: i64,\n}\n\n",
    "pub fn {name}(items: &[i64], value: i64, limit: i64) -> i64 {",
    "pub fn {name}(&self, items: &[i64], value: i64, limit: i64) -> i64 {",
    "impl {Name} {\n    pub fn new(limit: i64) -> Self {\n"
    "        Self { name: String::new(), items: Vec::new(), limit }\n    }\n",
    _BRACES_CLOSE,
    (
        "let mut total = 0;",
        "let count = items.len() as i64;",
        "for item in items {\n    total += item * value;\n}",
        "if count > limit {\n    total -= limit;\n}",
        "let mut seen: HashMap<i64, i64> = HashMap::new();\nseen.insert(count, total);",
        "total = total.max(value);",
    ),
    "return total;",
    (
        ((0, "if total > limit {"), (1, "total = limit;"), (0, "}")),
        ((0, "let discount = if count > 10 { value / 10 } else { 0 };"), (0, "total -= discount;")),
        ((0, "for item in items.iter().take(count as usize) {"), (1, "total += item;"), (0, "}")),
        ((0, 'println!("total {} over {} items", total, count);'),),
        ((0, "let average = total / count;"),),
    ),
    "let average = total / count;",
)

JAVA = Language(
    "java",
    ".java",
    "    ",
    "//",
    "import java.util.List;\nimport java.util.Map;\n\n",
    "",
    "public int {name}(List<Integer> items, int value, int limit) {",
    "public class {Name} {\n    private final int limit = {n};\n",
    _BRACES_CLOSE,
    (
        "int total = 0;",
        "int count = items.size();",
        "for (int item : items) {\n    total += item * value;\n}",
        "if (count > limit) {\n    total -= limit;\n}",
        "Map<Integer, Integer> seen = Map.of(count, total);\ntotal = Math.max(total, seen.size());",
        "total = Math.max(total, value);",
    ),
    "return total;",
    (
        ((0, "if (total > limit) {"), (1, "total = limit;"), (0, "}")),
        ((0, "int discount = count > 10 ? value / 10 : 0;"), (0, "total -= discount;")),
        ((0, "for (int item : items.subList(0, count)) {"), (1, "total += item;"), (0, "}")),
        ((0, 'System.out.printf("total %d over %d items%n", total, count);'),),
        ((0, "int average = total / count;"),),
    ),
    "int average = total / count;",
)

C = Language(
    "c",
    ".c",
    "    ",
    "//",
    "#include <stddef.h>\n#include <stdio.h>\n\n",
    "int {name}(const int *items, size_t n, int value, int limit) {",
    "",
    "",
    _BRACES_CLOSE,
    (
        "int total = 0;",
        "size_t count = n;",
        "for (size_t i = 0; i < n; i++) {\n    total += items[i] * value;\n}",
        "if ((int)count > limit) {\n    total -= limit;\n}",
        'printf("%zu items\\n", count);',
        "total = total > value ? total : value;",
    ),
    "return total;",
    (
        ((0, "if (total > limit) {"), (1, "total = limit;"), (0, "}")),
        ((0, "int discount = count > 10 ? value / 10 : 0;"), (0, "total -= discount;")),
        ((0, "for (size_t i = 0; i < count; i++) {"), (1, "total += items[i];"), (0, "}")),
        ((0, 'printf("total %d over %zu items\\n", total, count);'),),
        ((0, "int average = total / (int)count;"),),
    ),
    "int average = total / (int)count;",
)

LUA = Language(
    "lua",
    ".lua",
    "  ",
    "--",
    "local M = {}\n\n",
    "function M.{name}(items, value, limit)",
    "",
    "",
    "end",
    (
        "local total = 0",
        "local count = #items",
        "for _, item in ipairs(items) do\n  total = total + item * value\nend",
        "if count > limit then\n  total = total - limit\nend",
        'print(("-"):rep(count), total)',
        "total = math.max(total, value)",
    ),
    "return total",
    (
        ((0, "if total > limit then"), (1, "total = limit"), (0, "end")),
        ((0, "local discount = count > 10 and value // 10 or 0"), (0, "total = total - discount")),
        ((0, "for i = 1, count do"), (1, "total = total + items[i]"), (0, "end")),
        ((0, "local average = total / count"),),
    ),
    "local average = total / count",
)

FILES = (
    ("orders.py", PYTHON),
    ("web/client.ts", TYPESCRIPT),
    ("server/handler.go", GO),
    ("invoices.py", PYTHON),
    ("core/buffer.rs", RUST),
    ("web/widgets.js", JAVASCRIPT),
    ("accounts.py", PYTHON),
    ("java/Inventory.java", JAVA),
    ("web/store.ts", TYPESCRIPT),
    ("native/ringbuf.c", C),
    ("shipments.py", PYTHON),
    ("server/cache.go", GO),
    ("editor/plugin.lua", LUA),
    ("scheduler.py", PYTHON),
    ("web/format.ts", TYPESCRIPT),
    ("core/config.rs", RUST),
    ("reports.py", PYTHON),
    ("server/queue.go", GO),
    ("web/router.ts", TYPESCRIPT),
    ("pricing.py", PYTHON),
)
"""The workspace's files in the order the typist visits them (languages interleaved, so a
smaller `--files` still has several)."""

_VERBS = ("compute", "merge", "apply", "collect", "settle", "check", "balance", "route", "split")
_NOUNS = ("order", "invoice", "account", "shipment", "ticket", "payment", "batch", "report")


@dataclass(frozen=True)
class SoakFile:
    name: str
    """Relative to the workspace root."""
    language: Language
    text: str


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


def _fill(template: str, **values: object) -> str:
    """`template` with {name}, {Name} and {n} replaced (its other braces are code)."""
    for key, value in values.items():
        template = template.replace("{" + key + "}", str(value))
    return template


def render_file(lang: Language, stem: str, rng: random.Random) -> str:
    """A module of `lang`: 8 to 14 functions, and a class (or `impl`) of 3 to 5 methods where
    the language has methods (of 8 to 14 where it has no functions: Java)."""
    fill = {"name": stem.lower(), "Name": _camel(stem), "n": rng.randint(10, 99)}
    parts = [_fill(lang.header, **fill)]
    used: set[str] = set()

    def fresh_name() -> str:
        while True:
            name = f"{rng.choice(_VERBS)}_{rng.choice(_NOUNS)}_{rng.randint(1, 99)}"
            if name not in used:
                used.add(name)
                return name

    def spelled(name: str) -> str:
        if lang.language_id in ("typescript", "javascript", "java"):
            head, *rest = name.split("_")
            return head + "".join(part.capitalize() for part in rest)
        return name

    if lang.method:
        parts.append(_fill(lang.class_open, **fill))
        for _ in range(rng.randint(3, 5) if lang.function else rng.randint(8, 14)):
            first = _fill(lang.method, name=spelled(fresh_name()), n=fill["n"])
            parts.append("\n" + _balanced_function(lang, rng, 1, first))
        parts.append(lang.close + "\n\n" if lang.close else "\n\n")
    if lang.function:
        for _ in range(rng.randint(8, 14)):
            name = spelled(fresh_name())
            first = _fill(lang.function, name=name, Name=_camel(name), n=fill["n"])
            parts.append(
                _balanced_function(lang, rng, 0, first) + "\n" + ("\n" if lang is PYTHON else "")
            )
    return "".join(parts).rstrip("\n") + "\n"


def _balanced_function(lang: Language, rng: random.Random, depth: int, first_line: str) -> str:
    """A function: the two defining statements, then two to four of the other groups."""
    pad = lang.indent * depth
    inner = pad + lang.indent
    groups = list(lang.body[2:])
    chosen = sorted(rng.sample(range(len(groups)), k=min(len(groups), rng.randint(2, 4))))
    lines = [f"{pad}{first_line}"]
    statements = [*lang.body[:2], *(line for i in chosen for line in groups[i].split("\n"))]
    for statement in statements:
        stripped = statement.lstrip(" \t")
        level = 1 if stripped != statement else 0
        lines.append(inner + lang.indent * level + stripped)
    lines.append(inner + lang.ret)
    if lang.close:
        lines.append(pad + lang.close)
    return "\n".join(lines) + "\n"


def build_soak_workspace(root: Path, files: int, seed: int = 12) -> list[SoakFile]:
    """Writes `files` generated source files under `root` (the names of `FILES`, numbered
    again past 20) and returns them."""
    rng = random.Random(seed)
    made: list[SoakFile] = []
    for index in range(files):
        name, lang = FILES[index % len(FILES)]
        if index >= len(FILES):
            stem, dot, ext = name.rpartition(".")
            name = f"{stem}_{index // len(FILES)}{dot}{ext}"
        stem = Path(name).stem.replace("-", "_")
        text = render_file(lang, stem, rng)
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        made.append(SoakFile(name, lang, text))
    return made


def review_rules(languages: list[Language], depths: int = 3) -> list[dict[str, str]]:
    """The scripted reviewer's rules (tests/fakes/review_script.py): each language's flagged
    line at every indentation a function body has in these files."""
    lines = {
        lang.indent * depth + lang.flagged: None
        for lang in languages
        for depth in range(1, depths + 1)
    }
    return [{"evidence": line} for line in lines]


def comment_for(path: str) -> str:
    """The line-comment prefix of the language of `path` (the fake's suggestion is a comment)."""
    for _, lang in FILES:
        if path.endswith(lang.extension):
            return lang.comment
    return "#"
