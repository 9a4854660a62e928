"""`workspace/didChangeWatchedFiles`: files changed on disk by something other than the editor
(a `git checkout`, a formatter, a code generator), registered dynamically for the source files
we know the language of, when the client can watch files for us."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from lsprotocol import types

from lsp_assist.languages import SOURCE_SUFFIXES
from lsp_assist.session import Session

if TYPE_CHECKING:
    from pygls.lsp.server import LanguageServer

log = logging.getLogger(__name__)

REGISTRATION_ID = "lsp-assist-watched-sources"


def _watchers() -> list[types.FileSystemWatcher]:
    suffixes = ",".join(sorted(suffix.lstrip(".") for suffix in SOURCE_SUFFIXES))
    return [types.FileSystemWatcher(glob_pattern=f"**/*.{{{suffixes}}}")]


async def register(server: LanguageServer) -> bool:
    """Asks the client to watch the workspace's source files; whether it agreed."""
    workspace = server.client_capabilities.workspace
    watched = workspace.did_change_watched_files if workspace else None
    if not (watched and watched.dynamic_registration):
        return False
    try:
        await server.client_register_capability_async(
            types.RegistrationParams(
                registrations=[
                    types.Registration(
                        id=REGISTRATION_ID,
                        method=types.WORKSPACE_DID_CHANGE_WATCHED_FILES,
                        register_options=types.DidChangeWatchedFilesRegistrationOptions(
                            watchers=_watchers()
                        ),
                    )
                ]
            )
        )
    except Exception as exc:  # the client said no: we just do not hear of disk changes
        log.info("watching files was refused: %s", exc)
        return False
    return True


def did_change_watched_files(session: Session, params: types.DidChangeWatchedFilesParams) -> None:
    for change in params.changes:
        session.file_changed_on_disk(change.uri)
