/**
 * The running `lsp-assist serve` and its language client: start (finding the command),
 * stop, restart, and `workspace/executeCommand`. A server that cannot start gets one error
 * message that says how to fix it, with a button to the settings.
 */
import * as vscode from 'vscode';
import {
  CloseAction,
  CloseHandlerResult,
  ErrorAction,
  ErrorHandler,
  ExecuteCommandRequest,
  LanguageClient,
  LanguageClientOptions,
  Middleware,
  RevealOutputChannelOn,
  State,
} from 'vscode-languageclient/node';
import { commandExists, findServerCommand, ServerCommand } from './serverCommand';
import { ServerLog } from './serverLog';
import {
  completionModel,
  completionsEnabled,
  openSettings,
  SECTION,
  serverCommandSettings,
  serverSettings,
} from './settings';
import { ServerStatus, STATUS_NOTIFICATION, StatusBar } from './status';

/** Languages the server has a tree-sitter grammar for (lsp_assist/languages.py), as in
 * package.json's activationEvents: tests/unit/test_languages.py checks that all three agree. */
const LANGUAGES = [
  'python',
  'javascript',
  'javascriptreact',
  'typescript',
  'typescriptreact',
  'go',
  'rust',
  'java',
  'c',
  'cpp',
  'cuda-cpp',
  'lua',
];

const INSTALL_HINT =
  'Install it (pip install lsp-assist) or set lspAssist.server.command or lspAssist.server.python.';
const UNTRUSTED_HINT =
  "In Restricted Mode the workspace's .venv and programs under ${workspaceFolder} are not run.";

/** While starting, errors are logged but not shown: a failed start gets our message with
 * the fix instead of the client's generic "couldn't create connection to server". */
class AssistClient extends LanguageClient {
  starting = false;

  override error(message: string, data?: unknown, showNotification: boolean | 'force' = true): void {
    super.error(message, data, this.starting ? false : showNotification);
  }
}

/** Restarts a server that crashed after it ran, at most 4 times in 3 minutes (as the
 * client's default does); a server that never came up is not restarted in a loop. */
class RestartPolicy implements ErrorHandler {
  private restarts: number[] = [];

  constructor(
    private readonly wasRunning: () => boolean,
    private readonly onGiveUp: () => void,
  ) {}

  error(_error: Error, _message: unknown, count: number | undefined) {
    // While starting, the failed start is reported instead (stopping would fail as well).
    const keepGoing = !this.wasRunning() || (count !== undefined && count <= 3);
    return { action: keepGoing ? ErrorAction.Continue : ErrorAction.Shutdown, handled: true };
  }

  closed(): CloseHandlerResult {
    if (!this.wasRunning()) {
      return { action: CloseAction.DoNotRestart, handled: true };
    }
    const now = Date.now();
    this.restarts = [...this.restarts.filter((t) => now - t < 3 * 60_000), now];
    if (this.restarts.length <= 4) {
      return { action: CloseAction.Restart, handled: true };
    }
    this.onGiveUp();
    return { action: CloseAction.DoNotRestart, handled: true };
  }
}

export class ServerConnection implements vscode.Disposable {
  private client: AssistClient | undefined;
  private running = false;

  constructor(
    private readonly log: ServerLog,
    private readonly status: StatusBar,
    private readonly middleware: Middleware = {},
  ) {}

