"""Backend faults, each with one short, actionable message for the user.

The log gets the details; the user gets the fix. `FaultNotifier` makes sure each kind of
fault is shown once (per model / host), not once per keystroke.
"""

from __future__ import annotations

from collections.abc import Callable

from lsp_assist.config import shown_url


class BackendError(Exception):
    """Base class: something went wrong talking to the model server."""

    kind = "backend"
    severity = "error"
    host_wide = False
    """A fault of the host (its address, TLS, what answers there), not of one model or role:
    told once for completions and reviews alike."""

    def user_message(self) -> str:
        return str(self)


class BackendUnavailable(BackendError):
    kind = "unavailable"
    host_wide = True

    def __init__(
        self, host: str, detail: str = "", *, server: str = "Ollama", endpoint: str = ""
    ) -> None:
        super().__init__(f"cannot reach {server} at {shown_url(host)}: {detail}")
        self.host = shown_url(host)
        self.server = server
        """What kind of server it is, as the user knows it ("Ollama", "llama.cpp", …)."""
        self.endpoint = endpoint
        """Its name in `lspAssist.endpoints` ("" for `ollama.host`)."""
        self.fallback = ""
        """Who serves meanwhile ("the offline engine", "local (Ollama at …)"), if anyone."""

    @property
    def offline_fallback(self) -> bool:
        return self.fallback == OFFLINE_FALLBACK

    def user_message(self) -> str:
        if not (self.server == "Ollama" and self.endpoint in ("", "ollama")):
            name = self.endpoint or self.server
            start = "start it with `ollama serve`" if self.server == "Ollama" else "start it"
            message = (
                f"lsp-assist: {name} ({self.server}) is not reachable at {self.host} — {start} "
                f"or fix lspAssist.endpoints.{name}.url"
            )
        else:
            message = (
                f"lsp-assist: Ollama is not reachable at {self.host} — start it with "
                "`ollama serve` or set lspAssist.ollama.host"
            )
        if self.fallback == OFFLINE_FALLBACK:
            message += "; meanwhile the offline engine completes from your workspace's code"
        elif self.fallback:
            message += f"; meanwhile completions come from {self.fallback}"
        return message


OFFLINE_FALLBACK = "the offline engine"


class Redirected(BackendError):
    """The server answered with a redirect, which is not followed: it could send the code (and
    a key) to a host the user did not configure."""

    kind = "redirect"
    host_wide = True

    def __init__(self, host: str, location: str) -> None:
        super().__init__(f"{host} redirects to {location or 'somewhere else'}")
        self.host = host
        self.location = location

    def user_message(self) -> str:
        return (
            f"lsp-assist: {self.host} answered with a redirect to {self.location or '?'} — "
            "lsp-assist does not follow redirects (they could send your code or key to another "
            "host); set the endpoint's url to the address that serves the API"
        )


class AuthFailed(BackendError):
    kind = "auth"
    host_wide = True

    def __init__(self, host: str, key_env: str, status: int) -> None:
        super().__init__(f"{host} refused the request (status {status})")
        self.host = host
        self.key_env = key_env

    def user_message(self) -> str:
        if not self.key_env:
            return (
                f"lsp-assist: {self.host} asks for an API key — set the endpoint's apiKeyEnv to "
                "the name of an environment variable that holds it"
            )
        return (
            f"lsp-assist: {self.host} refused the API key from ${self.key_env} — check that "
            "variable in the environment the editor started lsp-assist from"
        )


class NotAModelServer(BackendError):
    """What answers is not the kind of server the settings say (a web page, another API)."""

    kind = "not-a-model-server"
    host_wide = True

    def __init__(self, host: str, server: str, detail: str) -> None:
        super().__init__(f"{host} does not answer like {server}: {detail}")
        self.host = host
        self.server = server

    def user_message(self) -> str:
        return (
            f"lsp-assist: what answers at {self.host} is not {self.server} ({self}) — check the "
            "endpoint's url and kind"
        )


