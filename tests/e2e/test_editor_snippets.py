"""The configuration snippets in docs/editors/ are real files, and these tests hold them to
what they claim.

Every snippet is parsed as its editor parses it (TOML, JSON with comments, Emacs Lisp read and
evaluated by Emacs) and checked: it launches `lsp-assist serve`, it uses only keys its editor
knows, and the settings it passes are accepted by the server's own settings model with every
value taking effect. Emacs (from Debian when missing) also runs its snippet for real: Eglot
starts the server, completion brings the fake Ollama's answer, and saving a buggy file brings
a Flymake diagnostic. Helix, Zed and Sublime Text are not installable here (not in Debian), so
their snippets are checked against each editor's documented schema only.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from lsp_assist.config import parse_settings
from tests.e2e.review_answers import BUGGY, SUBTRACTS_FINDING
from tests.fakes.fake_ollama import FakeOllama, Reply

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parents[2]
EDITORS = ROOT / "docs" / "editors"
EMACS_SMOKE = Path(__file__).parent / "emacs" / "eglot_smoke.el"


# -- shared checks ----------------------------------------------------------------------------


def assert_settings_take_effect(raw: Mapping[str, Any]) -> None:
    """`raw` (camelCase, as the editor sends it) parses with no problem, names only known
    settings (the parser ignores unknown keys, so a typo would pass silently) and every value
    it gives is the one the server then uses."""
    settings, problems = parse_settings(raw)
    assert problems == []
    sections = raw.get("lspAssist", raw)
    assert sections, "the snippet passes no settings"
    for section_name, values in sections.items():
        section = getattr(settings, section_name, None)
        assert dataclasses.is_dataclass(section), f"unknown section {section_name!r}"
        known = {f.name for f in dataclasses.fields(section)}
        for key, value in values.items():
            assert key in known, f"unknown setting {section_name}.{key}"
            assert getattr(section, key) == value, f"{section_name}.{key} did not take effect"


def load_jsonc(text: str) -> Any:
    """JSON with // and /* */ comments and trailing commas, as Zed and Sublime Text read it."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == '"':  # copy a string whole: "//" inside one is not a comment
            j = i + 1
            while text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append(text[i : j + 1])
            i = j + 1
        elif text.startswith("//", i):
            end = text.find("\n", i)
            i = n if end < 0 else end
        elif text.startswith("/*", i):
            i = text.index("*/", i) + 2
        else:
            out.append(c)
            i += 1
    # Drop a comma before } or ], leaving strings as they are.
    no_trailing_commas = re.sub(
        r'"(?:\\.|[^"\\])*"|,(\s*[}\]])',
        lambda m: m.group(1) if m.group(1) is not None else m.group(0),
        "".join(out),
    )
    return json.loads(no_trailing_commas)


def test_jsonc_reader_drops_comments_and_trailing_commas_but_not_inside_strings() -> None:
    text = '{"url": "http://x//y", "odd": "a,]\\"", // note\n /* block */ "list": [1, 2,],}'
    assert load_jsonc(text) == {"url": "http://x//y", "odd": 'a,]"', "list": [1, 2]}


# -- Helix (schema-level: hx is not in Debian 12) ---------------------------------------------

# Keys of helix-core's LanguageServerConfiguration and LanguageConfiguration (kebab-case).
HELIX_SERVER_KEYS = {
    "command",
    "args",
    "environment",
    "config",
    "timeout",
    "required-root-patterns",
}
HELIX_LANGUAGE_KEYS = {
    "name", "language-id", "scope", "file-types", "shebangs", "roots", "comment-token",
    "comment-tokens", "block-comment-tokens", "text-width", "soft-wrap", "auto-format",
    "formatter", "path-completion", "word-completion", "diagnostic-severity", "grammar",
    "injection-regex", "language-servers", "indent", "debugger", "auto-pairs", "rulers",
    "workspace-lsp-roots", "persistent-diagnostic-sources",
}  # fmt: skip
HELIX_FEATURES = {
    "format", "goto-declaration", "goto-definition", "goto-type-definition", "goto-reference",
    "goto-implementation", "signature-help", "hover", "document-highlight", "completion",
    "code-action", "workspace-command", "document-symbols", "workspace-symbols", "diagnostics",
    "rename-symbol", "inlay-hints", "document-colors",
}  # fmt: skip
HELIX_LANGUAGES = {"python", "rust", "go", "typescript", "javascript", "tsx", "java", "c", "cpp"}


def helix_section(config: Any, section: str) -> Any:
    """What Helix answers to workspace/configuration: `config` walked along the dotted section
    (null when a part is missing)."""
    for part in section.split("."):
        if not isinstance(config, Mapping) or part not in config:
            return None
        config = config[part]
    return config


