from __future__ import annotations

import pytest

from lsp_assist.documents import Document
from lsp_assist.syntax import SyntaxWindow, introduces_syntax_errors, wants_multiline

EXTENSIONS = {"python": "py", "javascript": "js", "go": "go", "lua": "lua", "plaintext": "txt"}


def document(text: str, language: str = "python") -> Document:
    return Document(f"file:///a.{EXTENSIONS[language]}", text, language_id=language)


@pytest.mark.parametrize(
    ("text", "before", "language"),
    [
        ("def add(a, b):\n    \n", "def add(a, b):\n    ", "python"),
        ("def f():\n", "def f():", "python"),
        ("x = 1\n\ny = 2\n", "x = 1\n", "python"),
        ("function f() {\n  \n}\n", "function f() {\n  ", "javascript"),
        ("func main() {\n", "func main() {", "go"),
        ("if x then\n", "if x then", "lua"),
        ("hello\n\n", "hello\n", "plaintext"),
    ],
    ids=[
        "empty-python-body",
        "after-colon",
        "blank-line",
        "empty-js-body",
        "after-brace",
        "lua-then",
        "plain-text-blank-line",
    ],
)
def test_a_new_block_or_statement_gets_a_multiline_suggestion(
    text: str, before: str, language: str
) -> None:
    assert wants_multiline(document(text, language), len(before)) is True


@pytest.mark.parametrize(
    ("text", "before"),
    [
        ("print(add(\n", "print(add("),
        ("total = a + \n", "total = a + "),
        ("foo(bar)\n", "foo("),
        ("x = [\n    \n]\n", "x = [\n    "),
        ("s = 'abc'\n", "s = 'ab"),
        ("# a comment\n", "# a com"),
    ],
    ids=["open-call", "mid-expression", "mid-line", "inside-list", "in-string", "in-comment"],
)
def test_the_middle_of_an_expression_gets_a_single_line(text: str, before: str) -> None:
    assert wants_multiline(document(text), len(before)) is False


def test_closing_brackets_after_the_cursor_do_not_make_it_mid_line() -> None:
    text = "def f():\n    return g(\n        \n    )\n"
    assert wants_multiline(document(text), text.index("        ") + 8) is False
    assert wants_multiline(document("function f() {}\n", "javascript"), len("function f() {"))


@pytest.mark.parametrize(
    ("text", "offset_after", "suggestion"),
    [
        ("def add(a, b):\n    return \n", "return ", "a + b"),
        ("print(add(\n", "print(add(", "1, 2)"),
        ("print(add()\n", "print(add(", "a, b"),
        ("for i in \n", "for i in ", "range(10):"),
        ("x = 1\n", "x = 1\n", "if x > 0:"),
        ("def add(a, b):\n    \n", "def add(a, b):\n    ", "total = a + b\n    return total"),
    ],
)
def test_suggestions_that_keep_the_code_parseable_are_accepted(
    text: str, offset_after: str, suggestion: str
) -> None:
    offset = text.index(offset_after) + len(offset_after)
    assert introduces_syntax_errors(document(text), offset, suggestion) is False


@pytest.mark.parametrize(
    ("text", "offset_after", "suggestion"),
    [
        ("def add(a, b):\n    return \n", "return ", ") ] } :: def"),
        ("x = 1\n", "x = ", "1 +* 2"),
        ("x = 1\n", "x = ", "(1, 2))"),
    ],
)
def test_suggestions_that_add_syntax_errors_are_flagged(
    text: str, offset_after: str, suggestion: str
) -> None:
    offset = text.index(offset_after) + len(offset_after)
    assert introduces_syntax_errors(document(text), offset, suggestion) is True


def test_brace_languages_may_open_a_block_that_the_user_will_close() -> None:
    text = "function f(a) {\n  \n}\n"
    offset = text.index("  ") + 2
    assert introduces_syntax_errors(document(text, "javascript"), offset, "if (a) {") is False
    assert introduces_syntax_errors(document(text, "javascript"), offset, "if (a) }}") is True


def test_checking_a_suggestion_leaves_the_buffer_and_its_tree_alone() -> None:
    doc = document("def add(a, b):\n    return \n")
    tree_before = str(doc.tree.root_node) if doc.tree else ""
    introduces_syntax_errors(doc, len("def add(a, b):\n    return "), ") ] }")
    assert doc.text == "def add(a, b):\n    return \n"
    assert doc.tree is not None and str(doc.tree.root_node) == tree_before


def test_plain_text_never_rejects() -> None:
    assert introduces_syntax_errors(document("hello ", "plaintext"), 6, ") ] }") is False


def test_a_huge_line_is_not_parsed_on_every_keystroke() -> None:
    data = "x = [" + ", ".join(str(i) for i in range(30000)) + "]\n"
    text = data + "def f():\n    return 1\n"
    snapshot = Document("file:///a.py", text, language_id="python", version=1).snapshot()
    assert not SyntaxWindow.around(snapshot, 100).parsable  # 190 kB on the cursor's line
    window = SyntaxWindow.around(snapshot, text.index("return 1"))
    assert window.parsable and len(window.text) < 1000  # the line alone, without the data
    assert introduces_syntax_errors(snapshot, text.index("return 1") + 8, " + (2")


def test_a_method_deep_in_a_class_is_parsed_from_its_def_not_the_previous_docstring() -> None:
    methods = "".join(
        f'    def m{i}(self):\n        """Doc {i}.\n\n        More.\n        """\n'
        f"        return {i}\n\n"
        for i in range(30)
    )
    text = f"class C:\n{methods}    def last(self) -> None:\n"
    snapshot = Document("file:///c.py", text, language_id="python", version=1).snapshot()
    cursor = len(text) - 1
    window = SyntaxWindow.around(snapshot, cursor)
    assert window.text.lstrip().startswith("def ")
    body = '\n        """Say it."""\n        return None'
    assert not introduces_syntax_errors(snapshot, cursor, body)