class ModelNotFound(BackendError):
    kind = "model-not-found"

    def __init__(
        self, model: str, *, server: str = "", available: tuple[str, ...] = (), setting: str = ""
    ) -> None:
        super().__init__(f"model {model!r} not found")
        self.model = model
        self.server = server
        """"" for Ollama (which can pull it), else the server that does not serve it."""
        self.available = available
        self.setting = setting
        """The setting that names the model on that server."""

    def user_message(self) -> str:
        if not self.server:
            return f"lsp-assist: model '{self.model}' not found — run `ollama pull {self.model}`"
        serves = f" (it serves: {', '.join(self.available)})" if self.available else ""
        return (
            f"lsp-assist: {self.server} does not serve model '{self.model}'{serves} — set "
            f"{self.setting or 'the model setting'} to its name for the model"
        )


class ModelWithoutFim(BackendError):
    kind = "no-fim"

    def __init__(self, model: str, *, endpoint: str = "") -> None:
        super().__init__(f"model {model!r} does not support fill-in-the-middle")
        self.model = model
        self.endpoint = endpoint
        """The endpoint serving it ("" for `ollama.host`)."""

    def user_message(self) -> str:
        if self.endpoint and self.endpoint != "ollama":
            return (
                f"lsp-assist: model '{self.model}' on {self.endpoint} cannot fill in the middle "
                "(an instruct or chat model, or no FIM tokens) — serve a base code model such as "
                "Qwen2.5-Coder-1.5B (GGUF: qwen2.5-coder-1.5b-q8_0.gguf), or set "
                f"lspAssist.endpoints.{self.endpoint}.fim if you know its FIM tokens"
            )
        return (
            f"lsp-assist: model '{self.model}' cannot fill in the middle — use a base code model "
            "such as qwen2.5-coder:1.5b-base (`ollama pull qwen2.5-coder:1.5b-base`) and set "
            "lspAssist.completion.model"
        )


class ServerBusy(BackendError):
    kind = "busy"
    severity = "warning"

    def __init__(self, detail: str = "", *, retry_after_s: float = 0.0, server: str = "") -> None:
        super().__init__(detail or "busy")
        self.retry_after_s = retry_after_s
        """What the server asked for (`Retry-After`): no request goes to it before then."""
        self.server = server
        """"" for Ollama, else who is busy ("gpu (OpenAI-compatible server at …)")."""

    def user_message(self) -> str:
        if self.server:
            wait = f" for {self.retry_after_s:.0f} s" if self.retry_after_s else ""
            return (
                f"lsp-assist: {self.server} is busy and asked to wait{wait} — requests resume "
                "then (its operators can add replicas or raise its queue limits)"
            )
        return (
            "lsp-assist: Ollama is busy (too many queued requests) — completions resume when it "
            "catches up; raise OLLAMA_MAX_QUEUE or OLLAMA_NUM_PARALLEL if this persists"
        )


class BackendTimeout(BackendError):
    kind = "timeout"
    severity = "warning"

    def user_message(self) -> str:
        return (
            "lsp-assist: Ollama did not answer in time — the model may still be loading, or be "
            "too large for this machine; try a smaller model or raise lspAssist.ollama.timeoutS"
        )


class StillLoading(BackendError):
    """The model is still being loaded: not a fault, the status says so."""

    kind = "loading"
    severity = "info"

    def __init__(self, model: str) -> None:
        super().__init__(f"model {model!r} is still loading")
        self.model = model

    def user_message(self) -> str:
        return f"loading {self.model}; suggestions start when it is ready"


class StreamTruncated(BackendError):
    """The stream ended without Ollama's final `done` chunk (e.g. its repeat guard fired)."""

    kind = "truncated"
    severity = "warning"

    def user_message(self) -> str:
        return (
            "lsp-assist: the model's answer ended early (Ollama stopped the stream); suggestions "
            "are cut to what arrived"
        )


class ModelFailed(BackendError):
    """Ollama reported an error while running the model (500, or an error line mid-stream)."""

    kind = "model-failed"

    def user_message(self) -> str:
        return f"lsp-assist: Ollama failed while running the model: {self} — see Ollama's logs"


