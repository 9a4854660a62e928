/**
 * lsp-assist for VS Code: starts `lsp-assist serve` and lets vscode-languageclient speak LSP.
 * Ghost text is VS Code's own inline suggestion (LSP 3.18 `textDocument/inlineCompletion`:
 * Tab accepts, Ctrl+Right its next word, Ctrl+Down its next line, Alt+] shows the next one);
 * what became of each suggestion is told to the server for its local statistics
 * (suggestionEvents.ts). Review findings are ordinary diagnostics with quick fixes. This file
 * wires activation: the commands, the status bar, settings changes.
 *
 * The palette commands are `lspAssist.client.*`, apart from the server's own command ids
 * (`lspAssist.reviewFile`, …): the language client registers each command the server
 * announces as a VS Code command of the same id while the server runs (code actions carry
 * them), and an id cannot be registered twice. Ours add the active document, and they say
 * what to do when no server runs.
 */
import * as vscode from 'vscode';
import { ServerConnection } from './serverConnection';
import { ServerLog } from './serverLog';
import { completionModel, completionsEnabled, SECTION, toggleCompletions } from './settings';
import { StatusBar } from './status';
import { EVENT_NOTIFICATION, SuggestionEvents } from './suggestionEvents';

let connection: ServerConnection | undefined;

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  const output = vscode.window.createOutputChannel('lsp-assist', { log: true });
  const status = new StatusBar();
  status.configure(completionModel(), completionsEnabled());
  const events = new SuggestionEvents((event) => server.notify(EVENT_NOTIFICATION, event), output);
  const server = new ServerConnection(new ServerLog(output), status, events.middleware);
  connection = server;

  const reviewFile = () => {
    const document = vscode.window.activeTextEditor?.document;
    if (document === undefined) {
      void vscode.window.showInformationMessage('lsp-assist: open the file to review first.');
      return undefined;
    }
    return server.execute('lspAssist.reviewFile', [server.uriOf(document)]);
  };
  const toggle = async () => {
    const enabled = await toggleCompletions();
    vscode.window.setStatusBarMessage(`lsp-assist: completions ${enabled ? 'on' : 'off'}`, 3000);
  };

  context.subscriptions.push(
    output,
    status,
    server,
    events,
    vscode.commands.registerCommand('lspAssist.client.reviewFile', reviewFile),
    vscode.commands.registerCommand('lspAssist.client.reviewChanges', () =>
      server.execute('lspAssist.reviewChanges'),
    ),
    vscode.commands.registerCommand('lspAssist.client.doctor', () => server.execute('lspAssist.doctor')),
    vscode.commands.registerCommand('lspAssist.client.pullModels', () =>
      server.execute('lspAssist.pullModels'),
    ),
    vscode.commands.registerCommand('lspAssist.client.toggleCompletions', toggle),
    vscode.commands.registerCommand('lspAssist.client.restartServer', () => server.restart()),
    vscode.commands.registerCommand('lspAssist.client.showLog', () => output.show(true)),
    // Trusted now: the workspace's own server settings and .venv may be used.
    vscode.workspace.onDidGrantWorkspaceTrust(() => void server.restart()),
    vscode.workspace.onDidChangeConfiguration((event) => {
      // The server hears of its own settings through the client; a new command needs a restart.
      if (event.affectsConfiguration(`${SECTION}.server`)) {
        void server.restart();
      } else if (event.affectsConfiguration(`${SECTION}.completion`)) {
        status.configure(completionModel(), completionsEnabled());
      }
    }),
  );

  await server.start();
}

export function deactivate(): Promise<void> | undefined {
  const server = connection;
  connection = undefined;
  return server?.stop();
}
