"""Review units: which functions a file has, what each is called, and when it counts as changed."""

from __future__ import annotations

import tree_sitter

from lsp_assist.languages import language_for
from lsp_assist.review.units import ReviewUnit, file_context, find_units, unit_at


def parse(text: str, language: str) -> tree_sitter.Tree:
    return tree_sitter.Parser(language_for(language).grammar).parse(text.encode("utf-8"))


def units(text: str, language: str = "python") -> list[ReviewUnit]:
    return find_units(parse(text, language), text, language_for(language))


def names(text: str, language: str = "python") -> list[str]:
    return [unit.name for unit in units(text, language)]


def only_fingerprint(text: str, language: str = "python") -> str:
    (unit,) = units(text, language)
    return unit.fingerprint


def context(text: str, language: str = "python") -> str:
    return file_context(parse(text, language), text)


# -- which units, and their names ---------------------------------------------------------------


def test_python_functions_are_units_in_source_order() -> None:
    text = "def first():\n    return 1\n\n\ndef second():\n    return 2\n"
    assert names(text) == ["first", "second"]


def test_a_unit_spans_whole_lines_from_its_first_line_to_its_last_character() -> None:
    text = "x = 1\n\ndef add(a, b):\n    return a + b\n\ny = 2\n"
    (unit,) = units(text)
    assert unit.text == "def add(a, b):\n    return a + b"
    assert (unit.start, unit.end) == (text.index("def add"), text.index("\n\ny = 2"))
    assert unit.first_line == 2
    assert unit.lines == ["def add(a, b):", "    return a + b"]


def test_a_method_is_named_by_its_class_and_carries_the_class_header() -> None:
    text = "class Bank:\n    def withdraw(self, amount):\n        return amount\n"
    (unit,) = units(text)
    assert unit.name == "Bank.withdraw"
    assert unit.header == "class Bank:"
    assert unit.text.startswith("    def withdraw")


def test_a_top_level_function_has_no_header() -> None:
    (unit,) = units("def f():\n    pass\n")
    assert unit.header == ""


def test_a_method_of_a_nested_class_is_named_by_both_classes() -> None:
    text = "class Outer:\n    class Inner:\n        def m(self):\n            pass\n"
    (unit,) = units(text)
    assert unit.name == "Outer.Inner.m"
    assert unit.header == "class Inner:"


def test_a_decorated_function_starts_at_its_first_decorator() -> None:
    text = "import functools\n\n@functools.cache\n@trace(level=2)\ndef f():\n    return 1\n"
    (unit,) = units(text)
    assert unit.name == "f"
    assert unit.first_line == 2
    assert unit.text.startswith("@functools.cache\n@trace(level=2)\ndef f():")


def test_a_decorated_method_starts_at_its_indented_decorator_line() -> None:
    text = "class A:\n    @property\n    def size(self):\n        return 1\n"
    (unit,) = units(text)
    assert unit.name == "A.size"
    assert unit.text.startswith("    @property\n")


def test_a_nested_function_belongs_to_the_outer_unit() -> None:
    text = "def outer():\n    def inner():\n        return 1\n    return inner()\n"
    (unit,) = units(text)
    assert unit.name == "outer"
    assert "def inner" in unit.text


def test_a_repeated_name_gets_a_number_from_the_second_on() -> None:
    text = "def f():\n    return 1\n\ndef f():\n    return 2\n\ndef f():\n    return 3\n"
    assert names(text) == ["f", "f#2", "f#3"]


def test_javascript_function_declarations_methods_and_arrow_constants_are_units() -> None:
    text = (
        "function add(a, b) {\n  return a + b;\n}\n"
        "const mul = (a, b) => {\n  return a * b;\n};\n"
        "const div = function (a, b) {\n  return a / b;\n};\n"
        "class Shape {\n  area() {\n    return 0;\n  }\n}\n"
    )
    assert names(text, "javascript") == ["add", "mul", "div", "Shape.area"]