class TlsFailed(BackendError):
    """The TLS connection could not be set up: a certificate not trusted (a private CA), one for
    another name, or an https URL for a server that speaks plain HTTP (or the reverse)."""

    kind = "tls"
    host_wide = True

    def __init__(self, host: str, problem: str, detail: str = "", *, endpoint: str = "") -> None:
        super().__init__(f"TLS with {host} failed ({problem}): {detail}")
        self.host = host
        self.problem = problem
        """"untrusted", "wrong-name", "not-tls" (https to a plain server), "no-handshake" (no
        answer to it), "tls-only" (http to a TLS port) or "other"."""
        self.detail = detail
        self.endpoint = endpoint
        """Its name in `lspAssist.endpoints` ("" for `ollama.host`)."""

    def user_message(self) -> str:
        name = self.endpoint or "ollama"
        if self.problem == "not-tls":
            return (
                f"lsp-assist: {self.host} does not speak TLS (https) — use an http:// URL in "
                f"lspAssist.endpoints.{name}.url (or lspAssist.ollama.host), or put TLS in front "
                "of the server"
            )
        if self.problem == "no-handshake":
            return (
                f"lsp-assist: {self.host} did not answer the TLS handshake — if the server speaks "
                f"plain HTTP, use an http:// URL in lspAssist.endpoints.{name}.url (or "
                "lspAssist.ollama.host)"
            )
        if self.problem == "tls-only":
            return (
                f"lsp-assist: {self.host} speaks only TLS — use its https:// URL in "
                f"lspAssist.endpoints.{name}.url (or lspAssist.ollama.host)"
            )
        if self.problem == "wrong-name":
            return (
                f"lsp-assist: the TLS certificate of {self.host} is for another name "
                f"({self.detail}) — use the host name the certificate names in the URL"
            )
        if self.problem == "untrusted":
            return (
                f"lsp-assist: the TLS certificate of {self.host} is not trusted ({self.detail}) "
                f"— add its CA with lspAssist.endpoints.{name}.caBundle (a PEM file; "
                "verification cannot be turned off)"
            )
        return (
            f"lsp-assist: TLS with {self.host} failed ({self.detail}) — check the URL's scheme "
            f"and port, and for a private CA set lspAssist.endpoints.{name}.caBundle"
        )


class TooSlow(BackendError):
    """The first token came, but not even one line of the suggestion within the time a
    suggestion has (`completion.generation.ANSWER_TIME_CAP_S`)."""

    kind = "too-slow"
    severity = "warning"

    def __init__(self, cap_s: float, tokens: int) -> None:
        super().__init__(f"{tokens} token(s) in {cap_s:g} s and no line complete")
        self.cap_s = cap_s
        self.tokens = tokens

    def user_message(self) -> str:
        rate = self.tokens / self.cap_s if self.cap_s else 0.0
        # Slow writing has two causes that look alike from here: the model for this machine,
        # or a shared server's queue (measured: 16 editors on 4 slots gave "1 token/s").
        return (
            f"lsp-assist: suggestions come too slowly for ghost text ({rate:.1f} tokens/s: one "
            f"did not complete in {self.cap_s:g} s) — on this machine, use a smaller model "
            "such as qwen2.5-coder:1.5b-base or a GPU; on a shared server, it needs more slots "
            "or replicas"
        )


class FaultNotifier:
    """Shows each kind of fault once until the backend works again."""

    def __init__(self, show: Callable[[str, str], None]) -> None:
        self._show = show
        self._shown: set[tuple[str, str, str]] = set()

    def report(self, error: BackendError, scope: str = "", source: str = "") -> None:
        """`source`: the endpoint the fault came from, when the route has several."""
        if error.host_wide:
            # Down (or misconfigured) for completions and reviews alike: said once per host.
            scope, source = getattr(error, "host", scope), ""
        key = (source, error.kind, scope)
        if key in self._shown:
            return
        self._shown.add(key)
        self._show(error.severity, error.user_message())

    def recovered(self, source: str | None = None) -> None:
        """The backend answered: a later fault is news again (only that endpoint's, when
        `source` names it: another endpoint's fault still stands)."""
        if source is None:
            self._shown.clear()
        else:
            self._shown = {key for key in self._shown if key[0] not in (source, "")}
