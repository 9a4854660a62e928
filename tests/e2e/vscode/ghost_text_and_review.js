// The extension at work, as a user sees it (tests/e2e/test_vscode.py sets up VS Code):
//   1. open calc.py, type a function, see VS Code's ghost text from the server, Tab, save;
//   2. open buggy.py, type a bug, save, see the review finding in the Problems panel;
//   3. turn completions off from the command palette.
'use strict';
const { drive, plain } = require('./workbench');

const MODEL = 'qwen2.5-coder:1.5b-base';

drive('calc.py', async (vscode) => {
  const steps = vscode.steps;

  await vscode.openFile('calc.py');
  // Opening a Python file activates the extension; a user starts typing once the status bar
  // says the server is up (keystrokes before that get no suggestion).
  steps.statusBarAtStart = await vscode.statusBarItem(MODEL, /^(?!.*starting)/, 60_000);
  await vscode.press('Control+End');
  // Enter after the colon indents the next line: the user types no spaces there.
  await vscode.type('def add(a, b):');
  await vscode.press('Enter');
  await vscode.type('return ');
  steps.ghostText = await vscode.ghostText(60_000);
  steps.linesWithGhostText = await vscode.editorLines();
  // Once a suggestion arrived, the status bar shows its latency.
  steps.statusBar = await vscode.statusBarItem(MODEL, /\d+ ms/, 15_000);
  await vscode.shot('1-ghost-text');
  await vscode.press('Tab');
  await vscode.noGhostText(10_000);
  steps.linesAfterTab = await vscode.editorLines();
  await vscode.shot('2-after-tab');
  await vscode.save('calc.py');

  await vscode.openFile('buggy.py');
  // Line 2 is "    return a": the user makes it subtract, and saves.
  await vscode.goToLine(2);
  await vscode.press('End');
  await vscode.type(' - b');
  await vscode.press('Escape'); // leave any ghost text unaccepted
  await vscode.save('buggy.py');
  await vscode.press('Control+Shift+M');
  const problems = vscode.page.locator('.markers-panel .monaco-list-row', { hasText: 'lsp-assist' });
  await problems.first().waitFor({ timeout: 60_000 });
  steps.problems = (await problems.allTextContents()).map(plain);
  await vscode.page
    .locator('.editor-group-container.active .squiggly-warning')
    .first()
    .waitFor({ timeout: 10_000 });
  steps.squiggle = true;
  await vscode.shot('3-problems');

  await vscode.runCommand('lsp-assist: Toggle Completions');
  steps.statusBarToggled = await vscode.statusBarItem(MODEL, /completions off/, 15_000);
});
