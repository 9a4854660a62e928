"""`--settings FILE` for the command-line tools: the `lspAssist` settings an editor would send,
read from a JSON file.

Three shapes are accepted, so that a user can point at what they already have:

* `{"lspAssist": {...}}` — the section under its name (as in Neovim or Helix configs);
* `{...}` — the section itself (`initializationOptions`);
* VS Code's `settings.json`, whose keys are flat (`"lspAssist.completion.model": "…"`); its
  comments and trailing commas are allowed, and keys of other extensions are ignored.

The result is the raw camelCase object: it goes through `parse_settings`, the server's one parse
path, which reports each bad value as one message and uses its default instead.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from lsp_assist.config import merge_settings_json

SECTION = "lspAssist"


class SettingsFileError(Exception):
    """The file cannot be read or is not JSON; the text is the one line to print."""


def read_settings_file(path: str) -> dict[str, Any]:
    """The `lspAssist` object of the file at `path`. Raises `SettingsFileError`."""
    try:
        text = Path(path).expanduser().read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise SettingsFileError(f"lsp-assist: no such settings file: {path}") from None
    except UnicodeDecodeError:
        raise SettingsFileError(f"lsp-assist: the settings file {path} is not UTF-8") from None
    except OSError as exc:
        raise SettingsFileError(f"lsp-assist: cannot read {path}: {exc.strerror}") from None
    try:
        raw = json.loads(strip_jsonc(text))
    except json.JSONDecodeError as exc:
        raise SettingsFileError(
            f"lsp-assist: the settings file {path} is not JSON: {exc.msg} "
            f"(line {exc.lineno}, column {exc.colno})"
        ) from None
    if not isinstance(raw, Mapping):
        raise SettingsFileError(f"lsp-assist: the settings file {path} must hold a JSON object")
    return lsp_assist_section(raw)


def lsp_assist_section(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The `lspAssist` object out of any of the three shapes."""
    flat = {k: v for k, v in raw.items() if k.startswith(SECTION + ".")}
    nested = raw.get(SECTION)
    if not flat and nested is None:
        return dict(raw)  # the bare section
    section: Any = dict(nested) if isinstance(nested, Mapping) else {}
    for key, value in flat.items():
        # "lspAssist.completion.model": "x" → {"completion": {"model": "x"}}
        for part in reversed(key.split(".")[1:]):
            value = {part: value}
        section = merge_settings_json(section, value)
    return dict(section)


def with_overrides(
    raw: Mapping[str, Any], *, host: str | None = None, model: str | None = None
) -> dict[str, Any]:
    """`raw` with the command line's `--host` and `--model` on top."""
    overrides: dict[str, Any] = {}
    if host:
        overrides["ollama"] = {"host": host}
    if model:
        overrides["completion"] = {"model": model}
    merged = merge_settings_json(dict(raw), overrides)
    return dict(merged) if isinstance(merged, Mapping) else {}


def strip_jsonc(text: str) -> str:
    """JSON with comments (`//`, `/* */`) and trailing commas, as VS Code writes it, made JSON.
    Strings are left alone, so a URL's `//` survives."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        char = text[i]
        if char == '"':
            end = i + 1
            while end < n and text[end] != '"':
                end += 2 if text[end] == "\\" else 1
            out.append(text[i : end + 1])
            i = end + 1
        elif text.startswith("//", i):
            i = text.find("\n", i)
            i = n if i < 0 else i
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            i = n if end < 0 else end + 2
        elif char == ",":
            rest = _skip_blank(text, i + 1)
            if rest < n and text[rest] in "}]":
                i += 1  # a trailing comma
            else:
                out.append(char)
                i += 1
        else:
            out.append(char)
            i += 1
    return "".join(out)


def _skip_blank(text: str, i: int) -> int:
    """The index of the next character that is neither whitespace nor inside a comment."""
    n = len(text)
    while i < n:
        if text[i].isspace():
            i += 1
        elif text.startswith("//", i):
            end = text.find("\n", i)
            i = n if end < 0 else end
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            i = n if end < 0 else end + 2
        else:
            break
    return i
