import { mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { GateEnv } from '../env.js';
import { UsageError } from '../errors.js';

/** The MCP clients `gate mcp config` knows, and where each keeps its MCP servers. */
export const MCP_CLIENTS = ['claude-code', 'claude-desktop', 'cursor', 'vscode', 'codex'] as const;
export type McpClientName = (typeof MCP_CLIENTS)[number];

export interface ServerEntry {
  command: string;
  args: string[];
  env?: Record<string, string>;
}

export interface ClientConfigPlan {
  client: McpClientName;
  /** The file the snippet belongs in. */
  file: string;
  format: 'json' | 'toml';
  /** What to print: a complete file holding only gate's entry. */
  snippet: string;
  /** The file's new text, given its current text (undefined: no file yet); keeps everything else. */
  merge(existing: string | undefined): string;
}

/**
 * Each client's own file and shape (as their docs give them):
 * - Claude Code: `.mcp.json` at the project root (project scope, checked in), `mcpServers`.
 * - Claude Desktop: `claude_desktop_config.json` in its config dir, `mcpServers`.
 * - Cursor: `~/.cursor/mcp.json` (global), `mcpServers`.
 * - VS Code: `.vscode/mcp.json` in the workspace, `servers` with `type: "stdio"`.
 * - Codex: `$CODEX_HOME/config.toml` (default `~/.codex`), a `[mcp_servers.NAME]` table.
 */
export function planClientConfig(
  client: McpClientName,
  entry: ServerEntry,
  where: { env: GateEnv; cwd: string; platform: NodeJS.Platform; name: string },
): ClientConfigPlan {
  const { env, cwd, platform, name } = where;
  switch (client) {
    case 'claude-code':
      return jsonPlan(client, join(cwd, '.mcp.json'), 'mcpServers', name, { type: 'stdio', ...entry, env: entry.env ?? {} });
    case 'claude-desktop':
      return jsonPlan(client, claudeDesktopFile(env, platform), 'mcpServers', name, { ...entry });
    case 'cursor':
      return jsonPlan(client, join(env.home, '.cursor', 'mcp.json'), 'mcpServers', name, { ...entry });
    case 'vscode':
      return jsonPlan(client, join(cwd, '.vscode', 'mcp.json'), 'servers', name, { type: 'stdio', ...entry });
    case 'codex':
      return tomlPlan(join(env.codexHome ?? join(env.home, '.codex'), 'config.toml'), name, entry);
  }
}

function claudeDesktopFile(env: GateEnv, platform: NodeJS.Platform): string {
  if (platform === 'darwin') return join(env.home, 'Library', 'Application Support', 'Claude', 'claude_desktop_config.json');
  if (platform === 'win32') return join(env.appData ?? join(env.home, 'AppData', 'Roaming'), 'Claude', 'claude_desktop_config.json');
  return join(env.xdgConfigHome, 'Claude', 'claude_desktop_config.json');
}

function jsonPlan(client: McpClientName, file: string, key: string, name: string, value: Record<string, unknown>): ClientConfigPlan {
  const clean = Object.fromEntries(Object.entries(value).filter(([k, v]) => !(k === 'env' && v && Object.keys(v).length === 0 && client !== 'claude-code')));
  return {
    client,
    file,
    format: 'json',
    snippet: `${JSON.stringify({ [key]: { [name]: clean } }, null, 2)}\n`,
    merge(existing) {
      let doc: Record<string, unknown> = {};
      if (existing !== undefined && existing.trim() !== '') {
        try {
          doc = JSON.parse(existing) as Record<string, unknown>;
        } catch (err) {
          throw new UsageError(`${file} is not valid JSON (${(err as Error).message}); gate will not rewrite it.`, {
            hint: 'Fix the file, or run without --write and paste the snippet yourself.',
          });
        }
        if (!doc || typeof doc !== 'object' || Array.isArray(doc)) throw new UsageError(`${file} does not hold a JSON object; gate will not rewrite it.`);
      }
      const servers = doc[key];
      const merged = servers && typeof servers === 'object' && !Array.isArray(servers) ? { ...(servers as object) } : {};
      doc[key] = { ...merged, [name]: clean };
      return `${JSON.stringify(doc, null, 2)}\n`;
    },
  };
}

const tomlString = (s: string) => JSON.stringify(s);
const tomlKey = (s: string) => (/^[A-Za-z0-9_-]+$/.test(s) ? s : JSON.stringify(s));

function tomlPlan(file: string, name: string, entry: ServerEntry): ClientConfigPlan {
  const header = `[mcp_servers.${tomlKey(name)}]`;
  const lines = [header, `command = ${tomlString(entry.command)}`, `args = [${entry.args.map(tomlString).join(', ')}]`];
  if (entry.env && Object.keys(entry.env).length > 0) {
    lines.push('', `[mcp_servers.${tomlKey(name)}.env]`, ...Object.entries(entry.env).map(([k, v]) => `${tomlKey(k)} = ${tomlString(v)}`));
  }
  const table = `${lines.join('\n')}\n`;
  return {
    client: 'codex',
    file,
    format: 'toml',
    snippet: table,
    merge(existing) {
      if (!existing) return table;
      // Drop gate's own tables (and their sub-tables) and append the new ones; every other line stays as written.
      const out: string[] = [];
      let skipping = false;
      const own = new RegExp(`^\\s*\\[mcp_servers\\.(${escapeRe(tomlKey(name))}|${escapeRe(JSON.stringify(name))})(\\.[^\\]]+)?\\]\\s*(#.*)?$`);
      for (const line of existing.split('\n')) {
        if (/^\s*\[/.test(line)) skipping = own.test(line);
        if (!skipping) out.push(line);
      }
      const kept = out.join('\n').replace(/\s*$/, '');
      return kept === '' ? table : `${kept}\n\n${table}`;
    },
  };
}

const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** Writes the merged file (through a temp file, so a crash leaves the old one) and returns what was there before. */
export async function writeClientConfig(plan: ClientConfigPlan): Promise<{ created: boolean }> {
  let existing: string | undefined;
  try {
    existing = await readFile(plan.file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const next = plan.merge(existing);
  await mkdir(dirname(plan.file), { recursive: true });
  const tmp = `${plan.file}.gate-${process.pid}.tmp`;
  // The file keeps its permissions; a new one is the user's alone.
  const mode = existing === undefined ? 0o600 : (await stat(plan.file)).mode & 0o777;
  await writeFile(tmp, next, { mode });
  await rename(tmp, plan.file);
  return { created: existing === undefined };
}
