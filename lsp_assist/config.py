"""The one typed settings model.

Editors send settings as camelCase JSON, both as `initializationOptions` and as the
`lspAssist` section of `workspace/configuration`. Both go through `parse_settings`, which
ignores unknown keys and replaces each bad value by its default with one message, so a typo
in a user's settings never stops the server.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, get_args, get_origin, get_type_hints
from urllib.parse import urlsplit

DEFAULT_OLLAMA_HOST = "http://127.0.0.1:11434"

MultilineMode = Literal["auto", "always", "never"]
PrefetchMode = Literal["auto", "always", "never"]
BackendChoice = Literal["auto", "model", "ollama", "offline"]
EndpointKind = Literal["ollama", "llamacpp", "openai", "embedded", "offline"]
FimFamily = Literal["", "qwen", "deepseek", "codellama", "starcoder2", "codestral", "codeqwen"]

SECRET_SETTINGS = frozenset({"apiKeyEnv", "url", "host", "caBundle"})
"""Settings whose bad values are not repeated in messages (they may hold a secret)."""

DEFAULT_URLS: dict[str, str] = {
    "llamacpp": "http://127.0.0.1:8012",  # llama.vim's and llama.vscode's default port
    "openai": "http://127.0.0.1:8000/v1",  # vLLM's default port
}
"""Where each kind of model server listens when `url` is not set (Ollama: `ollama.host`)."""


@dataclass(frozen=True)
class OllamaSettings:
    host: str = ""
    """Ollama's URL. Empty means `$OLLAMA_HOST`, then http://127.0.0.1:11434."""
    keepAlive: str = "30m"
    """How long Ollama keeps the model loaded after a request (a Go duration such as "30m")."""
    timeoutS: float = 60.0
    """Seconds to wait for the first token; covers a cold model load."""

    @property
    def resolved_host(self) -> str:
        return self.host or os.environ.get("OLLAMA_HOST", "") or DEFAULT_OLLAMA_HOST


@dataclass(frozen=True)
class Endpoint:
    """A model server (or the engine in this process) that completions and reviews can use,
    named in `lspAssist.endpoints`."""

    name: str = ""
    kind: EndpointKind = "ollama"
    url: str = ""
    """The server's base URL (openai: up to and including `/v1`). Empty: `ollama.host` for
    Ollama, http://127.0.0.1:8012 for llama.cpp, http://127.0.0.1:8000/v1 for openai."""
    apiKeyEnv: str = ""
    """The environment variable that holds the bearer key (the key itself never goes in
    settings). It is sent to this URL only: redirects are not followed."""
    caBundle: str = ""
    """A PEM file of certificate authorities to trust for https (verification is always on)."""
    completionModel: str = ""
    """This server's name for the completion model, when it differs from `completion.model`
    (vLLM: "Qwen/Qwen2.5-Coder-1.5B"; llama.cpp serves the one model it was started with)."""
    reviewModel: str = ""
    """This server's name for the review model, when it differs from `review.model`."""
    fim: FimFamily = ""
    """The completion model's FIM tokens, when they cannot be told from its name or its server
    ("qwen", "deepseek", …). Empty: detected."""
    modelPath: str = ""
    """embedded: the GGUF file to load. Empty: the model `lsp-assist models pull` fetched."""
    threads: int = 0
    """embedded: CPU threads for the model (0: half the cores, at least one)."""
    slot: int = -1
    """llamacpp with several slots (`--parallel`): -1, llama.cpp picks (the free slot whose
    cache is most like the prompt: this editor's own when it can); N: slot N, an admin's
    assignment when there are as many slots as editors; -2: the slot the server chose for the
    session's first request (measured slower for a team: see the README)."""
    timeoutS: float = 60.0
    """Seconds to wait for the first byte of an answer."""

    @property
    def resolved_url(self) -> str:
        return self.url or DEFAULT_URLS.get(self.kind, "")

    @property
    def description(self) -> str:
        """How the user knows it: "lcpp (llama.cpp at http://…)"."""
        what = KIND_NAMES[self.kind]
        where = f" at {shown_url(self.resolved_url)}" if self.resolved_url else ""
        return f"{self.name} ({what}{where})" if self.name != self.kind else f"{what}{where}"


