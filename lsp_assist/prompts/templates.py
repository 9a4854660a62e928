"""FIM prompt templates per model family, and recognising an Ollama model's family.

A fill-in-the-middle (FIM) model gets the code before the cursor (prefix), the code after it
(suffix) and marker tokens that ask it to write what goes between. Each family spells the markers
differently and has its own way of putting other files of the repository in front ("repo-level"
context). We render the prompt ourselves and send it with Ollama's `raw: true`. That lets us add
repo context, and it lets us put the cursor line's text *after* the middle marker (as llama.vim
does), so typing only appends to the prompt and Ollama's KV cache keeps everything before it.

Every rendering is a cursor-independent head (repo name, other files, the current file's header)
followed by the window around the cursor:

    PSM families:       {outer}{PRE}{inner}{prefix}{SUF}{suffix}{MID}{middle}
    codestral (SPM):    {outer}{SUF}{suffix}{PRE}{inner}{prefix}{middle}

The special tokens must be spelled exactly: Ollama tokenizes raw prompts with special-token
parsing on, so a literal `<|fim_prefix|>` becomes the real token. A look-alike (for example ASCII
`|` in DeepSeek's tokens, which use U+FF5C and U+2581) would silently become plain text.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

ContextStyle = Literal["qwen", "starcoder2", "comment", "codestral"]


@dataclass(frozen=True)
class ContextFile:
    """Another file of the workspace, shown to the model before the current file."""

    path: str  # a workspace-relative path or file name, e.g. "util.py"
    text: str


# How one context file is written, per style. `comment` is the DeepSeek-Coder README convention
# (plain concatenation with a path comment per file), which we also use for families that have no
# repo-level tokens.
_FILE_BLOCK: dict[ContextStyle, str] = {
    "qwen": "<|file_sep|>{path}\n{text}",
    "starcoder2": "<file_sep>{path}\n{text}",
    "comment": "{comment} {path}\n{text}\n",
    "codestral": "+++++ {path}\n{text}\n",  # Continue's Codestral multi-file convention
}


@dataclass(frozen=True)
class FimTemplate:
    """How to render a raw FIM prompt for one model family."""

    family: str
    stop: tuple[str, ...]  # stop strings to send in options.stop
    prefix_marker: str
    suffix_marker: str
    middle_marker: str  # "" when the family has none (codestral generates right after the prefix)
    context_style: ContextStyle
    suffix_first: bool = False  # SPM-like order: suffix before prefix

    def render(
        self,
        prefix: str,
        suffix: str,
        middle: str,
        *,
        files: Sequence[ContextFile] = (),
        repo_name: str = "",
        path: str = "",
        comment_prefix: str = "#",
    ) -> str:
        """The prompt text. `middle` is the cursor line up to the cursor; it always comes last."""
        outer, inner = self.head(files, repo_name, path, comment_prefix)
        if self.suffix_first:
            return f"{outer}{self.suffix_marker}{suffix}{self.prefix_marker}{inner}{prefix}{middle}"
        return (
            f"{outer}{self.prefix_marker}{inner}{prefix}"
            f"{self.suffix_marker}{suffix}{self.middle_marker}{middle}"
        )

    def file_block(self, file: ContextFile, comment_prefix: str = "#") -> str:
        """One context file as it appears in the prompt."""
        return _FILE_BLOCK[self.context_style].format(
            path=file.path, text=_terminated(file.text), comment=comment_prefix
        )

    def head(
        self, files: Sequence[ContextFile], repo_name: str, path: str, comment_prefix: str
    ) -> tuple[str, str]:
        """The cursor-independent parts: before the first marker, and right after the prefix
        marker (in front of the current file's prefix)."""
        blocks = "".join(self.file_block(f, comment_prefix) for f in files)
        style = self.context_style
        if style == "qwen":
            # Qwen2.5-Coder repo-level form; plain FIM when there is nothing to name.
            if not (repo_name or path or files):
                return "", ""
            repo = f"<|repo_name|>{repo_name}\n" if repo_name else ""
            return f"{repo}{blocks}<|file_sep|>{path}\n", ""
        if style == "starcoder2":
            # StarCoder2 paper §5.1: `<repo_name>r<file_sep>p0\ncode0<file_sep><fim_prefix>p1\n…`,
            # i.e. the FIM file's path sits after <fim_prefix>.
            if not (repo_name or path or files):
                return "", ""
            repo = f"<repo_name>{repo_name}" if repo_name else ""
            return f"{repo}{blocks}<file_sep>", f"{path}\n" if path else ""
        if not files:
            # No header for a lone file: that is the file-level FIM these models were tuned on.
            return "", ""
        # With other files in front, the current file needs a header of its own, or the model
        # would read its prefix as the continuation of the last context file.
        if style == "comment":
            return "", f"{blocks}{comment_prefix} {path}\n"
        return "", f"{blocks}+++++ {path}\n"


def _terminated(text: str) -> str:
    return text if not text or text.endswith("\n") else text + "\n"


QWEN = FimTemplate(
    family="qwen",
    stop=(
        "<|endoftext|>",
        "<|fim_prefix|>",
        "<|fim_middle|>",
        "<|fim_suffix|>",
        "<|fim_pad|>",
        "<|repo_name|>",
        "<|file_sep|>",
        "<|im_start|>",
        "<|im_end|>",
    ),
    prefix_marker="<|fim_prefix|>",
    suffix_marker="<|fim_suffix|>",
    middle_marker="<|fim_middle|>",
    context_style="qwen",
)
# U+FF5C FULLWIDTH VERTICAL LINE and U+2581 LOWER ONE EIGHTH BLOCK, as in DeepSeek's tokenizer.
DEEPSEEK = FimTemplate(
    family="deepseek",
    # Not Continue's "//": it would end every completion at the first comment (or C++ line).
    stop=(
        "<\uff5cfim\u2581begin\uff5c>",
        "<\uff5cfim\u2581hole\uff5c>",
        "<\uff5cfim\u2581end\uff5c>",
        "<\uff5cend\u2581of\u2581sentence\uff5c>",
        "<|EOT|>",
    ),
    prefix_marker="<\uff5cfim\u2581begin\uff5c>",
    suffix_marker="<\uff5cfim\u2581hole\uff5c>",
    middle_marker="<\uff5cfim\u2581end\uff5c>",
    context_style="comment",
)
# The spaces are part of CodeLlama's format (Ollama's template `<PRE> {p} <SUF>{s} <MID>`).
CODELLAMA = FimTemplate(
    family="codellama",
    stop=("<EOT>", "<PRE>", "<SUF>", "<MID>"),
    prefix_marker="<PRE> ",
    suffix_marker=" <SUF>",
    middle_marker=" <MID>",
    context_style="comment",
)
STARCODER2 = FimTemplate(
    family="starcoder2",
    stop=(
        "<fim_prefix>",
        "<fim_suffix>",
        "<fim_middle>",
        "<fim_pad>",
        "<file_sep>",
        "<repo_name>",
        "<|endoftext|>",
    ),
    prefix_marker="<fim_prefix>",
    suffix_marker="<fim_suffix>",
    middle_marker="<fim_middle>",
    context_style="starcoder2",
)
# mistral-common encode_fim: [BOS][SUFFIX]suffix[PREFIX]prefix, and no middle marker.
CODESTRAL = FimTemplate(
    family="codestral",
    stop=("[PREFIX]", "[SUFFIX]", "</s>", "\n+++++ "),
    prefix_marker="[PREFIX]",
    suffix_marker="[SUFFIX]",
    middle_marker="",
    context_style="codestral",
    suffix_first=True,
)
# CodeQwen1.5 is not Qwen2.5-Coder: its tokenizer has StarCoder-style <fim_*> tokens, no
# <|fim_*|> ones and no repo/file-separator tokens, so other files go in as path comments.
CODEQWEN = FimTemplate(
    family="codeqwen",
    stop=(
        "<fim_prefix>",
        "<fim_suffix>",
        "<fim_middle>",
        "<fim_pad>",
        "<|endoftext|>",
        "<|im_end|>",
    ),
    prefix_marker="<fim_prefix>",
    suffix_marker="<fim_suffix>",
    middle_marker="<fim_middle>",
    context_style="comment",
)

TEMPLATES: dict[str, FimTemplate] = {
    t.family: t for t in (QWEN, DEEPSEEK, CODELLAMA, STARCODER2, CODESTRAL, CODEQWEN)
}

# CodeGemma's tokens: Ollama's own template runs it (see `_BY_NAME`), yet they can leak too.
CODEGEMMA_TOKENS = ("<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>", "<|file_separator|>")
# A special token is spelled `<name>` or `[NAME]`; a closing tag (Codestral's `</s>`) is not one
# we cut, since HTML has `</s>` too, nor are delimiters such as Codestral's "\n+++++ ".
_SPECIAL_TOKEN = re.compile(r"<[^/<>\s][^<>\s]*>|\[[A-Z_]+\]")


def _leaked_tokens() -> tuple[str, ...]:
    spelled = {
        text.strip()
        for t in TEMPLATES.values()
        for text in (*t.stop, t.prefix_marker, t.suffix_marker, t.middle_marker)
    }
    found = {text for text in spelled | set(CODEGEMMA_TOKENS) if _SPECIAL_TOKEN.fullmatch(text)}
    return tuple(sorted(found))


LEAKED_TOKENS = _leaked_tokens()
"""Every family's special tokens: a suggestion is cut where one leaks into it (when a stop string
was missing, or the model is not the family its name suggested)."""

# Checked in order against the lower-cased model name (any registry/namespace prefix included).
_BY_NAME: tuple[tuple[re.Pattern[str], FimTemplate | None], ...] = (
    # CodeGemma's Ollama template already does FIM with its own tokens; ours would be wrong.
    (re.compile(r"codegemma"), None),
    (re.compile(r"codeqwen"), CODEQWEN),
    (re.compile(r"qwen.*coder"), QWEN),  # qwen2.5-coder, qwen3-coder, Qwen2.5-Coder-1.5B-GGUF
    (re.compile(r"deepseek.*coder"), DEEPSEEK),  # deepseek-coder, deepseek-coder-v2
    (re.compile(r"code[-_]?llama"), CODELLAMA),
    (re.compile(r"starcoder-?2"), STARCODER2),
    (re.compile(r"codestral"), CODESTRAL),
)
# FIM tokens in an Ollama template (/api/show), for models whose name says nothing.
_BY_TOKEN: tuple[tuple[str, FimTemplate], ...] = (
    ("<|fim_prefix|>", QWEN),
    ("<\uff5cfim\u2581begin\uff5c>", DEEPSEEK),
    ("<PRE>", CODELLAMA),
    ("<fim_prefix>", STARCODER2),
    ("[SUFFIX]", CODESTRAL),
)


def detect_template(model: str, ollama_template: str = "") -> FimTemplate | None:
    """The raw FIM template for `model`, or None when unknown (the caller then lets Ollama's own
    template do FIM through the `suffix` field)."""
    name = model.lower()
    for pattern, template in _BY_NAME:
        if pattern.search(name):
            return template
    for token, template in _BY_TOKEN:
        if token in ollama_template:
            return template
    return None
