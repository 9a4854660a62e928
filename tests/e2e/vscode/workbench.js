// What the driver scripts share: a headless Chromium on code-server's VS Code, the user's
// actions (open a file, save, read the editor and the status bar), screenshots and the result.
//
// A script calls `drive(async (vscode) => {...})`. Its environment:
//   CODE_URL  the VS Code to open (http://127.0.0.1:PORT/?folder=/workspace)
//   SHOTS     the folder for screenshots
//   RESULT    where to write {"steps": {...}, "console": [...], "error": null | "..."}
//   BROWSER_PID_FILE  (optional) gets Chromium's process id, so the test can kill its process
//                     group (Chromium runs in a group of its own) should the script die first
// Every wait is on a DOM condition, with a timeout; none is a fixed sleep.
'use strict';
const fs = require('fs');
const path = require('path');
const { chromium } = require('playwright-core');

const TYPING_DELAY_MS = 40; // a quick typist

function env(name) {
  const value = process.env[name];
  if (!value) throw new Error(`$${name} is not set`);
  return value;
}

/** Monaco renders spaces as U+00A0. */
const plain = (text) => (text || '').replace(/\u00a0/g, ' ');

class Workbench {
  constructor(page, result) {
    this.page = page;
    this.steps = result.steps;
  }

  async shot(name) {
    const file = path.join(env('SHOTS'), `${name}.png`);
    await this.page.screenshot({ path: file });
    this.steps[`screenshot ${name}`] = file;
  }

  async type(text) {
    await this.page.keyboard.type(text, { delay: TYPING_DELAY_MS });
  }

  async press(keys) {
    await this.page.keyboard.press(keys);
  }

  /** Quick Open (Ctrl+P), as a user opens a file. */
  async openFile(name) {
    await this.press('Control+P');
    const input = this.page.locator('.quick-input-widget input');
    await input.waitFor({ state: 'visible', timeout: 15_000 });
    await input.fill(name);
    await this.page
      .locator('.quick-input-widget .monaco-list-row', { hasText: name })
      .first()
      .waitFor({ timeout: 15_000 });
    await this.press('Enter');
    await this.page.locator('.tab.active', { hasText: name }).waitFor({ timeout: 15_000 });
    await this.page
      .locator('.editor-group-container.active .monaco-editor.focused')
      .waitFor({ timeout: 15_000 });
  }

  async goToLine(line) {
    await this.press('Control+G');
    await this.page.locator('.quick-input-widget input').waitFor({ state: 'visible', timeout: 15_000 });
    await this.page.keyboard.type(String(line));
    await this.press('Enter');
  }

  /** Runs a command from the palette (F1), by its title. */
  async runCommand(title) {
    await this.press('F1');
    const input = this.page.locator('.quick-input-widget input');
    await input.waitFor({ state: 'visible', timeout: 15_000 });
    await input.fill(`>${title}`);
    await this.page
      .locator('.quick-input-widget .monaco-list-row', { hasText: title })
      .first()
      .waitFor({ timeout: 15_000 });
    await this.press('Enter');
  }

  async save(name) {
    await this.press('Control+S');
    await this.page.locator('.tab.active:not(.dirty)', { hasText: name }).waitFor({ timeout: 15_000 });
  }

  /** The lines of the active editor as rendered (the files here fit on the screen). */
  async editorLines() {
    return this.page.evaluate(() => {
      const editor = document.querySelector('.editor-group-container.active .monaco-editor');
      if (!editor) return [];
      const lines = [...editor.querySelectorAll('.view-lines .view-line')];
      lines.sort((a, b) => parseFloat(a.style.top) - parseFloat(b.style.top));
      return lines.map((line) => line.textContent.replace(/\u00a0/g, ' '));
    });
  }

  /** The ghost text shown in the active editor, once there is some. */
  async ghostText(timeout) {
    const ghost = await this.page.waitForFunction(
      () => {
        const active = '.editor-group-container.active';
        const parts = document.querySelectorAll(`${active} .ghost-text-decoration, ${active} .ghost-text`);
        const text = [...parts]
          .map((part) => part.textContent)
          .join('')
          .replace(/\u00a0/g, ' ');
        return text.trim() ? text : null;
      },
      null,
      { timeout },
    );
    return ghost.jsonValue();
  }

  async noGhostText(timeout) {
    await this.page.waitForFunction(
      () => !document.querySelector('.editor-group-container.active .ghost-text-decoration'),
      null,
      { timeout },
    );
  }

  /** The text of the first status bar item that contains `text` and matches `pattern`. */
  async statusBarItem(text, pattern, timeout) {
    const found = await this.page.waitForFunction(
      ([text, source]) => {
        const items = [...document.querySelectorAll('.statusbar-item')].map((i) => i.textContent || '');
        return items.find((item) => item.includes(text) && new RegExp(source).test(item)) || null;
      },
      [text, pattern.source],
      { timeout },
    );
    return plain(await found.jsonValue());
  }

  /** The texts of the notification toasts that contain `text`, once there is one. */
  async notification(text, timeout) {
    const toast = this.page.locator('.notification-toast', { hasText: text });
    await toast.first().waitFor({ timeout });
    return {
      message: plain(await toast.first().locator('.notification-list-item-message').textContent()),
      buttons: (await toast.first().locator('.monaco-button').allTextContents()).map(plain),
      toast,
    };
  }
}

/** Opens VS Code at $CODE_URL with the workspace's `fileInWorkspace` listed, runs `scenario`,
 * writes the result and exits (1 if the scenario failed). */
function drive(fileInWorkspace, scenario) {
  const result = { steps: {}, console: [], error: null };
  let server;
  let browser;
  let workbench;
  const run = async () => {
    fs.mkdirSync(env('SHOTS'), { recursive: true });
    // A browser server rather than `launch`, for the process id.
    server = await chromium.launchServer({
      executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
      headless: true,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
      ],
    });
    if (process.env.BROWSER_PID_FILE) {
      fs.writeFileSync(process.env.BROWSER_PID_FILE, String(server.process().pid));
    }
    browser = await chromium.connect(server.wsEndpoint());
    const page = await (await browser.newContext({ viewport: { width: 1400, height: 900 } })).newPage();
    page.on('console', (message) => {
      if (message.type() === 'error') result.console.push(message.text().slice(0, 500));
    });
    workbench = new Workbench(page, result);
    await page.goto(env('CODE_URL'));
    await page.locator('.monaco-workbench .part.editor').waitFor({ timeout: 90_000 });
    await page
      .locator('.explorer-folders-view .monaco-list-row', { hasText: fileInWorkspace })
      .waitFor({ timeout: 60_000 });
    result.steps.workbench = true;
    await scenario(workbench);
  };
  run()
    .catch(async (error) => {
      result.error = String(error && error.stack ? error.stack : error);
      if (workbench) await workbench.shot('failure').catch(() => undefined);
    })
    .finally(async () => {
      fs.writeFileSync(env('RESULT'), JSON.stringify(result, null, 2));
      if (browser) await browser.close().catch(() => undefined);
      if (server) await server.close().catch(() => undefined);
      process.exit(result.error ? 1 : 0);
    });
}

module.exports = { drive, plain };
