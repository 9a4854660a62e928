"""Specifications of the tags extracted from a file: definitions with their signature, container
and doc lines, and imports, per language, with the real grammars."""

from __future__ import annotations

import sysconfig
import time
from pathlib import Path

import pytest
import tree_sitter

from lsp_assist.context.extract import extract_tags
from lsp_assist.context.tags import FileTags, Import, Symbol
from lsp_assist.languages import LANGUAGES


def tags_of(language: str, text: str, path: str = "pkg/mod.x") -> FileTags:
    spec = LANGUAGES[language]
    assert spec.grammar is not None
    source = text.encode()
    tree = tree_sitter.Parser(spec.grammar).parse(source)
    return extract_tags(tree, source, spec, path)


def by_name(tags: FileTags) -> dict[str, Symbol]:
    return {s.name: s for s in tags.symbols}


def shape(symbol: Symbol) -> tuple[str, str, str, str]:
    return (symbol.kind, symbol.container, symbol.signature, symbol.doc)


# -- Python ----------------------------------------------------------------------------------

PYTHON = '''\
"""Module doc."""
import a.b
import a.b as c
from x import y as z, w
from . import sibling
from ..pkg import (helper, other as o)
from m import *

MAX_RETRIES = 3
timeout = 5


class Client(Base):
    """Talks to the server.

    Not shown: the second paragraph.
    """

    @staticmethod
    def send(self, request: Request,
             *, timeout: float = 5) -> Response:
        """Sends one request.
        Waits for the answer.
        Retries on failure.
        Never shown: a fourth line.
        """

        def local_helper():
            pass

        return request


# Parses a thing.
def parse(text):
    return text
'''


def test_python_definitions_have_kind_container_signature_and_doc() -> None:
    found = by_name(tags_of("python", PYTHON, "pkg/client.py"))
    assert shape(found["Client"]) == ("class", "", "class Client(Base):", "Talks to the server.")
    assert shape(found["send"]) == (
        "method",
        "Client",
        "def send(self, request: Request, *, timeout: float = 5) -> Response:",
        "Sends one request.\nWaits for the answer.\nRetries on failure.",
    )
    assert shape(found["parse"]) == ("function", "", "def parse(text):", "Parses a thing.")
    assert (found["send"].line, found["send"].end_line) == (19, 30)  # decorator excluded
    assert found["send"].path == "pkg/client.py"


def test_python_constants_are_upper_case_module_assignments() -> None:
    found = by_name(tags_of("python", PYTHON))
    assert shape(found["MAX_RETRIES"]) == ("constant", "", "MAX_RETRIES = 3", "")
    assert "timeout" not in found
    assert "local_helper" not in found  # local to a function


def test_python_imports() -> None:
    assert tags_of("python", PYTHON).imports == (
        Import("a.b", "", "a"),
        Import("a.b", "", "c"),
        Import("x", "y", "z"),
        Import("x", "w", "w"),
        Import(".", "sibling", "sibling"),
        Import("..pkg", "helper", "helper"),
        Import("..pkg", "other", "o"),
        Import("m", "*", ""),
    )


# -- JavaScript / TypeScript ------------------------------------------------------------------

TYPESCRIPT = """\
import def, {a as b, c} from "./x";
import * as ns from "../ns";
import "./side-effect";
const fs = require("fs");
const { readFile, write: put } = require("./rf");
export { send, recv as r } from "./net";
export * from "./all";
export * as grp from "./grp";

/**
 * Adds two numbers.
 * @param a the first
 */
export function add(a: number, b: number): number {
  return a + b;
}
export const MAX_SIZE = 10;
const mul = (a: number, b: number): number => a * b;
/** A shape. */
export interface Shape {
  area(): number;
}
type Id = string | number;
enum Color { Red }
export default class Box<T> extends Base implements Shape {
  // The area.
  area(): number {
    function inner() {}
    return 1;
  }
}
"""


