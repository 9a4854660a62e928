// Partial accept, as a user does it (tests/e2e/test_vscode.py sets up VS Code):
//   1. at the end of calc.py type "total = ": ghost text of two lines from the server;
//   2. Ctrl+Right accepts its next word, the rest stays shown;
//   3. Ctrl+Down accepts its next line, the rest (the second line) stays shown;
//   4. Tab accepts what is left;
//   5. on a new line "result = " shows another suggestion, which Escape dismisses; save.
'use strict';
const { drive, plain } = require('./workbench');

const MODEL = 'qwen2.5-coder:1.5b-base';

/** The active editor as drawn: the buffer's lines (less the ghost text drawn inside them) and
 * the ghost text, its lines below the cursor's (a view zone) after a line break. */
function readEditor() {
  const editor = document.querySelector('.editor-group-container.active .monaco-editor');
  if (!editor) return { buffer: [], ghost: '' };
  const text = (nodes) => [...nodes].map((node) => node.textContent.replace(/\u00a0/g, ' ')).join('');
  const rows = [...editor.querySelectorAll('.view-lines > .view-line')];
  rows.sort((a, b) => parseFloat(a.style.top) - parseFloat(b.style.top));
  const inline = text(editor.querySelectorAll('.view-lines .ghost-text-decoration'));
  const below = [...editor.querySelectorAll('.view-zones .view-line')].map((line) => text([line]));
  return {
    buffer: rows.map((row) => text(row.querySelectorAll('span > span:not(.ghost-text-decoration)'))),
    ghost: [inline, ...below].join('\n'),
  };
}

/** Polls the editor until `done(state)` holds; its state then. */
async function editorState(vscode, done, timeout) {
  const deadline = Date.now() + timeout;
  let state;
  for (;;) {
    state = await vscode.page.evaluate(readEditor);
    if (done(state)) return state;
    if (Date.now() > deadline) {
      throw new Error(`timed out; the editor: ${JSON.stringify(state)}`);
    }
    await vscode.page.waitForTimeout(50); // the poll's interval
  }
}

drive('calc.py', async (vscode) => {
  const steps = vscode.steps;

  await vscode.openFile('calc.py');
  steps.statusBarAtStart = await vscode.statusBarItem(MODEL, /^(?!.*starting)/, 60_000);
  await vscode.press('Control+End');
  await vscode.type('total = ');
  steps.ghostText = await vscode.ghostText(60_000);
  steps.shown = await editorState(vscode, (s) => s.ghost === 'add(1, 2)\nprint(total)', 15_000);
  await vscode.shot('1-ghost-text');

  // VS Code's "accept next word", through our key binding.
  await vscode.press('Control+ArrowRight');
  steps.afterWord = await editorState(
    vscode,
    (s) => s.buffer.includes('total = add') && s.ghost === '(1, 2)\nprint(total)',
    15_000,
  );
  await vscode.shot('2-after-word');

  // Its next line: the rest of this one and the line break; the next line stays shown.
  await vscode.press('Control+ArrowDown');
  steps.afterLine = await editorState(
    vscode,
    (s) => s.buffer.includes('total = add(1, 2)') && s.ghost === 'print(total)',
    15_000,
  );
  await vscode.shot('3-after-line');

  await vscode.press('Tab');
  steps.afterTab = await editorState(
    vscode,
    (s) => s.buffer.includes('print(total)') && s.ghost === '',
    15_000,
  );
  await vscode.shot('4-after-tab');

  // Another suggestion, dismissed with Escape: nothing of it goes in.
  await vscode.press('End');
  await vscode.press('Enter');
  await vscode.type('result = ');
  steps.secondGhost = plain(await vscode.ghostText(60_000));
  await vscode.press('Escape');
  await vscode.noGhostText(10_000);
  steps.afterEscape = await editorState(vscode, (s) => s.ghost === '', 10_000);
  await vscode.shot('5-after-escape');
  await vscode.save('calc.py');
});