KIND_NAMES: dict[str, str] = {
    "ollama": "Ollama",
    "llamacpp": "llama.cpp",
    "openai": "OpenAI-compatible server",
    "embedded": "the embedded llama.cpp",
    "offline": "the offline engine",
}


@dataclass(frozen=True)
class CompletionSettings:
    enabled: bool = True
    backend: BackendChoice = "auto"
    """"auto": the model servers of `endpoint`, then the embedded engine if a model was
    pulled, then the offline engine while none answers; "model" (or "ollama"): the model
    servers only; "offline": the offline engine only (learned from the workspace's code)."""
    endpoint: tuple[str, ...] = ()
    """Names from `lspAssist.endpoints`, in failover order (a name or a list): the first that
    answers serves. Empty: every endpoint, in the order they are written (without
    `endpoints`: Ollama at `ollama.host`)."""
    model: str = "qwen2.5-coder:1.5b-base"
    debounceMs: int = 75
    """Wait this long after a keystroke before asking the model (0 = no wait)."""
    maxTokens: int = 128
    multiline: MultilineMode = "auto"
    """"auto" lets the syntax tree decide; "always" / "never" force it."""
    temperature: float = 0.2
    numCtx: int = 4096
    """Context window sent on every request. Constant per model: a change reloads the model."""
    contextFiles: bool = True
    """Put other open files of the same language in the prompt (repo-level FIM)."""
    firstTokenMs: int = 3000
    """Answer a ghost-text request empty if no token has come after this long (0 = wait up to
    `ollama.timeoutS`). The generation goes on and is cached for the next request there.
    3 s: above a warm local model's time to first token with the prompt cache in use (0.1–1 s
    for a 1.5B model on a laptop CPU), below the point where the user has typed on."""
    preload: bool = True
    """Load the completion model when the server starts, so the first keystroke does not wait
    for it."""
    prefetch: PrefetchMode = "auto"
    """While a suggestion is shown and the model is idle, prepare the one that follows it, so
    that accepting it shows the next at once. "auto": for model servers on this machine (a
    shared server's capacity is the team's); "always"; "never"."""


ConfidenceLevel = Literal["low", "medium", "high"]


@dataclass(frozen=True)
class ReviewSettings:
    enabled: bool = True
    model: str = "qwen2.5-coder:7b-instruct"
    """An instruct (chat) model; reviews use the server's structured outputs."""
    endpoint: tuple[str, ...] = ()
    """Names from `lspAssist.endpoints`, in failover order, for reviews (empty: as for
    completions)."""
    onSave: bool = True
    """Review the functions changed since their last review when the file is saved."""
    idleMs: int = 0
    """Also review them after this long without typing (0 = only on save and on command)."""
    numCtx: int = 8192
    """Context window of review calls (constant, so the model is not reloaded)."""
    maxFindings: int = 3
    """At most this many findings per function."""
    minConfidence: ConfidenceLevel = "medium"
    """Findings the model is less sure of are not shown."""


@dataclass(frozen=True)
class ContextSettings:
    enabled: bool = True
    """Put context from the workspace (other files' definitions and similar code) in prompts.
    Secret files (`.env`, keys, credential stores) are never used, and secret-looking values
    (keys, tokens, passwords) are replaced by a placeholder in everything sent to a model."""
    exclude: tuple[str, ...] = ()
    """Files never used as context, as gitignore-like globs: a glob without "/" matches any
    file or folder name ("*.min.js", "fixtures"); one with "/" matches from the workspace root
    ("src/generated/**"); a trailing "/" means a folder and everything in it."""


