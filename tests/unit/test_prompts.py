"""Specifications of the FIM prompt modules: templates, windows and the prompt builder."""

from __future__ import annotations

from collections.abc import Sequence
from typing import overload

import pytest

from lsp_assist.prompts.builder import FimPrompt, build_fim_prompt, fit_context_files
from lsp_assist.prompts.templates import (
    CODESTRAL,
    DEEPSEEK,
    QWEN,
    TEMPLATES,
    ContextFile,
    FimTemplate,
    detect_template,
)
from lsp_assist.prompts.window import (
    PREFIX_LINES,
    PREFIX_STEP,
    SUFFIX_LINES,
    PromptBudget,
    cut_window,
    text_size,
)

ADD = "def add(a, b):\n    return \n\n\nprint(add(1, 2))\n"
ADD_LINES = ADD.split("\n")  # ["def add(a, b):", "    return ", "", "", "print(add(1, 2))", ""]
CURSOR = (1, len("    return "))
BUDGET = PromptBudget(num_ctx=4096, max_tokens=128)
UTIL = ContextFile("util.py", "def helper():\n    return 42\n")
ALL = sorted(TEMPLATES.values(), key=lambda t: t.family)
PSM = [t for t in ALL if not t.suffix_first]
ids = [t.family for t in ALL]


class CountingLines(Sequence[str]):
    """A lazy document: counts how many lines were read."""

    def __init__(self, lines: Sequence[str]) -> None:
        self._lines = lines
        self.reads = 0

    def __len__(self) -> int:
        return len(self._lines)

    @overload
    def __getitem__(self, index: int) -> str: ...
    @overload
    def __getitem__(self, index: slice) -> list[str]: ...
    def __getitem__(self, index: int | slice) -> str | list[str]:
        if isinstance(index, slice):
            chosen = list(self._lines[index])
            self.reads += len(chosen)
            return chosen
        self.reads += 1
        return self._lines[index]


def add_prompt(template: FimTemplate, files: Sequence[ContextFile] = ()) -> FimPrompt:
    """The end-to-end tests' document: cursor after "return " in add.py of repo "workspace"."""
    return build_fim_prompt(
        template, ADD_LINES, *CURSOR, BUDGET, files=files, repo_name="workspace", path="add.py"
    )


def python_file(count: int) -> list[str]:
    """A plausible source file: top-level functions with indented bodies."""
    out = []
    for i in range(count):
        out.append(f"def function_{i}(x):" if i % 8 == 0 else f"    x = x * {i} + {i % 7}")
    return out


def typed(lines: list[str], line: int, column: int, text: str) -> tuple[list[str], int, int]:
    """The document after typing `text` (may contain "\n") at (line, column), and the cursor."""
    current = lines[line]
    inserted = (current[:column] + text + current[column:]).split("\n")
    new_lines = lines[:line] + inserted + lines[line + 1 :]
    last = line + len(inserted) - 1
    new_column = len(inserted[-1]) - len(current) + column
    return new_lines, last, new_column


# -- exact renderings -------------------------------------------------------------------------


EXPECTED = {
    "qwen": "<|repo_name|>workspace\n<|file_sep|>add.py\n"
    "<|fim_prefix|>def add(a, b):\n<|fim_suffix|>\n\n\nprint(add(1, 2))\n"
    "<|fim_middle|>    return ",
    "deepseek": "<\uff5cfim\u2581begin\uff5c>def add(a, b):\n"
    "<\uff5cfim\u2581hole\uff5c>\n\n\nprint(add(1, 2))\n<\uff5cfim\u2581end\uff5c>    return ",
    "codellama": "<PRE> def add(a, b):\n <SUF>\n\n\nprint(add(1, 2))\n <MID>    return ",
    "starcoder2": "<repo_name>workspace<file_sep><fim_prefix>add.py\ndef add(a, b):\n"
    "<fim_suffix>\n\n\nprint(add(1, 2))\n<fim_middle>    return ",
    "codestral": "[SUFFIX]\n\n\nprint(add(1, 2))\n[PREFIX]def add(a, b):\n    return ",
    "codeqwen": "<fim_prefix>def add(a, b):\n<fim_suffix>\n\n\nprint(add(1, 2))\n"
    "<fim_middle>    return ",
}


@pytest.mark.parametrize("template", ALL, ids=ids)
def test_each_family_renders_its_exact_fim_prompt(template: FimTemplate) -> None:
    assert add_prompt(template).text == EXPECTED[template.family]