def test_helix_snippet_launches_lsp_assist_with_valid_settings() -> None:
    snippet = tomllib.loads((EDITORS / "helix" / "languages.toml").read_text())
    assert set(snippet) <= {"language", "language-server", "grammar", "use-grammars"}
    server = snippet["language-server"]["lsp-assist"]
    assert set(server) <= HELIX_SERVER_KEYS
    assert (Path(server["command"]).name, server["args"]) == ("lsp-assist", ["serve"])
    # Helix sends `config` as initializationOptions ...
    assert_settings_take_effect(server["config"])
    # ... and answers the server's workspace/configuration ("lspAssist") from it: null here,
    # which leaves the initializationOptions in force.
    assert helix_section(server["config"], "lspAssist") is None
    languages = snippet["language"]
    assert {language["name"] for language in languages} <= HELIX_LANGUAGES
    for language in languages:
        assert set(language) <= HELIX_LANGUAGE_KEYS
        names = []
        for entry in language["language-servers"]:
            if isinstance(entry, str):
                names.append(entry)
            else:
                assert set(entry) <= {"name", "only-features", "except-features"}
                assert set(entry.get("only-features", [])) <= HELIX_FEATURES
                assert set(entry.get("except-features", [])) <= HELIX_FEATURES
                names.append(entry["name"])
        assert "lsp-assist" in names, language["name"]


# -- Zed (schema-level: Zed is not in Debian) -------------------------------------------------


def test_zed_snippet_and_extension_launch_lsp_assist_with_valid_settings() -> None:
    settings = load_jsonc((EDITORS / "zed" / "settings.json").read_text())
    extension = tomllib.loads((EDITORS / "zed" / "extension" / "extension.toml").read_text())
    source = (EDITORS / "zed" / "extension" / "src" / "lib.rs").read_text()
    # Zed starts only servers that an extension registers; this one registers lsp-assist ...
    registered = extension["language_servers"]["lsp-assist"]
    assert {"id", "name", "version", "schema_version"} <= set(extension)
    # ... and launches `lsp-assist serve` from PATH unless lsp.lsp-assist.binary says otherwise.
    assert 'worktree.which("lsp-assist")' in source
    assert 'vec!["serve".to_string()]' in source
    for name, language in settings["languages"].items():
        assert name in registered["languages"], f"{name}: the extension does not register it"
        assert "lsp-assist" in language["language_servers"]
    lsp = settings["lsp"]["lsp-assist"]
    assert set(lsp) <= {"binary", "initialization_options", "settings"}
    if "binary" in lsp:
        assert Path(lsp["binary"]["path"]).name == "lsp-assist"
        assert lsp["binary"]["arguments"] == ["serve"]
    assert_settings_take_effect(lsp["initialization_options"])
    # Zed answers workspace/configuration for "lspAssist" from `settings["lspAssist"]`.
    assert_settings_take_effect({"lspAssist": lsp["settings"]["lspAssist"]})


# -- Sublime Text LSP (schema-level: Sublime Text is not in Debian) ---------------------------

# Keys of a client in LSP.sublime-settings (sublimelsp/LSP's ClientConfig).
SUBLIME_CLIENT_KEYS = {
    "enabled", "command", "selector", "priority_selector", "diagnostics_mode", "tcp_port",
    "env", "initializationOptions", "settings", "experimental_capabilities",
    "disabled_capabilities", "schemes", "file_watcher", "auto_complete_selector",
    "ignore_server_trigger_chars", "hide_non_project_diagnostics",
}  # fmt: skip


def test_sublime_snippet_launches_lsp_assist_with_valid_settings() -> None:
    snippet = load_jsonc((EDITORS / "sublime" / "LSP.sublime-settings").read_text())
    client = snippet["clients"]["lsp-assist"]
    assert set(client) <= SUBLIME_CLIENT_KEYS
    assert client["enabled"] is True
    command = client["command"]
    assert (Path(command[0]).name, command[1:]) == ("lsp-assist", ["serve"])
    scopes = {scope.strip() for scope in client["selector"].split("|")}
    assert {"source.python", "source.rust", "source.go", "source.ts"} <= scopes
    assert_settings_take_effect(client["initializationOptions"])
    # Sublime answers workspace/configuration for "lspAssist" from settings["lspAssist"].
    assert_settings_take_effect({"lspAssist": client["settings"]["lspAssist"]})


# -- Emacs + Eglot (a real editor: emacs-nox and elpa-eglot from Debian) ----------------------


def _has_eglot(emacs: str) -> bool:
    probe = (
        "(progn (require (quote package))"
        ' (add-to-list (quote package-directory-list) "/usr/share/emacs/site-lisp/elpa")'
        ' (package-initialize) (princ (if (require (quote eglot) nil t) "yes" "no")))'
    )
    result = subprocess.run(
        [emacs, "-Q", "--batch", "--eval", probe], capture_output=True, text=True, timeout=60
    )
    return result.stdout.strip().endswith("yes")


