/**
 * The status bar item: the completion model, what the server is doing and the last
 * suggestion's latency, from the server's `lspAssist/status` notifications.
 */
import * as vscode from 'vscode';

export const STATUS_NOTIFICATION = 'lspAssist/status';

/** The params of `lspAssist/status`; which fields are set depends on `state`. */
export interface ServerStatus {
  state: string;
  model?: string;
  source?: 'model' | 'type-through' | 'cache' | 'prefetch' | 'offline';
  latencyMs?: number;
  backendMs?: number;
  message?: string;
  files?: number;
  uri?: string;
  done?: number;
  total?: number;
  findings?: number;
  units?: number;
  calls?: number;
  cached?: number;
  invalid?: number;
  unanchored?: number;
  ms?: number;
}

type Shown = 'starting' | 'ready' | 'generating' | 'offline' | 'reviewing' | 'error' | 'stopped';

const ICONS: Record<Shown, string> = {
  starting: '$(loading~spin)',
  ready: '$(check)',
  generating: '$(loading~spin)',
  offline: '$(circle-slash)',
  reviewing: '$(sync~spin)',
  error: '$(error)',
  stopped: '$(debug-disconnect)',
};

export class StatusBar implements vscode.Disposable {
  private readonly item: vscode.StatusBarItem;
  private shown: Shown = 'starting';
  private model = '';
  private completionsEnabled = true;
  private latencyMs: number | undefined;
  private detail = '';
  private review = '';

  constructor() {
    this.item = vscode.window.createStatusBarItem('lspAssist.status', vscode.StatusBarAlignment.Right, 100);
    this.item.name = 'lsp-assist';
    // Clicking opens the command palette on this extension's commands.
    this.item.command = {
      title: 'lsp-assist commands',
      command: 'workbench.action.quickOpen',
      arguments: ['>lsp-assist: '],
    };
    this.render();
    this.item.show();
  }

  configure(model: string, completionsEnabled: boolean): void {
    this.model = model;
    this.completionsEnabled = completionsEnabled;
    this.render();
  }

  starting(): void {
    this.set('starting', 'starting the server');
  }

  running(): void {
    this.set('ready', 'the server is running');
  }

  stopped(why: string): void {
    this.latencyMs = undefined;
    this.set('stopped', why);
  }

  update(status: ServerStatus): void {
    switch (status.state) {
      case 'generating':
        if (status.model) {
          this.model = status.model;
        }
        this.set('generating', 'generating');
        break;
      case 'ready':
        this.latencyMs = status.latencyMs;
        if (status.source === 'offline') {
          this.set('offline', 'the offline engine answered (no model reachable)');
        } else {
          const backend = status.backendMs === undefined ? '' : `, model ${Math.round(status.backendMs)} ms`;
          this.set('ready', `from ${status.source ?? 'the model'}${backend}`);
        }
        break;
      case 'waiting':
        // No first token before the deadline: the model is loading, or slow to answer.
        this.set('generating', status.message ?? 'waiting for the model');
        break;
      case 'error':
        this.set('error', status.message ?? 'error');
        break;
      case 'learnt':
        this.detail = `learnt from ${status.files ?? 0} workspace files`;
        this.render();
        break;
      case 'reviewing':
        this.review = `reviewing ${fileName(status.uri)} ${status.done ?? 0}/${status.total ?? '?'}`;
        this.set('reviewing', this.review);
        break;
      case 'reviewed':
        this.review = `reviewed ${fileName(status.uri)}: ${status.findings ?? 0} finding(s)`;
        this.set('ready', this.review);
        break;
      default:
        break;
    }
  }

  private set(shown: Shown, detail: string): void {
    this.shown = shown;
    this.detail = detail;
    this.render();
  }

  private render(): void {
    const parts = [this.model || 'lsp-assist'];
    if (!this.completionsEnabled) {
      parts.push('completions off');
    } else if (this.shown === 'offline') {
      parts.push('offline engine');
    } else if (this.shown === 'reviewing') {
      parts.push('reviewing');
    } else if (this.shown === 'error' || this.shown === 'stopped' || this.shown === 'starting') {
      parts.push(this.shown);
    }
    if (this.latencyMs !== undefined && this.completionsEnabled) {
      parts.push(`${Math.round(this.latencyMs)} ms`);
    }
    this.item.text = `${ICONS[this.shown]} ${parts.join(' · ')}`;
    const tooltip = new vscode.MarkdownString(undefined, true);
    tooltip.appendMarkdown(`**lsp-assist** — ${this.shown}\n\n`);
    tooltip.appendText(`completion model: ${this.model || '(server default)'}\n`);
    if (this.detail) {
      tooltip.appendText(`${this.detail}\n`);
    }
    if (this.review && this.review !== this.detail) {
      tooltip.appendText(`${this.review}\n`);
    }
    tooltip.appendMarkdown('\nClick for the lsp-assist commands.');
    this.item.tooltip = tooltip;
    this.item.backgroundColor =
      this.shown === 'error' || this.shown === 'stopped'
        ? new vscode.ThemeColor('statusBarItem.errorBackground')
        : undefined;
  }

  dispose(): void {
    this.item.dispose();
  }
}

function fileName(uri: string | undefined): string {
  return uri ? decodeURIComponent(uri.slice(uri.lastIndexOf('/') + 1)) : 'file';
}