def test_a_javascript_arrow_constant_unit_includes_its_declaration_keyword() -> None:
    text = "const mul = (a, b) => a * b;\n"
    (unit,) = units(text, "javascript")
    assert unit.text == "const mul = (a, b) => a * b;"


def test_an_exported_function_starts_at_export() -> None:
    text = "export const h = async (a) => {\n  return a;\n};\nexport function g() {}\n"
    found = units(text, "typescript")
    assert [u.name for u in found] == ["h", "g"]
    assert all(u.text.startswith("export ") for u in found)


def test_a_constant_that_is_not_a_function_is_not_a_unit() -> None:
    assert names("const limit = 10;\nlet name = 'x';\n", "javascript") == []


def test_javascript_functions_nested_in_a_function_belong_to_it() -> None:
    text = "function outer() {\n  function inner() {}\n  const g = () => 1;\n}\n"
    assert names(text, "javascript") == ["outer"]


def test_typescript_functions_methods_and_arrows_are_units() -> None:
    text = (
        "function add(a: number, b: number): number {\n  return a + b;\n}\n"
        "class Shape {\n  area(): number {\n    return 0;\n  }\n}\n"
        "const twice = (x: number): number => x * 2;\n"
    )
    assert names(text, "typescript") == ["add", "Shape.area", "twice"]


def test_go_methods_are_named_by_their_receiver_type() -> None:
    text = (
        "package shapes\n\n"
        "func (p *Point) Move(dx int) {\n\tp.x += dx\n}\n\n"
        "func (p Point) X() int {\n\treturn p.x\n}\n\n"
        "func New() *Point {\n\treturn &Point{}\n}\n"
    )
    assert names(text, "go") == ["Point.Move", "Point.X", "New"]


def test_go_methods_of_a_generic_type_are_named_by_the_type_not_its_parameter() -> None:
    text = "package stack\n\nfunc (s *Stack[T]) Push(v T) {\n\ts.items = append(s.items, v)\n}\n"
    assert names(text, "go") == ["Stack.Push"]


def test_rust_impl_methods_are_named_by_the_implemented_type() -> None:
    text = (
        "struct Point { x: i32 }\n\n"
        "impl Point {\n    fn area(&self) -> i32 {\n        0\n    }\n}\n\n"
        "fn main() {\n}\n"
    )
    found = units(text, "rust")
    assert [u.name for u in found] == ["Point.area", "main"]
    assert found[0].header == "impl Point {"


def test_java_methods_and_constructors_are_named_by_their_class() -> None:
    text = (
        "class Account {\n"
        "    Account() {\n    }\n"
        "    int balance() {\n        return 0;\n    }\n"
        "    int balance(int at) {\n        return at;\n    }\n"
        "}\n"
    )
    assert names(text, "java") == ["Account.Account", "Account.balance", "Account.balance#2"]


def test_c_functions_are_units_even_behind_pointer_declarators() -> None:
    text = (
        "#include <stdio.h>\n\n"
        "int add(int a, int b) {\n    return a + b;\n}\n\n"
        'static char *name(void) {\n    return "x";\n}\n\n'
        "int prototype(int a);\n"
    )
    assert names(text, "c") == ["add", "name"]


def test_a_language_without_review_units_has_none() -> None:
    spec = language_for("plaintext")
    assert spec.grammar is None
    tree = parse("x = 1\n", "python")  # any tree: the language decides
    assert find_units(tree, "def f():\n    pass\n", spec) == []


def test_unit_at_finds_the_unit_around_an_offset_and_none_between_units() -> None:
    text = "def a():\n    return 1\n\n\ndef b():\n    return 2\n"
    found = units(text)
    assert unit_at(found, text.index("return 2")) is found[1]
    assert unit_at(found, text.index("\n\n\n") + 2) is None


# -- offsets with non-ASCII text ------------------------------------------------------------------


