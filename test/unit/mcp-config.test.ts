import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { runCliWith } from '../helpers/cli-run.js';

// `gate mcp config`: the snippet each client needs, and --write merging into the
// client's own file without losing what is there.

let home: string;
let cwd: string;
let oldCwd: string;

beforeEach(async () => {
  home = await mkdtemp(join(tmpdir(), 'gate-mcp-home-'));
  cwd = await mkdtemp(join(tmpdir(), 'gate-mcp-proj-'));
  oldCwd = process.cwd();
  process.chdir(cwd);
});

afterEach(async () => {
  process.chdir(oldCwd);
  await rm(home, { recursive: true, force: true });
  await rm(cwd, { recursive: true, force: true });
});

const env = () => ({ HOME: home, XDG_CONFIG_HOME: join(home, '.config'), GATE_CONFIG_DIR: join(home, 'gate'), GATE_SERVER: undefined, CODEX_HOME: undefined });
const gate = (args: string[]) => runCliWith(['mcp', 'config', ...args], { env: env() });

describe('gate mcp config prints each client its snippet', () => {
  test('claude-code: an mcpServers entry for .mcp.json that starts gate mcp with the targets', async () => {
    const r = await gate(['--client', 'claude-code', '--target', 'db-prod', '--target', 'k8s']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({
      mcpServers: { gate: { type: 'stdio', command: 'gate', args: ['mcp', '--target', 'db-prod', '--target', 'k8s'], env: {} } },
    });
    expect(r.stderr).toContain(join(cwd, '.mcp.json'));
  });

  test.each([
    ['claude-desktop', 'mcpServers', () => join(home, '.config', 'Claude', 'claude_desktop_config.json')],
    ['cursor', 'mcpServers', () => join(home, '.cursor', 'mcp.json')],
    ['vscode', 'servers', () => join(cwd, '.vscode', 'mcp.json')],
  ])('%s: its own key and file', async (client, key, file) => {
    const r = await gate(['--client', client]);
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(r.stdout);
    expect(Object.keys(doc)).toEqual([key]);
    expect(doc[key].gate.command).toBe('gate');
    expect(doc[key].gate.args).toEqual(['mcp']);
    if (client === 'vscode') expect(doc[key].gate.type).toBe('stdio');
    expect(r.stderr).toContain(file());
  });

  test('codex: a [mcp_servers.gate] table for config.toml', async () => {
    const r = await gate(['--client', 'codex', '--target', 'db']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('[mcp_servers.gate]\ncommand = "gate"\nargs = ["mcp", "--target", "db"]\n');
    expect(r.stderr).toContain(join(home, '.codex', 'config.toml'));
  });

  test('an unknown client is a usage error naming the known ones', async () => {
    const r = await gate(['--client', 'emacs']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/claude-code, claude-desktop, cursor, vscode, codex/);
  });

  test('GATE_SERVER travels in the entry; a token never does', async () => {
    const r = await runCliWith(['mcp', 'config', '--client', 'cursor'], { env: { ...env(), GATE_SERVER: 'https://gate.example', GATE_TOKEN: 'secret-token-xyz' } });
    expect(JSON.parse(r.stdout).mcpServers.gate.env).toEqual({ GATE_SERVER: 'https://gate.example' });
    expect(r.stdout + r.stderr).not.toContain('secret-token-xyz');
  });
});

describe('gate mcp config --write merges into the existing file', () => {
  test('claude-desktop keeps the other servers and settings', async () => {
    const file = join(home, '.config', 'Claude', 'claude_desktop_config.json');
    await mkdir(join(home, '.config', 'Claude'), { recursive: true });
    await writeFile(file, JSON.stringify({ globalShortcut: 'Ctrl+Space', mcpServers: { files: { command: 'npx', args: ['fs-server'] } } }), { mode: 0o644 });
    const r = await gate(['--client', 'claude-desktop', '--target', 'db', '--write']);
    expect(r.code, r.stderr).toBe(0);
    const doc = JSON.parse(await readFile(file, 'utf8'));
    expect(doc).toEqual({
      globalShortcut: 'Ctrl+Space',
      mcpServers: { files: { command: 'npx', args: ['fs-server'] }, gate: { command: 'gate', args: ['mcp', '--target', 'db'] } },
    });
    expect((await stat(file)).mode & 0o777).toBe(0o644);
    // Again with other targets: gate's entry is replaced, not duplicated.
    await gate(['--client', 'claude-desktop', '--write']);
    expect(JSON.parse(await readFile(file, 'utf8')).mcpServers.gate.args).toEqual(['mcp']);
  });

  test('claude-code, cursor and vscode create their file when there is none', async () => {
    for (const [client, file, key] of [
      ['claude-code', join(cwd, '.mcp.json'), 'mcpServers'],
      ['cursor', join(home, '.cursor', 'mcp.json'), 'mcpServers'],
      ['vscode', join(cwd, '.vscode', 'mcp.json'), 'servers'],
    ] as const) {
      const r = await gate(['--client', client, '--write']);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toContain(`Created ${file}`);
      expect(JSON.parse(await readFile(file, 'utf8'))[key].gate.args).toEqual(['mcp']);
    }
  });

  test('vscode keeps its inputs and other servers', async () => {
    await mkdir(join(cwd, '.vscode'));
    const file = join(cwd, '.vscode', 'mcp.json');
    await writeFile(file, JSON.stringify({ inputs: [{ id: 'k', type: 'promptString' }], servers: { other: { type: 'http', url: 'http://127.0.0.1:1/mcp' } } }));
    expect((await gate(['--client', 'vscode', '--write'])).code).toBe(0);
    const doc = JSON.parse(await readFile(file, 'utf8'));
    expect(doc.inputs).toEqual([{ id: 'k', type: 'promptString' }]);
    expect(Object.keys(doc.servers)).toEqual(['other', 'gate']);
  });

  test('codex keeps the rest of config.toml and replaces only gate\'s tables', async () => {
    const dir = join(home, '.codex');
    await mkdir(dir);
    const file = join(dir, 'config.toml');
    await writeFile(file, 'model = "o4"\n\n[mcp_servers.gate]\ncommand = "old-gate"\nargs = []\n\n[mcp_servers.gate.env]\nX = "1"\n\n[mcp_servers.docs]\ncommand = "docs-mcp"\n');
    const r = await gate(['--client', 'codex', '--target', 'db', '--write']);
    expect(r.code, r.stderr).toBe(0);
    const text = await readFile(file, 'utf8');
    expect(text).toContain('model = "o4"');
    expect(text).toContain('[mcp_servers.docs]\ncommand = "docs-mcp"');
    expect(text).not.toContain('old-gate');
    expect(text).not.toContain('X = "1"');
    expect(text.match(/\[mcp_servers\.gate\]/g)).toHaveLength(1);
    expect(text).toContain('args = ["mcp", "--target", "db"]');
  });

  test('a file that is not JSON is left alone with a clear error', async () => {
    await writeFile(join(cwd, '.mcp.json'), '{ not json');
    const r = await gate(['--client', 'claude-code', '--write']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/is not valid JSON/);
    expect(await readFile(join(cwd, '.mcp.json'), 'utf8')).toBe('{ not json');
  });
});
