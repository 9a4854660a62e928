/**
 * What became of each suggestion, told to the server as `lspAssist/suggestionEvent`
 * (editors/PROTOCOL.md), with VS Code's finalized API only.
 *
 * - A full accept needs nothing here: VS Code runs the item's command
 *   (`lspAssist.suggestionAccepted [{"id"}]`) and the language client sends it to the server.
 * - Shown: the language client's middleware sees each answer; the first item of an answer to a
 *   request still at the cursor is what VS Code draws.
 * - Partial: VS Code's own "accept next word / line" do the accepting; our commands, bound to
 *   the same keys, run them and report the total accepted from the suggestion's start (in
 *   UTF-16 code units, as VS Code's offsets are).
 * - Dismissed: Escape (our command, bound to it while a suggestion shows, runs VS Code's
 *   hide), typing something else, moving the cursor off it, or leaving the editor.
 *
 * VS Code's provider hooks that would tell all this directly (`handleDidShowCompletionItem`,
 * `handleDidPartiallyAcceptCompletionItem`, `handleEndOfLifetime`) are a proposed API
 * (`inlineCompletionsAdditions`), which a published extension cannot use.
 */
import * as vscode from 'vscode';
import type { Middleware } from 'vscode-languageclient/node';

export const EVENT_NOTIFICATION = 'lspAssist/suggestionEvent';
export const ACCEPTED_COMMAND = 'lspAssist.suggestionAccepted';

/** VS Code's own commands, which ours run. */
const ACCEPT_NEXT = {
  word: 'editor.action.inlineSuggest.acceptNextWord',
  line: 'editor.action.inlineSuggest.acceptNextLine',
} as const;
const HIDE = 'editor.action.inlineSuggest.hide';

export interface SuggestionEvent {
  id: string;
  kind: 'shown' | 'partial' | 'dismissed';
  acceptedChars?: number;
}

/** A suggestion VS Code was given at the cursor, followed through the edits that continue it. */
interface Suggestion {
  readonly id: string;
  readonly uri: string;
  /** Offset where its text starts. */
  readonly start: number;
  readonly text: string;
  /** How much of `text` the document holds after `start` (typed through or accepted). */
  held: number;
  /** How much of it was accepted in part (0: none). */
  accepted: number;
}

/** The id the server put in an item's command, if the item is ours. */
export function suggestionId(item: vscode.InlineCompletionItem): string | undefined {
  const command = item.command;
  if (command === undefined || command.command !== ACCEPTED_COMMAND) {
    return undefined;
  }
  const argument: unknown = command.arguments?.[0];
  const id =
    typeof argument === 'object' && argument !== null ? (argument as { id?: unknown }).id : undefined;
  return typeof id === 'string' ? id : undefined;
}

export class SuggestionEvents implements vscode.Disposable {
  /** The suggestion at the cursor, as far as the client can tell. */
  private current: Suggestion | undefined;
  /** Set while VS Code's accept-next command runs; the edit it makes is a partial accept. */
  private accepting = false;
  private partial: { id: string; total: number } | undefined;
  private readonly disposables: vscode.Disposable[];

  constructor(
    private readonly send: (event: SuggestionEvent) => void,
    private readonly log: vscode.LogOutputChannel,
  ) {
    this.disposables = [
      vscode.workspace.onDidChangeTextDocument((event) => this.changed(event)),
      vscode.window.onDidChangeTextEditorSelection((event) => this.moved(event)),
      vscode.window.onDidChangeActiveTextEditor((editor) => {
        if (this.current && editor?.document.uri.toString() !== this.current.uri) {
          this.end('dismissed');
        }
      }),
      vscode.commands.registerCommand('lspAssist.client.acceptNextWord', () => this.acceptNext('word')),
      vscode.commands.registerCommand('lspAssist.client.acceptNextLine', () => this.acceptNext('line')),
      vscode.commands.registerCommand('lspAssist.client.hideSuggestion', () => this.hide()),
    ];
  }

  /** For LanguageClientOptions.middleware. */
  readonly middleware: Pick<Middleware, 'provideInlineCompletionItems'> = {
    provideInlineCompletionItems: async (document, position, context, token, next) => {
      const version = document.version;
      const result = await next(document, position, context, token);
      if (result && !token.isCancellationRequested && document.version === version) {
        this.answered(document, position, Array.isArray(result) ? result : result.items);
      }
      return result;
    },
  };