  async start(): Promise<void> {
    const folders = (vscode.workspace.workspaceFolders ?? [])
      .filter((folder) => folder.uri.scheme === 'file')
      .map((folder) => folder.uri.fsPath);
    const found = findServerCommand(serverCommandSettings(), folders, {
      trusted: vscode.workspace.isTrusted,
    });
    if (found === undefined) {
      this.log.channel.error('no server command: none set, no lsp-assist on PATH, no .venv in the workspace');
      const untrusted = vscode.workspace.isTrusted ? '' : ` ${UNTRUSTED_HINT}`;
      void this.showStartError(`lsp-assist: cannot find the lsp-assist server. ${INSTALL_HINT}${untrusted}`);
      return;
    }
    this.log.channel.info(`starting ${describe(found)} (from ${found.origin})`);
    if (!commandExists(found.command)) {
      void this.showStartError(
        `lsp-assist: ${found.command} (from ${found.origin}) does not exist. ${INSTALL_HINT}`,
      );
      return;
    }
    const client = new AssistClient(
      'lspAssist',
      'lsp-assist',
      { command: found.command, args: found.args, options: { cwd: folders[0] } },
      this.clientOptions(),
    );
    client.onNotification(STATUS_NOTIFICATION, (params: ServerStatus) => this.status.update(params));
    client.onDidChangeState((change) => {
      this.running = change.newState === State.Running;
      if (change.newState === State.Stopped && this.client === client) {
        this.status.stopped('the server is not running');
      }
    });
    this.client = client;
    this.status.starting();
    this.log.forget();
    client.starting = true;
    try {
      await client.start();
      this.status.configure(completionModel(), completionsEnabled());
      this.status.running();
    } catch (error) {
      this.log.channel.error(`the server did not start: ${String(error)}`);
      // What the server said last tells why ("No module named lsp_assist"); it may still be
      // on its way through the pipe.
      await this.log.stderrClosed(2000);
      const said = this.log.lastLine();
      const where = `${describe(found)}, from ${found.origin}`;
      void this.showStartError(
        `lsp-assist: the server did not start (${where})${said ? `: "${said}"` : ''}. ${INSTALL_HINT}`,
      );
    } finally {
      client.starting = false;
    }
  }

  async stop(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    if (client === undefined) {
      return;
    }
    // A client that never started cannot be stopped, only disposed of.
    if (client.state === State.Running) {
      await client
        .stop()
        .catch((error: unknown) => this.log.channel.warn(`stopping the server: ${String(error)}`));
    }
    await client.dispose().catch(() => undefined);
  }

  async restart(): Promise<void> {
    await this.stop();
    await this.start();
  }

  /** `workspace/executeCommand`, or a message that says why it cannot be sent. */
  async execute(command: string, args: unknown[] = []): Promise<unknown> {
    const client = this.client;
    if (client === undefined || client.state !== State.Running) {
      const choice = await vscode.window.showWarningMessage(
        'lsp-assist: the server is not running.',
        'Restart Server',
        'Show Log',
      );
      if (choice === 'Restart Server') {
        await this.restart();
      } else if (choice === 'Show Log') {
        this.log.channel.show(true);
      }
      return undefined;
    }
    try {
      return await client.sendRequest(ExecuteCommandRequest.type, { command, arguments: args });
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      void vscode.window.showErrorMessage(`lsp-assist: ${command} failed: ${reason}`);
      return undefined;
    }
  }

  /** A notification to the running server; dropped when none runs. */
  notify(method: string, params: unknown): void {
    const client = this.client;
    if (client !== undefined && client.state === State.Running) {
      client.sendNotification(method, params).catch((error: unknown) => {
        this.log.channel.debug(`${method} not sent: ${String(error)}`);
      });
    }
  }

  /** A document's URI as the server knows it. */
  uriOf(document: vscode.TextDocument): string {
    return this.client?.code2ProtocolConverter.asUri(document.uri) ?? document.uri.toString();
  }

  dispose(): void {
    void this.stop();
  }

  private clientOptions(): LanguageClientOptions {
    return {
      documentSelector: LANGUAGES.flatMap((language) => [
        { scheme: 'file', language },
        { scheme: 'untitled', language },
      ]),
      // The settings, in the server's shape, as initializationOptions and as the answer to
      // `workspace/configuration` for the section (which the server re-reads on a change).
      initializationOptions: serverSettings,
      synchronize: { configurationSection: SECTION },
      outputChannel: this.log.channel,
      stdioOptions: this.log.stdioOptions,
      revealOutputChannelOn: RevealOutputChannelOn.Never,
      middleware: this.middleware,
      // No message of the client's own ("write EPIPE"): start() fails, and says how to fix it.
      initializationFailedHandler: () => false,
      errorHandler: new RestartPolicy(
        () => this.running,
        () => void this.showStartError('lsp-assist: the server stopped 5 times in 3 minutes; see the log.'),
      ),
    };
  }

  private async showStartError(message: string): Promise<void> {
    this.status.stopped(message);
    const choice = await vscode.window.showErrorMessage(message, 'Open Settings', 'Show Log');
    if (choice === 'Open Settings') {
      await openSettings();
    } else if (choice === 'Show Log') {
      this.log.channel.show(true);
    }
  }
}

function describe(command: ServerCommand): string {
  return [command.command, ...command.args].join(' ');
}
