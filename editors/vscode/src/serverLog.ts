/**
 * The server's stderr in the "lsp-assist" output channel, each line at its own level (the
 * language client would log every stderr line as an error). The last lines are kept so that
 * a server that dies at start can be explained in the error message ("No module named …").
 */
import * as readline from 'readline';
import type { Readable } from 'stream';
import type * as vscode from 'vscode';

// lsp_assist/cli.py logs "2025-01-01 12:00:00,123 LEVEL logger: message".
const LOG_LINE = /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ (DEBUG|INFO|WARNING|ERROR|CRITICAL) (.*)$/;

export class ServerLog {
  private recent: string[] = [];
  private stderrDone: Promise<void> = Promise.resolve();

  constructor(readonly channel: vscode.LogOutputChannel) {}

  /** The last thing the server said, for error messages. */
  lastLine(): string | undefined {
    return this.recent[this.recent.length - 1];
  }

  forget(): void {
    this.recent = [];
  }

  /** Resolves when the server's stderr has ended (it exited), or after `ms`. */
  stderrClosed(ms: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)));
    return Promise.race([this.stderrDone, timeout]).finally(() => clearTimeout(timer));
  }

  /** For LanguageClientOptions.stdioOptions. */
  readonly stdioOptions = {
    stdout: (input: Readable) => this.pipe(input, 'info'),
    stderr: (input: Readable) => {
      this.stderrDone = new Promise((resolve) => this.pipe(input, 'error').on('close', resolve));
    },
  };

  private pipe(input: Readable, unmarkedLevel: 'info' | 'error'): readline.Interface {
    return readline
      .createInterface({ input, crlfDelay: Infinity, terminal: false, historySize: 0 })
      .on('line', (line: string) => this.write(line, unmarkedLevel));
  }

  private write(line: string, unmarkedLevel: 'info' | 'error'): void {
    this.recent = [...this.recent.slice(-19), line];
    const match = LOG_LINE.exec(line);
    if (match === null) {
      // Tracebacks and Python's own start-up errors carry no level.
      this.channel[unmarkedLevel](line);
      return;
    }
    const [, level, rest] = match;
    if (level === 'DEBUG') {
      this.channel.debug(rest);
    } else if (level === 'INFO') {
      this.channel.info(rest);
    } else if (level === 'WARNING') {
      this.channel.warn(rest);
    } else {
      this.channel.error(rest);
    }
  }
}
