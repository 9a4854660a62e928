"""Assemble the raw FIM prompt: stable parts first, the text being typed last.

Ollama keeps the KV cache of the longest common token prefix of consecutive prompts, so the
prompt is laid out from most to least stable:

1. other files (in the caller's order, truncated by rules that ignore the cursor) and the
   current file's header — identical for every keystroke in this file;
2. the current file's prefix window, whose start moves in large steps (window.py);
3. the suffix window (after the prefix in PSM order, before it for codestral);
4. the cursor line up to the cursor, after the middle marker (llama.vim's trick): typing a
   character appends one character to the prompt, and Ollama evaluates just that.

Budget: context files get at most 1/`FILES_SHARE` of the prompt budget; the window gets what is
left after them and the template's markers, so the whole prompt always fits `PromptBudget`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from lsp_assist.prompts.templates import ContextFile, FimTemplate
from lsp_assist.prompts.window import (
    PromptBudget,
    Window,
    cut_window,
    head_within,
    size_upto,
    text_size,
)

FILES_SHARE = 2  # context files get at most half of the budget


@dataclass(frozen=True)
class FimPrompt:
    """A rendered prompt and what went into it."""

    text: str
    stop: tuple[str, ...]
    window: Window
    files: tuple[ContextFile, ...] = ()  # the context files included, possibly truncated
    files_size: int = 0  # bytes taken by the context files and the headers they bring along


def build_fim_prompt(
    template: FimTemplate,
    lines: Sequence[str],
    line: int,
    column: int,
    budget: PromptBudget,
    *,
    files: Sequence[ContextFile] = (),
    repo_name: str = "",
    path: str = "",
    comment_prefix: str = "#",
) -> FimPrompt:
    """The FIM prompt for the cursor at (line, column) of `lines` (lines without terminators;
    `column` is a str index). `comment_prefix` starts the path comments that name context files
    for families without file-separator tokens (DeepSeek, CodeLlama)."""

    def head_size(chosen: Sequence[ContextFile]) -> int:
        empty = template.render(
            "", "", "", files=chosen, repo_name=repo_name, path=path, comment_prefix=comment_prefix
        )
        return text_size(empty)

    total = budget.prompt_size()
    base = head_size(())
    chosen: tuple[ContextFile, ...] = ()
    if files:
        # What having context files costs besides their blocks (e.g. the current file's header).
        probe = ContextFile("", "")
        extra = head_size((probe,)) - base - text_size(template.file_block(probe, comment_prefix))
        share = max(0, total - base) // FILES_SHARE - extra
        chosen = fit_context_files(template, files, share, comment_prefix=comment_prefix)
    used = head_size(chosen) if chosen else base
    window = cut_window(lines, line, column, budget, size=total - used)
    text = template.render(
        window.prefix,
        window.suffix,
        window.middle,
        files=chosen,
        repo_name=repo_name,
        path=path,
        comment_prefix=comment_prefix,
    )
    return FimPrompt(text, template.stop, window, chosen, used - base)


def fit_context_files(
    template: FimTemplate,
    files: Sequence[ContextFile],
    size: int,
    *,
    comment_prefix: str = "#",
) -> tuple[ContextFile, ...]:
    """The files whose blocks fit in `size` bytes together, in the given order. Space is shared
    max-min fairly: small files stay whole, the big ones split the rest equally and are cut at a
    line boundary (keeping their start). A file without a whole line left is dropped. The result
    depends only on the files and `size`, never on the cursor."""
    candidates = [f for f in files if f.text]
    overhead = [
        text_size(template.file_block(ContextFile(f.path, ""), comment_prefix)) for f in candidates
    ]
    needs = []
    for file, cost in zip(candidates, overhead, strict=True):
        text_cost = size_upto(file.text, size)
        if text_cost <= size and not file.text.endswith("\n"):
            text_cost += 1  # the block adds the missing final newline
        needs.append(cost + text_cost)
    grants = [0] * len(candidates)
    remaining = max(0, size)
    order = sorted(range(len(candidates)), key=lambda i: (needs[i], i))
    for left, i in enumerate(order):
        grants[i] = min(needs[i], remaining // (len(order) - left))
        remaining -= grants[i]
    chosen: list[ContextFile] = []
    for file, cost, need, grant in zip(candidates, overhead, needs, grants, strict=True):
        if grant >= need:
            chosen.append(file)
            continue
        head = head_within(file.text, grant - cost)
        cut = head.rfind("\n")
        if cut >= 0:
            chosen.append(ContextFile(file.path, head[: cut + 1]))
    return tuple(chosen)
