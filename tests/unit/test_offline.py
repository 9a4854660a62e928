"""Specifications of the offline engine: tokens, the n-gram model, definitions, suggestions."""

from __future__ import annotations

import pytest

from lsp_assist.languages import language_for
from lsp_assist.offline.definitions import DefinitionIndex
from lsp_assist.offline.engine import ENGINE_LABEL, OfflineEngine
from lsp_assist.offline.ngram import NgramModel
from lsp_assist.offline.tokens import (
    NEWLINE,
    STRING_PLACEHOLDER,
    symbols_of,
    tokenize,
    tokenize_plain,
)


def python_symbols(text: str) -> list[str]:
    return symbols_of(tokenize(text, language_for("python").grammar))


# -- tokens ---------------------------------------------------------------------------------


def test_python_tokens_keep_spacing_and_drop_comments() -> None:
    symbols = python_symbols("x = f(a, 'b')  # note\nreturn x\n")
    assert symbols == ["x", " =", " f", "(", "a", ",", " 'b'", ")", NEWLINE, "return", " x"]


def test_javascript_template_string_is_one_token() -> None:
    tokens = tokenize("const s = `a${b}c`;\n", language_for("javascript").grammar)
    assert [t.text for t in tokens] == ["const", "s", "=", "`a${b}c`", ";"]
    assert [t.kind for t in tokens][:2] == ["keyword", "name"]


def test_docstrings_become_a_placeholder() -> None:
    symbols = python_symbols('def f():\n    """A long docstring\n    on two lines."""\n')
    assert STRING_PLACEHOLDER in symbols


def test_plain_text_tokenizer_without_grammar() -> None:
    assert symbols_of(tokenize_plain("a += b(1)\nc")) == [
        "a",
        " +=",
        " b",
        "(",
        "1",
        ")",
        "\n",
        "c",
    ]


def test_tokenizing_a_long_file_gives_every_line_its_tokens() -> None:
    # Its speed is measured in benchmarks/offline_accuracy.py, not asserted here.
    line = "    total = compute_price(item.amount, discount=0.25) + offset  # why\n"
    grammar = language_for("python").grammar
    one = tokenize("def f():\n" + line, grammar)
    many = tokenize("def f():\n" + line * 3000, grammar)
    per_line = len(one) - len(tokenize("def f():\n", grammar))
    assert per_line > 5
    assert len(many) >= len(one) + 2999 * per_line - 10


# -- n-gram model ---------------------------------------------------------------------------


def test_model_learns_a_repeated_pattern_and_completes_it() -> None:
    model = NgramModel()
    model.add_file("a.py", python_symbols("total = price * count\n" * 3))
    assert model.complete_line(["total", " ="], 10) == " price * count"


def test_backoff_predicts_after_an_unseen_longer_context() -> None:
    model = NgramModel()
    model.add_file("a.py", python_symbols("x = open(path)\n"))
    best = model.predict(["never", "seen", " open"], k=1)
    assert best[0].symbol == "("
    assert best[0].context_length == 1


def test_removing_a_file_forgets_its_counts() -> None:
    model = NgramModel()
    model.add_file("a.py", python_symbols("alpha = beta\n"))
    model.add_file("b.py", python_symbols("gamma = delta\n"))
    model.remove_file("a.py")
    assert " beta" not in [p.symbol for p in model.predict(["alpha", " ="], k=10)]
    assert model.predict(["alpha", " ="], k=1)[0].symbol == " delta"  # via backoff on " ="


def test_retraining_a_file_replaces_its_counts() -> None:
    model = NgramModel()
    model.add_file("a.py", python_symbols("x = old\n"))
    model.add_file("a.py", python_symbols("x = new\n"))
    predictions = model.predict(["x", " ="], k=10)
    assert predictions[0].symbol == " new"
    assert " old" not in [p.symbol for p in predictions]


def test_memory_cap_holds() -> None:
    model = NgramModel(max_contexts=500)
    for index in range(50):
        model.add_file(f"f{index}.py", [f"w{index}_{n}" for n in range(40)])
    assert model.context_count <= 500


def test_prediction_is_deterministic() -> None:
    model = NgramModel()
    model.add_file("a.py", python_symbols("x = a\nx = b\n"))
    assert [p.symbol for p in model.predict(["x", " ="], k=2)] == [" a", " b"]


# -- definitions ----------------------------------------------------------------------------