def test_qwen_without_repo_name_or_path_is_plain_fim() -> None:
    prompt = build_fim_prompt(QWEN, ADD_LINES, *CURSOR, BUDGET)
    assert prompt.text == (
        "<|fim_prefix|>def add(a, b):\n<|fim_suffix|>\n\n\nprint(add(1, 2))\n"
        "<|fim_middle|>    return "
    )


def test_other_files_come_before_the_current_file_in_qwen_repo_form() -> None:
    text = add_prompt(QWEN, files=[UTIL]).text
    assert text.startswith("<|repo_name|>workspace\n<|file_sep|>util.py\ndef helper():")
    assert text.index("<|file_sep|>add.py\n<|fim_prefix|>") > text.index("util.py")
    assert text.endswith("<|fim_middle|>    return ")


def test_deepseek_context_files_are_path_comments_inside_fim_begin() -> None:
    prompt = build_fim_prompt(
        DEEPSEEK, ADD_LINES, *CURSOR, BUDGET, files=[UTIL], path="add.js", comment_prefix="//"
    )
    assert prompt.text.startswith(
        "<\uff5cfim\u2581begin\uff5c>// util.py\ndef helper():\n    return 42\n\n"
        "// add.js\ndef add(a, b):\n<\uff5cfim\u2581hole\uff5c>"
    )


def test_codestral_context_files_open_the_prefix_and_the_suffix_comes_first() -> None:
    text = add_prompt(CODESTRAL, files=[UTIL]).text
    assert text.startswith("[SUFFIX]\n\n\nprint(add(1, 2))\n[PREFIX]+++++ util.py\ndef helper():")
    assert text.endswith("\n+++++ add.py\ndef add(a, b):\n    return ")


@pytest.mark.parametrize("template", ALL, ids=ids)
def test_prompt_contains_the_prefix_suffix_and_middle_exactly_once(template: FimTemplate) -> None:
    lines = ["import os", "PREFIXLINE = 1", "    MIDDLETEXT", "SUFFIXLINE = 2", ""]
    prompt = build_fim_prompt(template, lines, 2, 14, BUDGET, files=[UTIL], path="x.py")
    assert prompt.window.prefix == "import os\nPREFIXLINE = 1\n"
    assert prompt.window.middle == "    MIDDLETEXT"
    assert prompt.window.suffix == "\nSUFFIXLINE = 2\n"
    for part in (prompt.window.prefix, prompt.window.suffix, prompt.window.middle, UTIL.text):
        assert prompt.text.count(part) == 1
    assert prompt.text.endswith(prompt.window.middle)


# -- detection --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "family"),
    [
        ("qwen2.5-coder:1.5b-base", "qwen"),
        ("qwen3-coder:30b", "qwen"),
        ("hf.co/Qwen/Qwen2.5-Coder-1.5B-Instruct-GGUF:Q4_K_M", "qwen"),
        ("codeqwen:7b-code", "codeqwen"),
        ("deepseek-coder:1.3b-base", "deepseek"),
        ("deepseek-coder-v2:16b-lite-base-q4_0", "deepseek"),
        ("codellama:7b-code", "codellama"),
        ("registry.example.com/team/CodeLlama-13B:latest", "codellama"),
        ("starcoder2:3b", "starcoder2"),
        ("codestral:22b", "codestral"),
    ],
)
def test_family_is_recognised_from_the_model_name(model: str, family: str) -> None:
    template = detect_template(model)
    assert template is not None and template.family == family


@pytest.mark.parametrize(
    ("ollama_template", "family"),
    [
        (
            "{{- if .Suffix }}<|fim_prefix|>{{ .Prompt }}<|fim_suffix|>{{ .Suffix }}<|fim_middle|>",
            "qwen",
        ),
        (
            "<\uff5cfim\u2581begin\uff5c>{{ .Prompt }}<\uff5cfim\u2581hole\uff5c>{{ .Suffix }}",
            "deepseek",
        ),
        ("<PRE> {{ .Prompt }} <SUF>{{ .Suffix }} <MID>", "codellama"),
        (
            "<file_sep><fim_prefix>\n{{ .Prompt }}<fim_suffix>{{ .Suffix }}<fim_middle>",
            "starcoder2",
        ),
        ("[SUFFIX]{{ .Suffix }}[PREFIX] {{ .Prompt }}", "codestral"),
    ],
)
def test_family_is_recognised_from_fim_tokens_in_the_ollama_template(
    ollama_template: str, family: str
) -> None:
    template = detect_template("my-finetune:1b", ollama_template)
    assert template is not None and template.family == family


