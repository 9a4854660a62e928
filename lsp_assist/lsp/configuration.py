"""Settings from the client: `initializationOptions`, then the `lspAssist` section of
`workspace/configuration`, pulled after `initialized` and on `didChangeConfiguration`."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from lsprotocol import types

from lsp_assist.session import Session, settings_section

if TYPE_CHECKING:
    from pygls.lsp.server import LanguageServer

log = logging.getLogger(__name__)

CONFIG_SECTION = "lspAssist"


def client_pulls_configuration(server: LanguageServer) -> bool:
    workspace = server.client_capabilities.workspace
    return bool(workspace and workspace.configuration)


async def pull_configuration(server: LanguageServer, session: Session) -> None:
    if not client_pulls_configuration(server):
        return
    try:
        result = await server.workspace_configuration_async(
            types.ConfigurationParams(items=[types.ConfigurationItem(section=CONFIG_SECTION)])
        )
    except Exception as exc:
        log.warning("workspace/configuration failed: %s", exc)
        return
    section = settings_section(result)
    if section is not None:
        session.set_workspace_configuration(section)


async def did_change_configuration(
    server: LanguageServer, session: Session, params: types.DidChangeConfigurationParams
) -> None:
    if client_pulls_configuration(server):
        await pull_configuration(server, session)
    elif isinstance(params.settings, dict):
        session.set_workspace_configuration(params.settings.get(CONFIG_SECTION, params.settings))