@pytest.mark.parametrize("language", ["typescript", "tsx"])
def test_typescript_definitions(language: str) -> None:
    found = by_name(tags_of(language, TYPESCRIPT))
    assert shape(found["add"]) == (
        "function",
        "",
        "function add(a: number, b: number): number",
        "Adds two numbers.\n@param a the first",
    )
    assert shape(found["MAX_SIZE"]) == ("constant", "", "export const MAX_SIZE = 10;", "")
    assert shape(found["mul"])[:3] == (
        "function",
        "",
        "const mul = (a: number, b: number): number =>",
    )
    assert shape(found["Shape"]) == ("class", "", "interface Shape", "A shape.")
    assert shape(found["Id"])[:3] == ("class", "", "type Id = string | number")
    assert shape(found["Color"])[:3] == ("class", "", "enum Color")
    assert shape(found["Box"])[:3] == ("class", "", "class Box<T> extends Base implements Shape")
    assert [s.container for s in found.values() if s.name == "area"] == ["Box"]
    assert shape(found["area"])[3] == "The area."
    assert "inner" not in found and "fs" not in found


def test_typescript_imports_and_reexports() -> None:
    tags = tags_of("typescript", TYPESCRIPT)
    assert tags.imports == (
        Import("./x", "default", "def"),
        Import("./x", "a", "b"),
        Import("./x", "c", "c"),
        Import("../ns", "", "ns"),
        Import("fs", "", "fs"),
        Import("./rf", "readFile", "readFile"),
        Import("./rf", "write", "put"),
    )
    assert tags.exports == (
        Import("./net", "send", "send"),
        Import("./net", "recv", "r"),
        Import("./all", "*", ""),
        Import("./grp", "*", "grp"),
    )


def test_javascript_functions_classes_and_requires() -> None:
    text = (
        'const net = require("./net");\n'
        "/** Sends it. */\n"
        "function send(request) { return net.post(request); }\n"
        "class Queue { push(item) {} }\n"
        "export const handler = async (event) => { return event; };\n"
        'export { send } from "./send";\n'
    )
    tags = tags_of("javascript", text)
    found = by_name(tags)
    assert shape(found["send"]) == ("function", "", "function send(request)", "Sends it.")
    assert shape(found["push"])[:3] == ("method", "Queue", "push(item)")
    assert shape(found["handler"])[:3] == ("function", "", "const handler = async (event) =>")
    assert tags.imports == (Import("./net", "", "net"),)
    assert tags.exports == (Import("./send", "send", "send"),)


# -- Go -----------------------------------------------------------------------------------------

GO = """\
package net

import "fmt"
import (
\tstr "strings"
\t"example.com/x/client/v2"
\t"gopkg.in/yaml.v3"
)

// MaxSize is the cap.
// It is in bytes.
const MaxSize = 10

const (
\tA = 1
\tB = 2
)

// Point is a point.
type Point struct {
\tX int
}

type Shape interface {
\tArea() float64
}

type ID = string

// Move moves the point.
func (p *Point) Move(dx int) error {
\treturn nil
}

func New() *Point { return &Point{} }
"""


def test_go_definitions() -> None:
    found = by_name(tags_of("go", GO))
    assert shape(found["MaxSize"]) == (
        "constant",
        "",
        "const MaxSize = 10",
        "MaxSize is the cap.\nIt is in bytes.",
    )
    assert shape(found["A"])[:3] == ("constant", "", "const A = 1")
    assert shape(found["Point"]) == ("class", "", "type Point struct", "Point is a point.")
    assert shape(found["Shape"])[:3] == ("class", "", "type Shape interface")
    assert shape(found["ID"])[:3] == ("class", "", "type ID = string")
    assert shape(found["Move"]) == (
        "method",
        "Point",
        "func (p *Point) Move(dx int) error",
        "Move moves the point.",
    )
    assert shape(found["New"])[:3] == ("function", "", "func New() *Point")


def test_go_imports_and_package() -> None:
    tags = tags_of("go", GO)
    assert tags.package == "net"
    assert tags.imports == (
        Import("fmt", "", "fmt"),
        Import("strings", "", "str"),
        Import("example.com/x/client/v2", "", "client"),
        Import("gopkg.in/yaml.v3", "", "yaml"),
    )


# -- Rust ---------------------------------------------------------------------------------------