@pytest.mark.parametrize(
    ("model", "ollama_template"),
    [
        ("mystery:1b", "{{ .Prompt }}{{ .Suffix }}"),
        ("llama3.2:3b", "<|start_header_id|>{{ .Prompt }}"),
        ("qwen2.5:7b", "{{- if .Messages }}<|im_start|>{{ end }}"),
        # CodeGemma's own Ollama template does FIM right; Qwen's repo tokens are not in its vocab.
        ("codegemma:2b", "<|fim_prefix|>{{ .Prompt }}<|fim_suffix|>{{ .Suffix }}<|fim_middle|>"),
    ],
)
def test_unknown_models_get_no_template(model: str, ollama_template: str) -> None:
    assert detect_template(model, ollama_template) is None


# -- stop strings -----------------------------------------------------------------------------


STOPS = {
    "qwen": {
        "<|endoftext|>",
        "<|fim_prefix|>",
        "<|fim_middle|>",
        "<|fim_suffix|>",
        "<|fim_pad|>",
        "<|repo_name|>",
        "<|file_sep|>",
        "<|im_start|>",
        "<|im_end|>",
    },
    "deepseek": {
        "<\uff5cfim\u2581begin\uff5c>",
        "<\uff5cfim\u2581hole\uff5c>",
        "<\uff5cfim\u2581end\uff5c>",
        "<\uff5cend\u2581of\u2581sentence\uff5c>",
    },
    "codellama": {"<EOT>", "<PRE>", "<SUF>", "<MID>"},
    "starcoder2": {"<fim_prefix>", "<fim_suffix>", "<fim_middle>", "<file_sep>", "<|endoftext|>"},
    "codestral": {"[PREFIX]", "[SUFFIX]", "</s>"},
    "codeqwen": {"<fim_prefix>", "<fim_suffix>", "<fim_middle>", "<fim_pad>", "<|endoftext|>"},
}


@pytest.mark.parametrize("template", ALL, ids=ids)
def test_each_family_stops_on_its_special_tokens(template: FimTemplate) -> None:
    assert STOPS[template.family] <= set(template.stop)
    assert add_prompt(template).stop == template.stop


@pytest.mark.parametrize("template", ALL, ids=ids)
def test_no_family_stops_on_a_comment_marker(template: FimTemplate) -> None:
    assert "//" not in template.stop and "#" not in template.stop


def test_deepseek_tokens_use_fullwidth_bar_and_lower_block_not_ascii() -> None:
    bar, block = "\N{FULLWIDTH VERTICAL LINE}", "\N{LOWER ONE EIGHTH BLOCK}"
    assert DEEPSEEK.prefix_marker == f"<{bar}fim{block}begin{bar}>"
    assert all("|" not in stop for stop in DEEPSEEK.stop if stop != "<|EOT|>")


# -- KV-cache stability -----------------------------------------------------------------------


@pytest.mark.parametrize("template", ALL, ids=ids)
def test_typing_on_the_cursor_line_only_appends_to_the_prompt(template: FimTemplate) -> None:
    lines = python_file(2000)
    line, column = 1000, len(lines[1000])
    before = build_fim_prompt(template, lines, line, column, BUDGET, files=[UTIL], path="a.py")
    for char in "+ f(y)":
        lines, line, column = typed(lines, line, column, char)
        after = build_fim_prompt(template, lines, line, column, BUDGET, files=[UTIL], path="a.py")
        assert after.text == before.text + char
        before = after


@pytest.mark.parametrize("template", PSM, ids=[t.family for t in PSM])
def test_typing_on_a_new_line_keeps_the_prompt_head(template: FimTemplate) -> None:
    lines = python_file(2000)
    line, column = 1000, len(lines[1000])
    before = build_fim_prompt(template, lines, line, column, BUDGET, files=[UTIL], path="a.py")
    # The head is everything up to the end of the prefix window (where the suffix marker goes).
    head = before.text[: before.text.index(before.window.prefix) + len(before.window.prefix)]
    for text in ["\n", "    y", " = x", "\n", "    return y"]:
        lines, line, column = typed(lines, line, column, text)
        after = build_fim_prompt(template, lines, line, column, BUDGET, files=[UTIL], path="a.py")
        assert after.text.startswith(head)
        assert after.window.start_line == before.window.start_line


def test_codestral_enter_at_the_end_of_a_line_only_appends_to_the_prompt() -> None:
    lines = python_file(2000)
    line, column = 1000, len(lines[1000])
    before = build_fim_prompt(CODESTRAL, lines, line, column, BUDGET, path="a.py")
    lines, line, column = typed(lines, line, column, "\n")
    after = build_fim_prompt(CODESTRAL, lines, line, column, BUDGET, path="a.py")
    assert after.text == before.text + "\n"


