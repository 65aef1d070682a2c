import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Argument, type Command } from 'commander';
import { z } from 'zod';
import { createClient } from '../../api/client.js';
import { fileStore } from '../../auth/credentials.js';
import type { CliContext } from '../context.js';
import { normalizeServer } from '../context.js';
import { checkServerTransport } from '../server-url.js';
import { readSettings } from '../settings.js';

/** What `gate __complete` can list. */
export const COMPLETION_KINDS = ['targets', 'grants', 'sessions'] as const;
export type CompletionKind = (typeof COMPLETION_KINDS)[number];

/** Answers younger than this are served from the cache without asking the server. */
export const COMPLETION_CACHE_TTL_MS = 60_000;
/** The longest a completion waits for the server before serving the stale cache. */
export const COMPLETION_TIMEOUT_MS = 1_000;

const CACHE_FILE = 'completion-cache.json';

const SOURCES: Record<CompletionKind, { path: string; pick(body: unknown): string[] }> = {
  targets: { path: '/v1/targets', pick: (b) => names(b, 'targets', 'name') },
  grants: { path: '/v1/grants', pick: (b) => names(b, 'grants', 'id') },
  sessions: { path: '/v1/sessions', pick: (b) => names(b, 'sessions', 'id') },
};

/** `[{name}]` or `{targets: [{name}]}`: whichever the server sends, the values of `field`. */
function names(body: unknown, key: string, field: string): string[] {
  const list = Array.isArray(body) ? body : (body as Record<string, unknown> | null)?.[key];
  if (!Array.isArray(list)) return [];
  return list.map((item) => (item as Record<string, unknown>)?.[field]).filter((v): v is string => typeof v === 'string' && /^[\w.:-]+$/.test(v));
}

/**
 * The hidden `gate __complete targets|grants|sessions` that shell completion
 * scripts call. It prints one candidate per line, nothing at all on any
 * failure, and never makes the shell wait more than about a second.
 */
export function registerComplete(program: Command, ctx: CliContext): void {
  program
    .command('__complete', { hidden: true })
    .description('print completion candidates (used by the shell completion scripts)')
    .addArgument(new Argument('<kind>').choices(COMPLETION_KINDS))
    .option('--server <url>', 'gate server URL')
    .action(async (kind: CompletionKind, opts: { server?: string }) => {
      const values = await completionCandidates(ctx, kind, opts.server).catch(() => []);
      if (values.length > 0) ctx.io.stdout.write(`${values.join('\n')}\n`);
    });
}

type Cache = Record<string, { at: number; values: string[] }>;
const cacheSchema = z.record(z.string(), z.object({ at: z.number(), values: z.array(z.string()) }));

/**
 * Candidates for `kind`: from the cache while fresh, else from the server
 * (within COMPLETION_TIMEOUT_MS), else the stale cache, else nothing.
 */
export async function completionCandidates(ctx: CliContext, kind: CompletionKind, serverFlag?: string): Promise<string[]> {
  const url = serverFlag ?? ctx.env.server ?? (await readSettings(ctx.env.configDir)).server;
  if (!url) return [];
  const server = normalizeServer(url);
  // Completion never prompts or warns: an insecure server URL just completes nothing.
  try {
    checkServerTransport(server, ctx.insecure || ctx.env.insecureHttp, () => {});
  } catch {
    return [];
  }
  const file = join(ctx.env.configDir, CACHE_FILE);
  const cache = await readCache(file);
  const key = `${server} ${kind}`;
  const cached = cache[key];
  if (cached && ctx.now().getTime() - cached.at < COMPLETION_CACHE_TTL_MS) return cached.values;

  const deadline = AbortSignal.timeout(COMPLETION_TIMEOUT_MS);
  const signal = AbortSignal.any([deadline, ctx.signal]);
  let fresh: string[] | undefined;
  try {
    fresh = await Promise.race([fetchCandidates(ctx, server, kind, signal), aborted(signal)]);
  } catch {
    fresh = undefined;
  }
  if (!fresh) return cached?.values ?? [];
  cache[key] = { at: ctx.now().getTime(), values: fresh };
  await writeCache(ctx.env.configDir, file, cache).catch(() => {});
  return fresh;
}

async function fetchCandidates(ctx: CliContext, server: string, kind: CompletionKind, signal: AbortSignal): Promise<string[]> {
  // Never a keychain unlock prompt or an IdP refresh from a TAB key: GATE_TOKEN or a fresh stored token only.
  let token = ctx.env.token;
  if (!token) {
    const store = ctx.env.credentialStore === 'file' ? fileStore(ctx.env.configDir) : await ctx.credentials();
    const creds = await store.get(server);
    if (!creds || Date.parse(creds.expires_at) <= ctx.now().getTime()) return [];
    token = creds.access_token;
  }
  const client = createClient({ server, token: async () => token, timeoutMs: COMPLETION_TIMEOUT_MS });
  const res = await client.raw('GET', SOURCES[kind].path, { signal, timeoutMs: COMPLETION_TIMEOUT_MS });
  return SOURCES[kind].pick(JSON.parse(res.body.toString('utf8')));
}

function aborted(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => {
    if (signal.aborted) reject(signal.reason);
    signal.addEventListener('abort', () => reject(signal.reason), { once: true });
  });
}

async function readCache(file: string): Promise<Cache> {
  try {
    const parsed = cacheSchema.safeParse(JSON.parse(await readFile(file, 'utf8')));
    return parsed.success ? parsed.data : {};
  } catch {
    return {};
  }
}

async function writeCache(dir: string, file: string, cache: Cache): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, JSON.stringify(cache), { mode: 0o600 });
  await rename(tmp, file);
}
