// A server that cannot start, as a user sees it: opening a Python file shows one error
// message that says how to fix it, and its "Open Settings" button opens the server settings.
'use strict';
const { drive } = require('./workbench');

drive('main.py', async (vscode) => {
  const steps = vscode.steps;
  await vscode.openFile('main.py');
  const { message, buttons } = await vscode.notification('lsp-assist', 60_000);
  steps.message = message;
  steps.buttons = buttons;
  steps.statusBar = await vscode.statusBarItem('stopped', /./, 10_000);
  // The client's generic "couldn't create connection" would come with the same start.
  steps.notifications = (await vscode.page.locator('.notification-toast').allTextContents()).length;
  await vscode.shot('4-start-failure');

  await vscode.page.locator('.notification-toast .monaco-button', { hasText: 'Open Settings' }).click();
  const settings = vscode.page.locator('.settings-editor');
  await settings.waitFor({ timeout: 15_000 });
  const found = vscode.page.locator('.settings-editor .setting-item-contents', { hasText: 'Command' });
  await found.first().waitFor({ timeout: 15_000 });
  steps.settingsShown = (
    await vscode.page.locator('.settings-editor .setting-item-title').allTextContents()
  ).map((title) => title.trim());
  await vscode.shot('5-open-settings');
});
