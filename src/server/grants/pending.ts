import { createHash } from 'node:crypto';
import type { GateConfig } from '../../config/schema.js';
import { isSelf, LEGACY_USER_PREFIX, samePerson } from '../identity/principal.js';
import { type Actor, isGrantApprover } from './access.js';
import type { GrantService } from './service.js';
import type { CommandApproval, Grant } from './types.js';

/** Longest a client may hold `GET /v1/pending?wait=`. */
export const MAX_PENDING_WAIT_S = 60;

/** How many of a requester's earlier grants come with their pending items. */
export const RECENT_GRANTS = 5;

/** What an approver may decide now, and a cursor that changes whenever any of it changes. */
export interface PendingItems {
  /** Pending grants the caller may approve or deny, oldest first. */
  grants: Grant[];
  /** Statements held by a `require_approval` guardrail the caller may decide, oldest first. */
  approvals: CommandApproval[];
  /** Per requester of an item above: their latest other grants the caller may see, newest first. */
  recent: Record<string, Grant[]>;
  /** Opaque; pass it back as `cursor` to wait for the next change. */
  cursor: string;
}

export interface PendingDeps {
  config: GateConfig;
  grants: GrantService;
}

/** A grant the caller could approve right now (the service refuses the same cases with a reason). */
function mayDecideGrant(config: GateConfig, who: Actor, g: Grant): boolean {
  if (g.state !== 'pending' || !isGrantApprover(who, g)) return false;
  if (isSelf(g.requester_key, who) || samePerson(who.actsFor, g.requester_for)) return false;
  if (who.kind !== 'user' && (!config.approvals.tokens_may_approve || !who.actsFor)) return false;
  // Already approved by this person: the next approval must come from someone else.
  return !g.approvals.some((a) => samePerson(a.for_key ?? `${LEGACY_USER_PREFIX}${a.by}`, who.actsFor));
}

function mayDecideApproval(config: GateConfig, who: Actor, a: CommandApproval): boolean {
  if (a.state !== 'pending' || !who.groups.some((g) => a.approvers.includes(g))) return false;
  const key = a.requester_key ?? `${LEGACY_USER_PREFIX}${a.requester}`;
  if (isSelf(key, who) || samePerson(who.actsFor, a.requester_for ?? null)) return false;
  return who.kind === 'user' || (config.approvals.tokens_may_approve && !!who.actsFor);
}

/** Changes when an item comes, goes, or changes (a grant's updated_at; an approval's state and uses). */
export function pendingCursor(grants: Grant[], approvals: CommandApproval[]): string {
  const parts = [...grants.map((g) => `${g.id}@${g.updated_at}`), ...approvals.map((a) => `${a.id}@${a.state}@${a.decided_at ?? ''}@${a.uses ?? ''}`)];
  return createHash('sha256').update(parts.sort().join('\n')).digest('base64url').slice(0, 22);
}

const byCreated = <T extends { created_at: string }>(a: T, b: T) => a.created_at.localeCompare(b.created_at);

/** The caller's pending items now. */
export async function listPending(deps: PendingDeps, who: Actor): Promise<PendingItems> {
  const { config, grants: service } = deps;
  const grants = (await service.list(who, { state: 'pending' })).filter((g) => mayDecideGrant(config, who, g)).sort(byCreated);
  const approvals = (await service.listApprovals(who, { state: 'pending' })).filter((a) => mayDecideApproval(config, who, a)).sort(byCreated);
  const requesters = new Set([...grants.map((g) => g.requester), ...approvals.map((a) => a.requester)]);
  const recent: Record<string, Grant[]> = {};
  if (requesters.size > 0) {
    const seen = await service.list(who, { all: true });
    for (const r of requesters) {
      recent[r] = seen
        .filter((g) => g.requester === r && g.state !== 'pending')
        .sort((a, b) => b.created_at.localeCompare(a.created_at))
        .slice(0, RECENT_GRANTS);
    }
  }
  return { grants, approvals, recent, cursor: pendingCursor(grants, approvals) };
}

/**
 * Long-poll: resolves with the items as soon as their cursor differs from
 * `cursor` (at once when it already does, or when no cursor is given), or
 * after `timeoutMs`, or when `signal` aborts, with the items as they are.
 */
export async function waitPending(
  deps: PendingDeps,
  who: Actor,
  options: { cursor?: string; timeoutMs: number; signal?: AbortSignal },
): Promise<PendingItems> {
  const { cursor, signal } = options;
  const events = deps.grants.events;
  // Subscribed before the first look, so a change between the look and the wait is not lost.
  let dirty = false;
  let wake: (() => void) | undefined;
  const onChange = () => {
    dirty = true;
    wake?.();
  };
  events.on('change', onChange);
  events.on('approval', onChange);
  let stop = false;
  let release = () => {};
  const stopped = new Promise<void>((resolve) => (release = resolve));
  const end = () => {
    stop = true;
    release();
    wake?.();
  };
  const timer = setTimeout(end, Math.min(options.timeoutMs, MAX_PENDING_WAIT_S * 1000));
  if (signal?.aborted) end();
  signal?.addEventListener('abort', end, { once: true });
  try {
    let items = await listPending(deps, who);
    while (cursor !== undefined && items.cursor === cursor && !stop) {
      if (!dirty) await Promise.race([new Promise<void>((resolve) => (wake = resolve)), stopped]);
      wake = undefined;
      if (stop && !dirty) break;
      dirty = false;
      items = await listPending(deps, who);
    }
    return items;
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener('abort', end);
    events.off('change', onChange);
    events.off('approval', onChange);
  }
}
