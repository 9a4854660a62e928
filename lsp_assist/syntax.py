"""Questions the syntax tree answers for completion.

* Single line or several? A new statement on an empty line, or the empty body after a block
  opener (`def f():`, `{`), wants a block; the middle of an expression, a string or a comment
  wants the rest of one line.
* Would a suggestion break the code? The suggestion is pasted into a copy of the buffer's tree
  (an incremental edit, so it costs about as much as a keystroke) and the syntax errors are
  counted; a suggestion that adds errors is dropped.
"""

from __future__ import annotations

import tree_sitter

from lsp_assist.documents import Document

# Nodes that hold a bracketed list of things: on an empty line inside one, the next thing is
# one element, not a block.
_BRACKETED = frozenset(
    {
        "argument_list",
        "arguments",
        "parameters",
        "formal_parameters",
        "parameter_list",
        "parenthesized_expression",
        "list",
        "tuple",
        "set",
        "dictionary",
        "array",
        "object",
        "subscript",
        "generator_expression",
        "list_comprehension",
        "dictionary_comprehension",
        "initializer_list",
        "table_constructor",
        "type_arguments",
        "type_parameters",
    }
)
_CLOSERS = set(")]};,")


def _innermost_node(tree: tree_sitter.Tree, byte: int) -> tree_sitter.Node:
    node = tree.root_node.descendant_for_byte_range(byte, byte)
    return node if node is not None else tree.root_node


def _is_inside(node: tree_sitter.Node, byte: int) -> bool:
    return node.start_byte < byte < node.end_byte


def _in_string_or_comment(node: tree_sitter.Node | None, byte: int) -> bool:
    while node is not None:
        kind = node.type
        if ("string" in kind or "comment" in kind) and _is_inside(node, byte):
            return True
        node = node.parent
    return False


def _in_brackets(node: tree_sitter.Node | None, byte: int) -> bool:
    while node is not None:
        if node.type in _BRACKETED and _is_inside(node, byte):
            return True
        node = node.parent
    return False


def wants_multiline(document: Document, offset: int) -> bool:
    """Whether a suggestion at `offset` should be a block rather than the rest of one line."""
    line, _ = document.position_at(offset)
    line_start = document.offset_at(line, 0)
    line_text = document.line_text(line)
    column = offset - line_start
    before, after = line_text[:column], line_text[column:]
    if after.strip() and not set(after.strip()) <= _CLOSERS:
        return False  # mid-line: finish this line only
    tree = document.tree
    if tree is not None:
        byte = document.byte_offset(offset)
        node = _innermost_node(tree, byte)
        if _in_string_or_comment(node, byte):
            return False
        if not before.strip():
            return not _in_brackets(node, byte)
    elif not before.strip():
        return True
    stripped = before.rstrip()
    return any(stripped.endswith(opener) for opener in document.language.block_openers)


def count_syntax_errors(tree: tree_sitter.Tree) -> int:
    """ERROR and MISSING nodes; only subtrees that contain an error are visited."""
    count = 0
    pending = [tree.root_node] if tree.root_node.has_error else []
    while pending:
        node = pending.pop()
        if node.is_error or node.is_missing:
            count += 1
        pending.extend(child for child in node.children if child.has_error or child.is_missing)
    return count


def _placeholder_body(document: Document, offset: int, text: str) -> str:
    """What lets a suggestion that ends by opening a block (`if x:`, `{`) parse: the body
    the user will write next is not the suggestion's fault."""
    last_line = text.rsplit("\n", 1)[-1]
    if not any(last_line.rstrip().endswith(o) for o in document.language.block_openers):
        return ""
    if document.language.brace_blocks:
        return "}"
    if document.language.name == "python":
        line, _ = document.position_at(offset)
        indent = last_line if "\n" in text else document.line_text(line)
        width = len(indent) - len(indent.lstrip())
        return "\n" + " " * (width + 4) + "pass"
    return "\nend"


def introduces_syntax_errors(document: Document, offset: int, text: str) -> bool:
    """Whether inserting `text` at `offset` would leave the buffer with more syntax errors."""
    tree = document.tree
    if tree is None or not text:
        return False
    inserted = text + _placeholder_body(document, offset, text)
    source = document.source_bytes
    byte = document.byte_offset(offset)
    added = inserted.encode("utf-8")
    line, _ = document.position_at(offset)
    column_bytes = byte - document.byte_offset(document.offset_at(line, 0))
    rows = inserted.count("\n")
    if rows:
        end_column = len(inserted.rsplit("\n", 1)[-1].encode("utf-8"))
    else:
        end_column = column_bytes + len(added)
    edited = tree.copy()
    edited.edit(
        start_byte=byte,
        old_end_byte=byte,
        new_end_byte=byte + len(added),
        start_point=(line, column_bytes),
        old_end_point=(line, column_bytes),
        new_end_point=(line + rows, end_column),
    )
    parser = tree_sitter.Parser(tree.language)
    new_tree = parser.parse(source[:byte] + added + source[byte:], edited)
    return count_syntax_errors(new_tree) > count_syntax_errors(tree)