def test_non_ascii_text_before_a_unit_gives_str_offsets() -> None:
    text = "# café ☕ naïve 🐍\ns = 'ü'\n\ndef f():\n    return 'é'\n"
    (unit,) = units(text)
    assert unit.start == text.index("def f")
    assert unit.text == text[unit.start : unit.end] == "def f():\n    return 'é'"


def test_a_method_after_non_ascii_text_starts_at_its_line_start() -> None:
    text = "class Café:\n    '''Ünïcode'''\n    def prix(self):\n        return '€'\n"
    (unit,) = units(text)
    assert unit.name == "Café.prix"
    assert text[unit.start - 1] == "\n"
    assert unit.text == text[unit.start : unit.end]
    assert unit.text.startswith("    def prix")


# -- the fingerprint: what is a change ----------------------------------------------------------

BASE = (
    "def total(items):\n"
    "    result = 0\n"
    "    for item in items:\n"
    "        result += item\n"
    "    return result\n"
)


def test_editing_a_comment_keeps_the_fingerprint() -> None:
    commented = BASE.replace("result = 0\n", "result = 0  # start empty\n")
    edited = commented.replace("start empty", "nothing yet")
    assert only_fingerprint(BASE) == only_fingerprint(commented) == only_fingerprint(edited)


def test_adding_a_comment_line_keeps_the_fingerprint() -> None:
    commented = BASE.replace("    return", "    # the sum\n    return")
    assert only_fingerprint(commented) == only_fingerprint(BASE)


def test_blank_lines_keep_the_fingerprint() -> None:
    spaced = BASE.replace("    return", "\n\n    return")
    assert only_fingerprint(spaced) == only_fingerprint(BASE)


def test_rewrapping_inside_brackets_keeps_the_fingerprint() -> None:
    one_line = "def f(x):\n    return g(x, 1, key=2)\n"
    wrapped = "def f(x):\n    return g(\n        x,\n        1,\n        key=2\n    )\n"
    assert only_fingerprint(one_line) == only_fingerprint(wrapped)


def test_spacing_around_operators_keeps_the_fingerprint() -> None:
    assert only_fingerprint("def f(a, b):\n    return a+b\n") == only_fingerprint(
        "def f(a, b):\n    return a + b\n"
    )


def test_editing_a_python_docstring_keeps_the_fingerprint() -> None:
    documented = BASE.replace("\n    result = 0", '\n    """Adds them."""\n    result = 0')
    rewritten = documented.replace("Adds them.", "The sum of the items, 0 for none.")
    assert only_fingerprint(documented) == only_fingerprint(rewritten) == only_fingerprint(BASE)


def test_editing_a_javascript_comment_keeps_the_fingerprint() -> None:
    plain = "function f(a) {\n  return a + 1;\n}\n"
    commented = "function f(a) {\n  // one more\n  return a + 1; /* really */\n}\n"
    assert only_fingerprint(plain, "javascript") == only_fingerprint(commented, "javascript")


def test_changing_an_operator_changes_the_fingerprint() -> None:
    changed = BASE.replace("result += item", "result -= item")
    assert only_fingerprint(changed) != only_fingerprint(BASE)


def test_changing_a_name_changes_the_fingerprint() -> None:
    changed = BASE.replace("return result", "return results")
    assert only_fingerprint(changed) != only_fingerprint(BASE)


def test_changing_a_literal_changes_the_fingerprint() -> None:
    changed = BASE.replace("result = 0", "result = 1")
    assert only_fingerprint(changed) != only_fingerprint(BASE)


def test_changing_a_plain_string_changes_the_fingerprint() -> None:
    assert only_fingerprint("def f():\n    return 'a'\n") != only_fingerprint(
        "def f():\n    return 'b'\n"
    )


def test_changing_a_string_with_an_escape_sequence_changes_the_fingerprint() -> None:
    # The string's text around `\n` is code too: "a\n" and "b\n" are different values.
    assert only_fingerprint("def f():\n    return 'a\\n'\n") != only_fingerprint(
        "def f():\n    return 'b\\n'\n"
    )


