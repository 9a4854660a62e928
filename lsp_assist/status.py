"""The `lspAssist/status` notification: what the server is doing, for status bars.

One typed payload; which fields are set depends on `state`. The editors' mirrors of it are
`editors/vscode/src/status.ts` (`ServerStatus`) and `editors/nvim/lua/lsp_assist/status.lua`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

State = Literal["ready", "generating", "waiting", "error", "learnt", "reviewing", "reviewed"]


@dataclass(frozen=True)
class Status:
    state: State
    source: str | None = None
    """ready: "model", "type-through", "cache" or "offline"."""
    engine: str | None = None
    """ready: who answered ("lsp-assist offline engine" …)."""
    model: str | None = None
    latencyMs: float | None = None
    backendMs: float | None = None
    promptMs: float | None = None
    promptChars: int | None = None
    message: str | None = None
    """error / waiting: what happened, for a tooltip."""
    files: int | None = None
    """learnt: workspace files read."""
    uri: str | None = None
    done: int | None = None
    total: int | None = None
    findings: int | None = None
    """reviewed: findings shown for `uri`; the run's counts follow."""
    units: int | None = None
    calls: int | None = None
    cached: int | None = None
    invalid: int | None = None
    unanchored: int | None = None
    ms: float | None = None

    def to_json(self) -> dict[str, Any]:
        # Field order is declaration order (as `dataclasses.fields`), at a tenth of its cost:
        # one goes out per keystroke.
        return {name: value for name, value in vars(self).items() if value is not None}
