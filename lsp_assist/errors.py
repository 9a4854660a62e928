"""Backend faults, each with one short, actionable message for the user.

The log gets the details; the user gets the fix. `FaultNotifier` makes sure each kind of
fault is shown once (per model / host), not once per keystroke.
"""

from __future__ import annotations

from collections.abc import Callable


class BackendError(Exception):
    """Base class: something went wrong talking to the model server."""

    kind = "backend"
    severity = "error"

    def user_message(self) -> str:
        return str(self)


class BackendUnavailable(BackendError):
    kind = "unavailable"

    def __init__(self, host: str, detail: str = "") -> None:
        super().__init__(f"cannot reach Ollama at {host}: {detail}")
        self.host = host
        self.offline_fallback = False
        """Set when the offline engine serves meanwhile: the message then says so."""

    def user_message(self) -> str:
        message = (
            f"lsp-assist: Ollama is not reachable at {self.host} — start it with `ollama serve` "
            "or set lspAssist.ollama.host"
        )
        if self.offline_fallback:
            message += "; meanwhile the offline engine completes from your workspace's code"
        return message


class ModelNotFound(BackendError):
    kind = "model-not-found"

    def __init__(self, model: str) -> None:
        super().__init__(f"model {model!r} not found")
        self.model = model

    def user_message(self) -> str:
        return f"lsp-assist: model '{self.model}' not found — run `ollama pull {self.model}`"


class ModelWithoutFim(BackendError):
    kind = "no-fim"

    def __init__(self, model: str) -> None:
        super().__init__(f"model {model!r} does not support fill-in-the-middle")
        self.model = model

    def user_message(self) -> str:
        return (
            f"lsp-assist: model '{self.model}' cannot fill in the middle — use a base code model "
            "such as qwen2.5-coder:1.5b-base (`ollama pull qwen2.5-coder:1.5b-base`) and set "
            "lspAssist.completion.model"
        )


class ServerBusy(BackendError):
    kind = "busy"
    severity = "warning"

    def user_message(self) -> str:
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


class FaultNotifier:
    """Shows each kind of fault once until the backend works again."""

    def __init__(self, show: Callable[[str, str], None]) -> None:
        self._show = show
        self._shown: set[str] = set()

    def report(self, error: BackendError, scope: str = "") -> None:
        if isinstance(error, BackendUnavailable):
            scope = ""  # the host is down for completions and reviews alike: say it once
        key = f"{error.kind}:{scope}"
        if key in self._shown:
            return
        self._shown.add(key)
        self._show(error.severity, error.user_message())

    def recovered(self) -> None:
        """The backend answered: a later fault is news again."""
        self._shown.clear()