def _apt_install(*packages: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["apt-get", "install", "-y", "-q", "--no-install-recommends"]
        + ["-o", "DPkg::Lock::Timeout=300", *packages],
        env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.fixture(scope="module")
def emacs() -> str:
    """An Emacs with Eglot: the one on PATH, else installed from Debian (Emacs 28 has no
    built-in Eglot, so elpa-eglot comes too). Skips only when neither can be had."""
    found = shutil.which("emacs")
    if found and _has_eglot(found):
        return found
    if not shutil.which("apt-get") or os.geteuid() != 0:
        pytest.skip("Emacs with Eglot is not installed and apt-get as root is not available")
    subprocess.run(["apt-get", "update", "-q"], capture_output=True, timeout=300, check=False)
    installed = _apt_install("emacs-nox", "elpa-eglot")
    if installed.returncode != 0:  # a release whose Emacs has Eglot built in
        installed = _apt_install("emacs-nox")
    found = shutil.which("emacs")
    if found is None or not _has_eglot(found):
        pytest.skip(f"Emacs with Eglot is not installable here: {installed.stderr[-500:]}")
    return found


def run_emacs(emacs: str, tmp_path: Path, scenario: str, **env: str) -> dict[str, Any]:
    """Runs the snippet in batch Emacs (tests/e2e/emacs/eglot_smoke.el) and returns what it
    reported."""
    (tmp_path / ".git").mkdir(exist_ok=True)  # the project root Eglot finds
    source = tmp_path / "add.py"
    if not source.exists():
        source.write_text("def add(a, b):\n    return ")
    result = tmp_path / f"{scenario}.json"
    full_env = {
        **os.environ,
        "HOME": str(tmp_path / "home"),
        "SNIPPET": str(EDITORS / "emacs" / "lsp-assist.el"),
        "SCENARIO": scenario,
        "RESULT": str(result),
        **env,
    }
    completed = subprocess.run(
        [emacs, "-Q", "--batch", "-l", str(EMACS_SMOKE), str(source)],
        env=full_env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )
    assert result.exists(), completed.stderr[-3000:]
    payload: dict[str, Any] = json.loads(result.read_text())
    assert payload.get("err") is None, payload
    return payload


def served_by_this_checkout(fake_ollama: FakeOllama) -> dict[str, str]:
    """The snippet's `lsp-assist serve`, pointed at this checkout and at the fake Ollama."""
    command = [sys.executable, "-m", "lsp_assist", "serve", "-vv"]
    return {"LSP_ASSIST_COMMAND": json.dumps(command), "OLLAMA_HOST": fake_ollama.url}


@pytest.mark.timeout(900)  # the first use may install Emacs from Debian
def test_emacs_snippet_launches_lsp_assist_with_valid_settings(emacs: str, tmp_path: Path) -> None:
    configured = run_emacs(emacs, tmp_path, "dump")
    assert configured["command"] == ["lsp-assist", "serve"]
    assert configured["hooked"] is True  # python-mode buffers start Eglot
    assert_settings_take_effect(configured["initializationOptions"])
    # Eglot answers workspace/configuration for "lspAssist" with that key's value.
    assert_settings_take_effect({"lspAssist": configured["workspaceConfiguration"]["lspAssist"]})


@pytest.mark.timeout(900)
def test_emacs_eglot_completion_brings_the_models_suggestion(
    emacs: str, fake_ollama: FakeOllama, tmp_path: Path
) -> None:
    fake_ollama.reply_with("a + b")
    result = run_emacs(
        emacs, tmp_path, "complete", WANTED="a + b", **served_by_this_checkout(fake_ollama)
    )
    assert "a + b" in result["candidates"]
    assert result["buffer"] == "def add(a, b):\n    return a + b"  # accepting applied the edit
    (request, *_) = fake_ollama.generate_requests
    assert request.body["model"] == "qwen2.5-coder:1.5b-base"  # the snippet's completion.model
    assert request.body["prompt"].endswith("<|fim_middle|>    return ")


@pytest.mark.timeout(900)
def test_emacs_saving_a_buggy_file_brings_a_flymake_diagnostic(
    emacs: str, fake_ollama: FakeOllama, tmp_path: Path
) -> None:
    def responder(body: dict[str, Any]) -> Reply:
        if body.get("format"):  # a review call to /api/chat
            return Reply(text=json.dumps({"findings": [SUBTRACTS_FINDING]}))
        return Reply(text="")

    fake_ollama.set_responder(responder)
    result = run_emacs(
        emacs, tmp_path, "review", BUGGY_TEXT=BUGGY, **served_by_this_checkout(fake_ollama)
    )
    (diagnostic,) = result["diagnostics"]
    assert "subtracts instead of adding" in diagnostic["text"].lower()
    assert diagnostic["type"] == "eglot-warning"
    assert diagnostic["covered"].strip() == "return a - b"
    assert any(title.startswith("Fix") for title in result["actions"]), result["actions"]
    assert result["fixed"] == "def add(a, b):\n    return a + b\n"  # eglot-code-action-quickfix
    (review, *_) = fake_ollama.chat_requests
    assert review.body["model"] == "qwen2.5-coder:7b-instruct"  # the snippet's review.model