@dataclass(frozen=True)
class Settings:
    ollama: OllamaSettings = field(default_factory=OllamaSettings)
    completion: CompletionSettings = field(default_factory=CompletionSettings)
    review: ReviewSettings = field(default_factory=ReviewSettings)
    context: ContextSettings = field(default_factory=ContextSettings)
    endpoints: tuple[Endpoint, ...] = ()
    """`lspAssist.endpoints`, in the order they are written."""

    def all_endpoints(self) -> tuple[Endpoint, ...]:
        """The configured endpoints; without any, Ollama at `ollama.host` (today's setting)."""
        if self.endpoints:
            return self.endpoints
        return (
            Endpoint(
                name="ollama",
                kind="ollama",
                url=self.ollama.resolved_host,
                timeoutS=self.ollama.timeoutS,
            ),
        )

    def endpoints_for(self, names: tuple[str, ...]) -> tuple[Endpoint, ...]:
        """The endpoints `names` pick, in that order (all of them when empty; unknown names are
        reported by `parse_settings` and skipped)."""
        known = {endpoint.name: endpoint for endpoint in self.all_endpoints()}
        if not names:
            return tuple(known.values())
        return tuple(known[name] for name in names if name in known)

    @property
    def completion_endpoints(self) -> tuple[Endpoint, ...]:
        return self.endpoints_for(self.completion.endpoint)

    @property
    def review_endpoints(self) -> tuple[Endpoint, ...]:
        return self.endpoints_for(self.review.endpoint or self.completion.endpoint)


_DURATION = re.compile(r"^-?\d+(\.\d+)?(ns|us|µs|ms|s|m|h)(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))*$")


def is_local_url(url: str) -> bool:
    """Whether `url` is a server on this machine (loopback)."""
    host = (urlsplit(url if "://" in url else f"http://{url}").hostname or "").lower()
    return host in ("localhost", "::1") or host.startswith("127.")


def shown_url(url: str) -> str:
    """`url` as logs and messages show it: without a user name or password in it."""
    return re.sub(r"^([a-z][a-z0-9+.-]*://)[^/@\s]*@", r"\1", url, flags=re.I)


def _check_value(section: str, name: str, value: Any) -> str | None:
    """Checks beyond the type: returns a message when the value makes no sense."""
    if name in ("debounceMs", "idleMs", "firstTokenMs") and value < 0:
        return "must be 0 or more"
    if name in ("maxTokens", "numCtx", "maxFindings") and value <= 0:
        return "must be positive"
    if name == "maxFindings" and value > 10:
        return "must be at most 10"
    if name == "numCtx" and value < 512:
        return "must be at least 512"
    if name == "temperature" and not 0 <= value <= 2:
        return "must be between 0 and 2"
    if name == "timeoutS" and value <= 0:
        return "must be positive"
    if name == "keepAlive" and not _DURATION.match(value):
        return 'must be a duration such as "30m" or "-1m"'
    if (
        name == "host"
        and value
        and not re.match(r"^(https?://)?[\w.\-\[\]:]+(:\d+)?(/.*)?$", value)
    ):
        return "must be a URL such as http://127.0.0.1:11434"
    if name == "model" and not value.strip():
        return "must not be empty"
    if name == "url" and value and not re.match(r"^https?://[\w.\-\[\]:]+(:\d+)?(/.*)?$", value):
        return "must be an http(s) URL such as http://127.0.0.1:8012"
    if name == "apiKeyEnv" and value and not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", value):
        return "must be the name of an environment variable, not the key itself"
    if name == "threads" and value < 0:
        return "must be 0 or more"
    if name == "slot" and value < -2:
        return "must be -1 (llama.cpp picks), -2 (the session's first slot) or a slot number"
    return None


def _coerce(expected: Any, value: Any) -> tuple[bool, Any]:
    """Returns (ok, value) for a JSON value against a field's annotated type."""
    if expected is bool:
        return isinstance(value, bool), value
    if expected is int:
        if isinstance(value, bool):
            return False, value
        if isinstance(value, float) and value.is_integer():
            return True, int(value)
        return isinstance(value, int), value
    if expected is float:
        if isinstance(value, bool):
            return False, value
        return isinstance(value, (int, float)), float(value) if isinstance(
            value, (int, float)
        ) else value
    if expected is str:
        return isinstance(value, str), value
    if get_origin(expected) is tuple:  # tuple[str, ...]: a JSON array of strings
        ok = isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value)
        return ok, tuple(value) if ok else value
    choices = get_args(expected)
    if choices:
        return value in choices, value
    return False, value