  dispose(): void {
    this.disposables.forEach((d) => d.dispose());
  }

  private answered(
    document: vscode.TextDocument,
    position: vscode.Position,
    items: vscode.InlineCompletionItem[],
  ): void {
    const editor = vscode.window.activeTextEditor;
    const item = items[0];
    const id = item && suggestionId(item);
    if (!editor || editor.document !== document || !id || typeof item.insertText !== 'string') {
      return;
    }
    const cursor = document.offsetAt(position);
    if (!editor.selection.isEmpty || document.offsetAt(editor.selection.active) !== cursor) {
      return; // the cursor moved on: VS Code asks again there
    }
    const start = item.range ? document.offsetAt(item.range.start) : cursor;
    const held = cursor - start;
    const text = item.insertText;
    if (
      held < 0 ||
      held >= text.length ||
      this.textBetween(document, start, cursor) !== text.slice(0, held)
    ) {
      return;
    }
    if (this.current?.id === id) {
      return;
    }
    // A suggestion replaced by the next answer (the user typed on) was not dismissed.
    this.current = { id, uri: document.uri.toString(), start, text, held, accepted: 0 };
    this.send({ id, kind: 'shown' });
  }

  private changed(event: vscode.TextDocumentChangeEvent): void {
    const current = this.current;
    if (!current || event.document.uri.toString() !== current.uri || event.contentChanges.length === 0) {
      return;
    }
    const [change, ...more] = event.contentChanges;
    const at = current.start + current.held;
    const continues =
      more.length === 0 &&
      change.rangeLength === 0 &&
      change.rangeOffset === at &&
      change.text.length > 0 &&
      current.text.startsWith(change.text, current.held);
    if (!continues) {
      this.end('dismissed');
      return;
    }
    current.held += change.text.length;
    if (current.held >= current.text.length) {
      // All of it is in: accepted in full (its command tells the server), or typed through.
      this.current = undefined;
    } else if (this.accepting) {
      current.accepted = current.held;
      this.partial = { id: current.id, total: current.held };
    }
  }

  private moved(event: vscode.TextEditorSelectionChangeEvent): void {
    const current = this.current;
    if (!current || event.textEditor.document.uri.toString() !== current.uri) {
      return;
    }
    const [selection, ...more] = event.selections;
    const offset = event.textEditor.document.offsetAt(selection.active);
    // The document's change and the cursor's move come as two events, in either order: the
    // cursor may be ahead of what the document holds yet, but still within the suggestion.
    const on = offset >= current.start + current.held && offset <= current.start + current.text.length;
    if (more.length > 0 || !selection.isEmpty || !on) {
      this.end('dismissed');
    }
  }

  private async acceptNext(kind: keyof typeof ACCEPT_NEXT): Promise<void> {
    this.partial = undefined;
    this.accepting = true;
    try {
      await vscode.commands.executeCommand(ACCEPT_NEXT[kind]);
    } finally {
      this.accepting = false;
    }
    // Told after VS Code applied the edit (and the language client sent it on).
    const partial = this.takePartial();
    if (partial === undefined) {
      return; // not ours, nothing shown, or it took the rest: a full accept
    }
    this.log.debug(`suggestion ${partial.id}: ${partial.total} accepted (next ${kind})`);
    this.send({ id: partial.id, kind: 'partial', acceptedChars: partial.total });
  }

  private takePartial(): { id: string; total: number } | undefined {
    const partial = this.partial;
    this.partial = undefined;
    return partial;
  }

  private async hide(): Promise<void> {
    this.end('dismissed');
    await vscode.commands.executeCommand(HIDE);
  }

  /** The suggestion is gone; told as dismissed unless part of it was accepted. */
  private end(kind: 'dismissed'): void {
    const current = this.current;
    this.current = undefined;
    if (current && current.accepted === 0) {
      this.send({ id: current.id, kind });
    }
  }

  private textBetween(document: vscode.TextDocument, start: number, end: number): string {
    return document.getText(new vscode.Range(document.positionAt(start), document.positionAt(end)));
  }
}
