/**
 * Which command starts `lsp-assist serve`. In order: the `lspAssist.server.command` setting,
 * the `lspAssist.server.python` setting, `lsp-assist` on PATH, the workspace's `.venv`.
 * In Restricted Mode (an untrusted workspace) no program the repository brought is run: not
 * its `.venv`, nor a setting's program under `${workspaceFolder}`; and VS Code gives the two
 * settings from the user's settings only (package.json's `restrictedConfigurations`).
 * Nothing here spawns a process: the candidates are checked with the file system only, so
 * activation stays fast; a command that exists but fails is reported when it fails.
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

export interface ServerCommand {
  command: string;
  args: string[];
  /** Where the command came from, for messages: "lspAssist.server.command", "PATH", … */
  origin: string;
}

export interface ServerCommandSettings {
  command: string | string[] | undefined;
  python: string | undefined;
}

const IS_WINDOWS = process.platform === 'win32';

export function findServerCommand(
  settings: ServerCommandSettings,
  workspaceFolders: readonly string[],
  { envPath = process.env.PATH ?? '', trusted = true }: { envPath?: string; trusted?: boolean } = {},
): ServerCommand | undefined {
  const expand = (value: string) => expandVariables(value, workspaceFolders[0]);
  // Untrusted, a program inside the workspace is one the repository brought: not run.
  const runnable = (program: string) => trusted || !program.includes('${workspaceFolder}');
  const command = (
    typeof settings.command === 'string' ? settings.command.trim().split(/\s+/) : (settings.command ?? [])
  ).filter((part) => part !== '');
  if (command.length > 0 && runnable(command[0])) {
    const argv = command.map(expand);
    // `"lspAssist.server.command": "/path/to/lsp-assist"` means the server, not the CLI's help.
    const args = argv.length === 1 ? ['serve'] : argv.slice(1);
    return { command: argv[0], args, origin: 'lspAssist.server.command' };
  }
  const interpreter = settings.python?.trim();
  if (interpreter && runnable(interpreter)) {
    return pythonCommand(expand(interpreter), 'lspAssist.server.python');
  }
  const onPath = findOnPath('lsp-assist', envPath);
  if (onPath) {
    return { command: onPath, args: ['serve'], origin: 'PATH' };
  }
  for (const folder of trusted ? workspaceFolders : []) {
    const venv = path.join(folder, '.venv', IS_WINDOWS ? 'Scripts' : 'bin');
    const python = path.join(venv, IS_WINDOWS ? 'python.exe' : 'python');
    if (isExecutable(python)) {
      return pythonCommand(python, `the workspace's .venv (${folder})`);
    }
  }
  return undefined;
}

function pythonCommand(python: string, origin: string): ServerCommand {
  return { command: python, args: ['-m', 'lsp_assist', 'serve'], origin };
}

export function expandVariables(value: string, workspaceFolder: string | undefined): string {
  let expanded = value;
  if (workspaceFolder) {
    expanded = expanded.split('${workspaceFolder}').join(workspaceFolder);
  }
  if (expanded === '~' || expanded.startsWith('~/')) {
    expanded = path.join(os.homedir(), expanded.slice(1));
  }
  return expanded;
}

export function findOnPath(name: string, envPath: string): string | undefined {
  const extensions = IS_WINDOWS ? ['.exe', '.cmd', ''] : [''];
  for (const dir of envPath.split(path.delimiter)) {
    if (!dir) {
      continue;
    }
    for (const extension of extensions) {
      const candidate = path.join(dir, name + extension);
      if (isExecutable(candidate)) {
        return candidate;
      }
    }
  }
  return undefined;
}

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

/** Can `command` be spawned at all? (A bare name is looked up on PATH, as spawn does.) */
export function commandExists(command: string, envPath: string = process.env.PATH ?? ''): boolean {
  if (command.includes('/') || command.includes(path.sep)) {
    return isExecutable(command);
  }
  return findOnPath(command, envPath) !== undefined;
}
