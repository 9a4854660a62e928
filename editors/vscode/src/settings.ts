/**
 * The `lspAssist.*` settings. The server reads them in its own camelCase shape,
 * `{"ollama": {...}, "completion": {...}, "review": {...}}`: VS Code already nests dotted
 * keys that way, so the section is sent as it is (as `initializationOptions`, and by the
 * language client's answer to `workspace/configuration` for the section `lspAssist`).
 */
import * as vscode from 'vscode';
import { ServerCommandSettings } from './serverCommand';

export const SECTION = 'lspAssist';

/** The settings the server reads, as plain JSON (the client-only `server.*` left out). */
export function serverSettings(): Record<string, unknown> {
  const section = vscode.workspace.getConfiguration().get<object>(SECTION) ?? {};
  const plain: Record<string, unknown> = JSON.parse(JSON.stringify(section));
  delete plain.server;
  return plain;
}

export function serverCommandSettings(): ServerCommandSettings {
  const config = vscode.workspace.getConfiguration(SECTION);
  return {
    command: config.get<string | string[]>('server.command'),
    python: config.get<string>('server.python'),
  };
}

export function completionModel(): string {
  return vscode.workspace.getConfiguration(SECTION).get<string>('completion.model') ?? '';
}

export function completionsEnabled(): boolean {
  return vscode.workspace.getConfiguration(SECTION).get<boolean>('completion.enabled') ?? true;
}

/** Flips `completion.enabled` where it is set (folder, workspace, else user settings); the
 * server hears of it through `workspace/didChangeConfiguration`. */
export async function toggleCompletions(): Promise<boolean> {
  const config = vscode.workspace.getConfiguration(SECTION, vscode.window.activeTextEditor?.document);
  const key = 'completion.enabled';
  const where = config.inspect<boolean>(key);
  const target =
    where?.workspaceFolderValue !== undefined
      ? vscode.ConfigurationTarget.WorkspaceFolder
      : where?.workspaceValue !== undefined
        ? vscode.ConfigurationTarget.Workspace
        : vscode.ConfigurationTarget.Global;
  const enabled = !(config.get<boolean>(key) ?? true);
  await config.update(key, enabled, target);
  return enabled;
}

/** The settings UI on the server's settings. They are machine-scoped (paths of this machine):
 * in a remote window (SSH, containers, code-server) they live in the Remote tab. */
export function openSettings(): Thenable<unknown> {
  const query = `${SECTION}.server`;
  return vscode.env.remoteName
    ? vscode.commands.executeCommand('workbench.action.openRemoteSettings', { query })
    : vscode.commands.executeCommand('workbench.action.openSettings', query);
}