def _parse_section(cls: type[Any], raw: Any, path: str, problems: list[str]) -> Any:
    if raw is None:
        return cls()
    if not isinstance(raw, Mapping):
        problems.append(f"{path} must be an object; using defaults")
        return cls()
    hints = get_type_hints(cls)
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.name not in raw or raw[f.name] is None:
            continue
        expected = hints[f.name]
        given = raw[f.name]
        if f.name == "endpoint" and isinstance(given, str):
            given = [given]  # one endpoint, or a failover list
        ok, value = _coerce(expected, given)
        choices = get_args(expected) if get_origin(expected) is Literal else ()
        problem = None if ok else "has the wrong type"
        if not ok and choices:
            problem = "must be one of " + ", ".join(repr(c) for c in choices if c)
        if ok:
            problem = _check_value(path, f.name, value)
        if problem:
            default = f.default if f.default is not dataclasses.MISSING else None
            # A value that may be a secret (a key pasted where its variable's name goes, a
            # password in a URL) is not repeated: problems are logged and shown.
            shown = "(not shown)" if f.name in SECRET_SETTINGS else repr(raw[f.name])
            problems.append(f"{path}.{f.name} {problem}: {shown}; using {default!r}")
            continue
        values[f.name] = value
    return cls(**values)


def parse_settings(raw: Any) -> tuple[Settings, list[str]]:
    """Settings from the editor's JSON, plus one message per bad value (already replaced by
    its default). Unknown keys are ignored; `None` or `{}` give the defaults."""
    problems: list[str] = []
    if raw is None:
        return Settings(), problems
    if not isinstance(raw, Mapping):
        return Settings(), ["lspAssist settings must be an object; using defaults"]
    # Some clients nest the section under its name.
    if "lspAssist" in raw and isinstance(raw["lspAssist"], Mapping):
        raw = raw["lspAssist"]
    settings = Settings(
        ollama=_parse_section(OllamaSettings, raw.get("ollama"), "ollama", problems),
        completion=_parse_section(
            CompletionSettings, raw.get("completion"), "completion", problems
        ),
        review=_parse_section(ReviewSettings, raw.get("review"), "review", problems),
        context=_parse_section(ContextSettings, raw.get("context"), "context", problems),
        endpoints=_parse_endpoints(raw.get("endpoints"), problems),
    )
    ollama_host = settings.ollama.resolved_host
    settings = dataclasses.replace(
        settings,
        endpoints=tuple(
            dataclasses.replace(e, url=ollama_host) if e.kind == "ollama" and not e.url else e
            for e in settings.endpoints
        ),
    )
    known = {endpoint.name for endpoint in settings.all_endpoints()}
    for section, names in (
        ("completion", settings.completion.endpoint),
        ("review", settings.review.endpoint),
    ):
        for name in names:
            if name not in known:
                choices = ", ".join(sorted(known))
                problems.append(
                    f"{section}.endpoint names {name!r}, which lspAssist.endpoints does not "
                    f"define (defined: {choices}); skipping it"
                )
    return settings, problems


def _parse_endpoints(raw: Any, problems: list[str]) -> tuple[Endpoint, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, Mapping):
        problems.append("endpoints must be an object of named endpoints; ignoring it")
        return ()
    endpoints = []
    for name, spec in raw.items():
        if not isinstance(spec, Mapping):
            problems.append(f"endpoints.{name} must be an object; ignoring it")
            continue
        parsed = _parse_section(Endpoint, {**spec, "name": None}, f"endpoints.{name}", problems)
        endpoint = dataclasses.replace(parsed, name=str(name))
        if endpoint.kind == "openai" and not endpoint.url:
            problems.append(
                f"endpoints.{name}.url is not set: using {endpoint.resolved_url} "
                "(an OpenAI-compatible server's URL ends in /v1)"
            )
        endpoints.append(endpoint)
    return tuple(endpoints)


def merge_settings_json(base: Any, override: Any) -> Any:
    """`override` on top of `base`, object by object: an editor's `workspace/configuration`
    refines its `initializationOptions` rather than erasing what only they set."""
    if not isinstance(base, Mapping) or not isinstance(override, Mapping):
        return override if override is not None else base
    merged = dict(base)
    for key, value in override.items():
        merged[key] = merge_settings_json(merged.get(key), value)
    return merged


def settings_to_json(settings: Settings) -> dict[str, Any]:
    """The camelCase JSON shape editors use (for docs, `doctor` and tests)."""
    shape = dataclasses.asdict(settings)
    shape["endpoints"] = {
        endpoint["name"]: {k: v for k, v in endpoint.items() if k != "name"}
        for endpoint in shape["endpoints"]
    }
    return shape
