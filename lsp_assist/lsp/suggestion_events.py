"""Suggestion events: the clients tell the server what became of each suggestion.

The protocol (also in `editors/PROTOCOL.md`):

- Every inline completion item, and the suggestion's completion item, carries
  `command: {"title": "lsp-assist: accepted", "command": "lspAssist.suggestionAccepted",
  "arguments": [{"id": "<suggestion id>"}]}`. VS Code runs an inline item's command when the
  item is accepted in full (and a completion item's when it is picked); the server then
  counts a full accept of the suggestion's whole text.
- Clients send the notification `lspAssist/suggestionEvent` with params
  `{"id": "<suggestion id>", "kind": "shown" | "accepted" | "partial" | "dismissed",
  "acceptedChars": <int>}`. `acceptedChars` is for "accepted" (optional: the whole text when
  left out) and "partial" (required): how much of the suggestion's text the client has
  inserted so far, from its start, in the code units of the session's position encoding
  (UTF-16 for VS Code — what its `acceptedLength` counts —, bytes for Neovim's UTF-8). A
  "partial" accept is a word or a line of it, the rest staying shown; each "partial" says the
  total so far, and only a larger total than before counts. Clients that cannot run item
  commands (Neovim) send "accepted" themselves: one accept counts per suggestion id,
  whichever way it arrives, and whichever arrives first.
- Clients send the event after applying the edit it reports (the server looks for the
  accepted text in the document, nearest to where the suggestion was asked for).
- Ids are made by the server, unique in a session (a random session prefix and a counter).
  An unknown or forgotten id (the server keeps the newest 512 answers) is ignored, logged at
  debug; so is a malformed event.

What the server does with them is in `lsp_assist/stats/`: nothing leaves the machine.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from lsprotocol import types

from lsp_assist.session import Session

log = logging.getLogger(__name__)

ACCEPTED_COMMAND = "lspAssist.suggestionAccepted"
EVENT_NOTIFICATION = "lspAssist/suggestionEvent"
ACCEPTED_TITLE = "lsp-assist: accepted"


def accepted_command(suggestion_id: str) -> types.Command:
    """The command an item carries, run by the client when the item is accepted."""
    return types.Command(
        title=ACCEPTED_TITLE, command=ACCEPTED_COMMAND, arguments=[{"id": suggestion_id}]
    )


def suggestion_accepted(session: Session, arguments: tuple[Any, ...]) -> None:
    """`workspace/executeCommand lspAssist.suggestionAccepted [{"id": …}]`."""
    suggestion_id = _field(arguments[0], "id") if arguments else None
    if not isinstance(suggestion_id, str):
        log.debug("suggestionAccepted without an id: ignored")
        return
    session.acceptance.accepted(suggestion_id)


def suggestion_event(session: Session, params: Any) -> None:
    """`lspAssist/suggestionEvent {id, kind, acceptedChars?}`."""
    suggestion_id = _field(params, "id")
    kind = _field(params, "kind")
    chars = _field(params, "acceptedChars")
    if not isinstance(suggestion_id, str) or (chars is not None and not _is_count(chars)):
        log.debug("malformed suggestion event: ignored")
        return
    recorder = session.acceptance
    if kind == "shown":
        recorder.shown(suggestion_id)
    elif kind == "accepted":
        recorder.accepted(suggestion_id, chars, session.encoding)
    elif kind == "partial" and chars is not None:
        recorder.partial(suggestion_id, chars, session.encoding)
    elif kind == "dismissed":
        recorder.dismissed(suggestion_id)
    else:
        log.debug("suggestion event of an unknown kind %r: ignored", kind)


def _is_count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _field(value: Any, name: str) -> Any:
    """A field of a JSON object, as pygls hands it over: a dict, or a namedtuple for the params
    of a method lsprotocol does not know."""
    if isinstance(value, Mapping):
        return value.get(name)
    return getattr(value, name, None)