def test_changing_the_text_of_an_f_string_changes_the_fingerprint() -> None:
    assert only_fingerprint("def f(a):\n    return f'x{a}'\n") != only_fingerprint(
        "def f(a):\n    return f'y{a}'\n"
    )


def test_indenting_a_python_statement_into_a_block_changes_the_fingerprint() -> None:
    outside = "def f(x):\n    if x:\n        a()\n    b()\n"
    inside = "def f(x):\n    if x:\n        a()\n        b()\n"
    assert only_fingerprint(outside) != only_fingerprint(inside)


def test_dedenting_a_python_statement_out_of_a_loop_changes_the_fingerprint() -> None:
    dedented = BASE.replace("        result += item", "    result += item")
    assert only_fingerprint(dedented) != only_fingerprint(BASE)


def test_the_same_function_at_another_place_has_the_same_fingerprint() -> None:
    moved = "import os\n\n\nx = 1\n\n" + BASE
    assert units(moved)[0].fingerprint == only_fingerprint(BASE)


def test_a_fingerprint_covers_the_decorators() -> None:
    plain = "@cache\ndef f():\n    return 1\n"
    other = "@lru_cache\ndef f():\n    return 1\n"
    assert only_fingerprint(plain) != only_fingerprint(other)


# -- file context ---------------------------------------------------------------------------------


def test_file_context_is_the_top_level_python_imports() -> None:
    text = (
        "from __future__ import annotations\nimport os\n\nx = 1\nimport sys\n\n"
        "def f():\n    import json\n"
    )
    assert context(text) == "from __future__ import annotations\nimport os\nimport sys"


def test_file_context_of_a_file_without_imports_is_empty() -> None:
    assert context("def f():\n    pass\n") == ""


def test_file_context_keeps_multi_line_imports_whole() -> None:
    text = 'package m\n\nimport (\n\t"fmt"\n\t"os"\n)\n\nfunc main() {}\n'
    assert context(text, "go") == 'import (\n\t"fmt"\n\t"os"\n)'


def test_file_context_has_javascript_imports() -> None:
    text = "import fs from 'fs';\nimport { join } from 'path';\n\nfunction f() {}\n"
    assert context(text, "javascript") == "import fs from 'fs';\nimport { join } from 'path';"


def test_file_context_has_rust_uses_and_java_imports() -> None:
    assert context("use std::io;\n\nfn main() {}\n", "rust") == "use std::io;"
    java = "package a;\nimport java.util.List;\nclass A {}\n"
    assert context(java, "java") == "import java.util.List;"


def test_file_context_lists_c_includes_one_per_line() -> None:
    text = "#include <stdio.h>\n#include <string.h>\n\nint x;\n"
    assert context(text, "c") == "#include <stdio.h>\n#include <string.h>"


def test_file_context_is_at_most_twenty_lines() -> None:
    text = "".join(f"import module{i}\n" for i in range(30))
    lines = context(text).split("\n")
    assert lines == [f"import module{i}" for i in range(20)]


def test_offsets_are_exact_after_a_lone_surrogate_and_other_non_ascii_text() -> None:
    # A lone surrogate (valid JSON, so an editor may send one) is 3 bytes in the tree's source;
    # decoding it with "replace" would count 3 characters and shift every unit after it.
    text = (
        'NAME = "\ud800 coût €"\n\n\n'
        "def f(x):\n    return x\n\n\n"
        "class A:\n    def g(self):\n        pass\n"
    )
    source = text.encode("utf-8", "surrogatepass")
    tree = tree_sitter.Parser(language_for("python").grammar).parse(source)
    f, g = find_units(tree, text, language_for("python"))
    assert f.start == text.index("def f") and f.text == "def f(x):\n    return x"
    assert g.start == text.index("    def g") and g.text.endswith("        pass")
    assert g.header == "class A:"