@pytest.mark.parametrize("width", [10, 60, 150], ids=["short-lines", "medium-lines", "long-lines"])
def test_the_prefix_window_start_moves_in_steps_of_whole_quanta(width: int) -> None:
    lines = [("x" * width if i % 5 else "def f():") for i in range(5000)]
    starts = [cut_window(lines, line, 0, BUDGET).start_line for line in range(2000, 2064)]
    assert all(start % PREFIX_STEP == 0 for start in starts)
    assert len(set(starts)) <= 3
    assert all(b >= a for a, b in zip(starts, starts[1:], strict=False))


def test_moving_the_cursor_down_one_line_keeps_the_prefix_start() -> None:
    lines = python_file(5000)
    here = cut_window(lines, 1010, 4, BUDGET)
    below = cut_window(lines, 1011, 4, BUDGET)
    assert below.start_line == here.start_line
    assert below.prefix == here.prefix + lines[1010] + "\n"


def test_the_prefix_window_prefers_to_start_on_a_top_level_line() -> None:
    # Quantised starts (multiples of 32) all fall on indented lines here.
    lines = ["def f():" if i % 10 == 3 else "    pass" for i in range(5000)]
    window = cut_window(lines, 1000, 0, BUDGET)
    assert window.prefix.startswith("def f():\n")
    assert 0 < window.start_line % PREFIX_STEP < 8
    assert window.start_line >= 1000 - PREFIX_LINES


def test_the_suffix_window_is_short() -> None:
    lines = python_file(5000)
    window = cut_window(lines, 1000, 0, BUDGET)
    assert window.end_line - 1000 - 1 <= SUFFIX_LINES
    assert text_size(window.suffix) <= BUDGET.prompt_size() // 4


def test_context_files_do_not_depend_on_the_cursor() -> None:
    lines = python_file(3000)
    big = ContextFile("big.py", "\n".join(python_file(4000)))
    files = [UTIL, big]
    one = build_fim_prompt(QWEN, lines, 100, 0, BUDGET, files=files, path="a.py")
    two = build_fim_prompt(QWEN, lines, 2500, 7, BUDGET, files=files, path="a.py")
    assert one.files == two.files
    head = one.text[: one.text.index("<|fim_prefix|>")]
    assert two.text.startswith(head)


# -- budget -----------------------------------------------------------------------------------


def assert_fits(prompt: FimPrompt, budget: PromptBudget) -> None:
    assert budget.estimate_tokens(prompt.text) + budget.max_tokens <= budget.num_ctx


@pytest.mark.parametrize("template", ALL, ids=ids)
@pytest.mark.parametrize("num_ctx", [512, 2048, 8192])
def test_a_100k_line_file_fits_the_context(template: FimTemplate, num_ctx: int) -> None:
    budget = PromptBudget(num_ctx=num_ctx, max_tokens=128)
    lines = python_file(100_000)
    big = ContextFile("big.py", "\n".join(python_file(50_000)))
    prompt = build_fim_prompt(template, lines, 50_000, 5, budget, files=[big, UTIL], path="a.py")
    assert_fits(prompt, budget)
    assert prompt.window.prefix and prompt.window.suffix


@pytest.mark.parametrize("template", ALL, ids=ids)
@pytest.mark.parametrize("char", ["x", "\u6f22", "\U0001f600"], ids=["ascii", "cjk", "emoji"])
def test_a_single_200k_char_line_fits_the_context(template: FimTemplate, char: str) -> None:
    lines = [char * 200_000]
    prompt = build_fim_prompt(template, lines, 0, 100_000, BUDGET, path="min.js")
    assert_fits(prompt, BUDGET)
    assert prompt.window.middle and prompt.window.suffix  # cut inside the line, not dropped
    assert lines[0][:100_000].endswith(prompt.window.middle)
    assert lines[0][100_000:].startswith(prompt.window.suffix)


def test_lines_longer_than_the_budget_around_the_cursor_are_cut_inside_the_line() -> None:
    lines = ["a" * 50_000, "b" * 50_000, "c = 1", "d" * 50_000]
    window = cut_window(lines, 2, 2, BUDGET)
    assert window.prefix and set(window.prefix) == {"b", "\n"} and window.prefix.endswith("\n")
    assert window.middle == "c "
    assert window.suffix == "= 1\n"  # the next line does not fit whole: cut at its boundary
    assert window.size <= BUDGET.prompt_size()


def test_typing_on_a_long_line_still_only_appends() -> None:
    lines = ["x = [" + "1, " * 20_000]
    column = len(lines[0])
    before = build_fim_prompt(QWEN, lines, 0, column, BUDGET, path="a.py")
    after = build_fim_prompt(QWEN, [lines[0] + "2"], 0, column + 1, BUDGET, path="a.py")
    assert after.text == before.text + "2"