RUST = """\
use std::collections::HashMap;
use crate::net::{client, Server as S, self};
use super::x::*;
use crate::net;
use a::b::{c::{d, e}, f};

/// A point.
/// In two dimensions.
#[derive(Debug)]
pub struct Point { x: i32 }

pub const MAX: usize = 3;
static NAME: &str = "x";
type Result2 = Result<(), Error>;

/** Has an area. */
pub trait Shape {
    fn area(&self) -> f64;
}

impl<T> Shape for Wrapper<T> {
    /// The area.
    fn area(&self) -> f64 { 1.0 }
}

pub enum Kind { A }

pub fn free(x: i32) -> i32 {
    fn nested() {}
    x
}
"""


def test_rust_definitions() -> None:
    tags = tags_of("rust", RUST)
    found = by_name(tags)
    assert shape(found["Point"]) == (
        "class",
        "",
        "pub struct Point",
        "A point.\nIn two dimensions.",
    )
    assert shape(found["MAX"])[:3] == ("constant", "", "pub const MAX: usize = 3")
    assert shape(found["NAME"])[:3] == ("constant", "", 'static NAME: &str = "x"')
    assert shape(found["Result2"])[:3] == ("class", "", "type Result2 = Result<(), Error>")
    assert shape(found["Shape"]) == ("class", "", "pub trait Shape", "Has an area.")
    areas = [shape(s) for s in tags.symbols if s.name == "area"]
    assert areas == [
        ("method", "Shape", "fn area(&self) -> f64", ""),
        ("method", "Wrapper", "fn area(&self) -> f64", "The area."),
    ]
    assert shape(found["Kind"])[:3] == ("class", "", "pub enum Kind")
    assert shape(found["free"])[:3] == ("function", "", "pub fn free(x: i32) -> i32")
    assert "nested" not in found


def test_rust_uses() -> None:
    assert tags_of("rust", RUST).imports == (
        Import("std::collections", "HashMap", "HashMap"),
        Import("crate::net", "client", "client"),
        Import("crate::net", "Server", "S"),
        Import("crate::net", "", "net"),
        Import("super::x", "*", ""),
        Import("crate::net", "", "net"),
        Import("a::b::c", "d", "d"),
        Import("a::b::c", "e", "e"),
        Import("a::b", "f", "f"),
    )


# -- the other languages: definitions ----------------------------------------------------------

OTHERS = {
    "java": (
        "/** A cart. */\nclass Cart {\n  double total(double tax) { return 1; }\n}\n",
        {
            "Cart": ("class", "", "class Cart", "A cart."),
            "total": ("method", "Cart", "double total(double tax)", ""),
        },
    ),
    "c": (
        "// Adds.\nstatic int *add(int a, int b) {\n  return 0;\n}\nstruct point { int x; };\n",
        {
            "add": ("function", "", "static int *add(int a, int b)", "Adds."),
            "point": ("class", "", "struct point", ""),
        },
    ),
    "cpp": (
        "int Shape::area(int n) const {\n  return n;\n}\n",
        {"area": ("method", "Shape", "int Shape::area(int n) const", "")},
    ),
    "lua": (
        "-- Greets.\nlocal function greet(name)\n  print(name)\nend\n",
        {"greet": ("function", "", "local function greet(name)", "Greets.")},
    ),
}


@pytest.mark.parametrize("language", sorted(OTHERS))
def test_other_languages_have_their_definitions(language: str) -> None:
    text, expected = OTHERS[language]
    found = by_name(tags_of(language, text))
    assert {name: shape(found[name]) for name in expected} == expected


def test_a_signature_is_one_line_and_capped() -> None:
    params = ", ".join(f"argument_{n}: int = {n}" for n in range(40))
    found = by_name(tags_of("python", f"def wide(\n    {params}\n):\n    pass\n"))
    assert "\n" not in found["wide"].signature
    assert 150 < len(found["wide"].signature) <= 200


def test_tags_for_a_2000_line_python_file_take_at_most_20_ms() -> None:
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    source = (stdlib / "enum.py").read_bytes()  # ~2,000 lines, 100 definitions
    spec = LANGUAGES["python"]
    assert spec.grammar is not None
    tree = tree_sitter.Parser(spec.grammar).parse(source)
    extract_tags(tree, source, spec, "enum.py")  # queries compiled
    timings = []
    for _ in range(5):
        started = time.perf_counter()
        tags = extract_tags(tree, source, spec, "enum.py")
        timings.append(time.perf_counter() - started)
    assert len(tags.symbols) > 50
    assert min(timings) <= 0.020
