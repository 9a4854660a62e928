"""Before the demo types: which model servers will answer its completions, and which served.

A quick look (about a second per server), not the doctor's diagnosis: the demo only needs to
know whether a model will answer or the offline engine has to, and to say so. The embedded
engine is not started here (the language server starts it): its model file and the `xllamacpp`
package being there is enough.

Each suggestion's `lspAssist/status` names who made it: "lsp-assist · MODEL (ENDPOINT)" for a
named endpoint, "lsp-assist · MODEL" for Ollama at `ollama.host`; `served_by` reads it back.
"""

from __future__ import annotations

import asyncio
import dataclasses
import importlib.util
import re
from dataclasses import dataclass

from lsp_assist.backends.endpoints import EndpointClients, embedded_model_path
from lsp_assist.backends.ollama import OllamaBackend
from lsp_assist.config import Endpoint, Settings

HOST_CHECK_TIMEOUT_S = 1.0

_LABEL = re.compile(r"^lsp-assist · (?P<model>.+?)(?: \((?P<endpoint>[^()]+)\))?$")


@dataclass(frozen=True)
class ServedBy:
    model: str
    endpoint: str
    """The endpoint's name ("" for Ollama at `ollama.host`, or the offline engine)."""


def served_by(engine_label: str) -> ServedBy:
    """Who made a suggestion, from its status's `engine` label."""
    found = _LABEL.match(engine_label)
    if found is None:  # the offline engine's own label, or none
        return ServedBy("", "")
    return ServedBy(found["model"], found["endpoint"] or "")


async def ollama_answers(host: str) -> bool:
    """Whether Ollama answers `/api/version` at `host`, within about a second."""
    backend = OllamaBackend(host, timeout_s=HOST_CHECK_TIMEOUT_S)
    try:
        return bool(await asyncio.wait_for(backend.version(), HOST_CHECK_TIMEOUT_S + 0.5))
    except Exception:  # unreachable, not Ollama, too slow: all the same here
        return False
    finally:
        await backend.close()


async def answering_endpoints(settings: Settings) -> dict[str, bool]:
    """Per endpoint completions use (in their order): will it answer?"""
    quick = [
        _quick(endpoint) for endpoint in settings.completion_endpoints if endpoint.kind != "offline"
    ]
    clients = EndpointClients(lambda: settings.ollama)
    try:
        answers = await asyncio.gather(*(_answers(clients, endpoint) for endpoint in quick))
    finally:
        await clients.close()
    found = dict(zip((e.name for e in quick), answers, strict=True))
    # The offline engine always answers; it is listed so the demo can say it serves.
    return {e.name: found.get(e.name, True) for e in settings.completion_endpoints}


def _quick(endpoint: Endpoint) -> Endpoint:
    return dataclasses.replace(endpoint, timeoutS=HOST_CHECK_TIMEOUT_S)


async def _answers(clients: EndpointClients, endpoint: Endpoint) -> bool:
    if endpoint.kind == "embedded":
        # Starting it here would load the model twice: the language server starts it.
        return (
            embedded_model_path(endpoint).is_file()
            and importlib.util.find_spec("xllamacpp") is not None
        )
    try:
        return await asyncio.wait_for(
            clients.client(endpoint).answers(), HOST_CHECK_TIMEOUT_S + 0.5
        )
    except Exception:  # unreachable, too slow: all the same here
        return False