def test_a_cut_non_ascii_cursor_line_keeps_its_end_nearest_the_cursor() -> None:
    text = "s = '" + "\u6f22" * 400 + "'  # " + "x" * 5000
    column = 405  # 405 chars before the cursor, but 1205 bytes
    window = cut_window([text], 0, column, BUDGET)
    assert window.middle and text[:column].endswith(window.middle)
    assert text_size(window.middle) <= BUDGET.prompt_size() // 16


def test_prompt_budget_keeps_room_for_the_answer() -> None:
    budget = PromptBudget(num_ctx=4096, max_tokens=128, bytes_per_token=3.3)
    assert budget.estimate_tokens("x" * budget.prompt_size()) + 128 <= 4096
    assert PromptBudget(num_ctx=512, max_tokens=1000).prompt_size() == 0


# -- laziness ---------------------------------------------------------------------------------


def test_cut_window_reads_only_lines_near_the_cursor() -> None:
    lines = CountingLines(python_file(100_000))
    cut_window(lines, 60_000, 3, PromptBudget(num_ctx=32_768, max_tokens=128))
    assert lines.reads <= PREFIX_LINES + SUFFIX_LINES + 1


def test_building_a_prompt_reads_only_lines_near_the_cursor() -> None:
    lines = CountingLines(python_file(100_000))
    build_fim_prompt(QWEN, lines, 99_990, 3, BUDGET, files=[UTIL], path="a.py")
    assert lines.reads <= PREFIX_LINES + SUFFIX_LINES + 1


# -- context files ----------------------------------------------------------------------------


def test_context_files_are_truncated_to_their_share_and_keep_their_order() -> None:
    big_a = ContextFile("a.py", "\n".join(python_file(3000)) + "\n")
    big_b = ContextFile("b.py", "\n".join(python_file(3000)) + "\n")
    prompt = build_fim_prompt(
        QWEN, ADD_LINES, *CURSOR, BUDGET, files=[big_a, UTIL, big_b], path="add.py"
    )
    assert [f.path for f in prompt.files] == ["a.py", "util.py", "b.py"]
    a, util, b = prompt.files
    assert util == UTIL  # the small file stays whole
    for cut, original in ((a, big_a), (b, big_b)):
        assert original.text.startswith(cut.text) and cut.text.endswith("\n")
        assert len(cut.text) < len(original.text)
    assert abs(len(a.text) - len(b.text)) < 200  # the big ones share equally
    assert prompt.files_size <= BUDGET.prompt_size() // 2
    text = prompt.text
    assert text.index("<|file_sep|>a.py") < text.index("<|file_sep|>util.py") < text.index("b.py")
    assert prompt.window.prefix == "def add(a, b):\n"  # the local window is not squeezed out


def test_a_context_file_without_a_whole_line_in_its_share_is_dropped() -> None:
    minified = ContextFile("min.js", "x" * 100_000)
    assert fit_context_files(QWEN, [minified, UTIL], 1000) == (UTIL,)


def test_files_without_text_are_left_out() -> None:
    assert fit_context_files(QWEN, [ContextFile("empty.py", ""), UTIL], 1000) == (UTIL,)


# -- edges ------------------------------------------------------------------------------------


@pytest.mark.parametrize("template", ALL, ids=ids)
@pytest.mark.parametrize("lines", [[""], []], ids=["one-empty-line", "no-lines"])
def test_an_empty_file_gives_a_valid_prompt(template: FimTemplate, lines: list[str]) -> None:
    prompt = build_fim_prompt(template, lines, 0, 0, BUDGET)
    assert prompt.window.prefix == prompt.window.middle == prompt.window.suffix == ""
    assert prompt.text == template.render("", "", "")
    assert template.prefix_marker in prompt.text and template.suffix_marker in prompt.text


def test_a_cursor_past_the_end_of_its_line_is_clamped() -> None:
    window = cut_window(ADD_LINES, 1, 999, BUDGET)
    assert window.middle == "    return "
    assert window.suffix == "\n\n\nprint(add(1, 2))\n"


def test_a_cursor_past_the_last_line_is_clamped() -> None:
    window = cut_window(["a = 1", "b = 2"], 99, 99, BUDGET)
    assert (window.prefix, window.middle, window.suffix) == ("a = 1\n", "b = 2", "")


def test_a_file_without_a_final_newline_gets_none_in_the_suffix() -> None:
    window = cut_window(["def f():", "    pass", "f()"], 1, 4, BUDGET)
    assert window.suffix == "pass\nf()"
