import { approvalListResponse, grantListResponse } from '../api/wire-grants.js';
import { sessionListResponse } from '../api/wire-sessions.js';
import { GateError, UsageError } from '../errors.js';
import type { CliContext } from './context.js';

/**
 * Ids as people type them, like git: a unique prefix of a grant (`g_…`),
 * command approval (`a_…`) or session (UUID) id, with or without its `g_` /
 * `a_`. A whole id is passed through untouched; a prefix is matched against
 * what the caller may see.
 */
export type IdKind = 'grant' | 'approval' | 'session';

const FULL: Record<IdKind, RegExp> = {
  grant: /^g_[0-9a-f]{24}$/,
  approval: /^a_[0-9a-f]{24}$/,
  session: /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i,
};
const PREFIX: Partial<Record<IdKind, string>> = { grant: 'g_', approval: 'a_' };
const MIN_PREFIX = 4;

async function candidates(ctx: CliContext, server: string, kind: IdKind): Promise<string[]> {
  const client = ctx.client(server);
  const signal = ctx.signal;
  if (kind === 'grant') return (await client.call('GET', '/v1/grants', grantListResponse, { query: { all: 1 }, signal })).grants.map((g) => g.id);
  if (kind === 'approval') return (await client.call('GET', '/v1/approvals', approvalListResponse, { signal })).approvals.map((a) => a.id);
  return (await client.call('GET', '/v1/sessions', sessionListResponse, { query: { limit: 10_000 }, signal })).sessions.map((s) => s.id);
}

/** The kinds an id could be: `g_…` is a grant, `a_…` an approval, a bare prefix any of `kinds`. */
function kindsFor(input: string, kinds: IdKind[]): IdKind[] {
  if (input.startsWith('g_')) return kinds.filter((k) => k === 'grant');
  if (input.startsWith('a_')) return kinds.filter((k) => k === 'approval');
  return kinds;
}

/** Resolves a whole id or a unique prefix of one of `kinds` to the whole id; names the matches when ambiguous. */
export async function resolveId(ctx: CliContext, server: string, input: string, kinds: IdKind[]): Promise<string> {
  const id = input.trim();
  const possible = kindsFor(id, kinds);
  if (possible.some((k) => FULL[k].test(id))) return id.toLowerCase();
  const label = kinds.join(' or ');
  if (possible.length === 0 || !/^[0-9a-z_-]+$/i.test(id)) {
    throw new UsageError(`${JSON.stringify(input)} is not a ${label} id.`, { hint: kinds.includes('session') ? 'Session ids are UUIDs; a unique prefix of one will do.' : 'Grant ids start g_, approval ids a_; a unique prefix will do.' });
  }
  const bare = id.replace(/^[ga]_/, '').toLowerCase();
  if (bare.length < MIN_PREFIX) throw new UsageError(`The id prefix ${JSON.stringify(input)} is too short: give at least ${MIN_PREFIX} characters.`);
  const matches: string[] = [];
  for (const kind of possible) {
    const want = `${PREFIX[kind] ?? ''}${bare}`;
    for (const c of await candidates(ctx, server, kind)) if (c.toLowerCase().startsWith(want) && !matches.includes(c)) matches.push(c);
  }
  if (matches.length === 1) return matches[0]!;
  if (matches.length === 0) {
    throw new GateError('GATE_ERR_NOT_FOUND', `No ${label} you can see has an id starting ${JSON.stringify(input)}.`, {
      hint: kinds.includes('session') ? 'List them with `gate sessions`.' : 'List them with `gate grants --all`.',
    });
  }
  throw new UsageError(`The id prefix ${JSON.stringify(input)} is ambiguous: ${matches.slice(0, 5).join(', ')}${matches.length > 5 ? ', …' : ''}.`, {
    hint: 'Give more characters.',
  });
}