SNIPPETS = {
    "python": ("class Cart:\n    def price(self, discount=0.0):\n        pass\n", "price"),
    "javascript": ("function add(a, b) {\n  return a + b;\n}\n", "add"),
    "typescript": ("function add(a: number, b: number): number {\n  return a + b;\n}\n", "add"),
    "go": ("package m\nfunc Add(a, b int) int {\n\treturn a + b\n}\n", "Add"),
    "rust": ("fn add(a: i32, b: i32) -> i32 {\n    a + b\n}\n", "add"),
    "java": ("class Cart {\n  double total(double tax) { return 1; }\n}\n", "total"),
    "c": ("static int *add(int a, int b) {\n  return 0;\n}\n", "add"),
    "cpp": ("int Shape::area(int n) const {\n  return n;\n}\n", "area"),
    "lua": ("local function greet(name)\n  print(name)\nend\n", "greet"),
}
SIGNATURES = {
    "python": "def price(self, discount=0.0)",
    "javascript": "function add(a, b)",
    "typescript": "function add(a: number, b: number): number",
    "go": "func Add(a, b int) int",
    "rust": "fn add(a: i32, b: i32) -> i32",
    "java": "double total(double tax)",
    "c": "static int *add(int a, int b)",
    "cpp": "int Shape::area(int n) const",
    "lua": "local function greet(name)",
}


@pytest.mark.parametrize("language", sorted(SNIPPETS))
def test_definitions_are_found_with_their_signature(language: str) -> None:
    text, name = SNIPPETS[language]
    index = DefinitionIndex()
    index.update_file(f"file:///x.{language}", text, language_for(language))
    found = {d.name: d for d in index.definitions_in(f"file:///x.{language}")}
    assert found[name].signature == SIGNATURES[language]


def test_python_methods_know_their_class() -> None:
    index = DefinitionIndex()
    index.update_file("a.py", SNIPPETS["python"][0], language_for("python"))
    price = index.complete_identifier("pri")[0]
    assert (price.kind, price.container) == ("method", "Cart")


def test_identifier_completion_ranks_the_same_file_first() -> None:
    index = DefinitionIndex()
    index.update_file("a.py", "def parse_b():\n    pass\n", language_for("python"))
    index.update_file("b.py", "def parse_z():\n    pass\n", language_for("python"))
    index.update_file("c.py", "def parse_a():\n    pass\n", language_for("python"))
    names = [d.name for d in index.complete_identifier("PARSE", uri="b.py")]
    assert names == ["parse_z", "parse_a", "parse_b"]


# -- engine ---------------------------------------------------------------------------------

WORKSPACE_FILE = "".join(
    f"class Box{n}:\n    def __init__(self, items):\n        self.items = list(items)\n\n"
    for n in range(4)
)


def test_suggest_line_completes_a_pattern_from_elsewhere_in_the_workspace() -> None:
    engine = OfflineEngine()
    engine.update_file("file:///boxes.py", WORKSPACE_FILE, "python")
    typed = "class Crate:\n    def __init__(self, items):\n        self.items = li"
    assert engine.suggest_line(typed, len(typed), "python") == "st(items)"


def test_suggest_line_after_a_space_does_not_repeat_it() -> None:
    engine = OfflineEngine()
    engine.update_file("file:///boxes.py", WORKSPACE_FILE, "python")
    typed = "class Crate:\n    def __init__(self, items):\n        self.items = "
    assert engine.suggest_line(typed, len(typed), "python") == "list(items)"


def test_suggest_line_is_none_on_an_empty_model() -> None:
    typed = "self.items = li"
    assert OfflineEngine().suggest_line(typed, len(typed), "python") is None


def test_suggest_line_is_none_for_an_unfamiliar_line() -> None:
    engine = OfflineEngine()
    engine.update_file("file:///boxes.py", WORKSPACE_FILE, "python")
    typed = "while frobnicate"
    assert engine.suggest_line(typed, len(typed), "python") is None


def test_removed_files_no_longer_suggest() -> None:
    engine = OfflineEngine()
    engine.update_file("file:///boxes.py", WORKSPACE_FILE, "python")
    engine.remove_file("file:///boxes.py")
    typed = "        self.items = li"
    assert engine.suggest_line(typed, len(typed), "python") is None
    assert engine.completion_items("Box") == []


def test_completion_items_come_from_workspace_definitions() -> None:
    engine = OfflineEngine()
    engine.update_file("file:///boxes.py", WORKSPACE_FILE, "python")
    assert [d.name for d in engine.completion_items("Box", "file:///other.py")] == [
        "Box0",
        "Box1",
        "Box2",
        "Box3",
    ]
    assert ENGINE_LABEL == "lsp-assist offline engine"
