import { EventEmitter } from 'node:events';
import { ApiError } from '../../api/errors.js';
import type { CreateGrantRequest } from '../../api/wire-grants.js';
import type { GateConfig } from '../../config/schema.js';
import type { ApprovalCheck, TunnelGrant } from '../../gateway/types.js';
import type { Store, StoreChange, StoredGrant } from '../../store/store.js';
import type { AuditLog } from '../audit/log.js';
import type { Logger } from '../log.js';
import { isPersonKey, isSelf, keysOf, LEGACY_USER_PREFIX, samePerson } from '../identity/principal.js';
import { type Actor, canRevoke, canSeeGrant, isAdminActor, isGrantApprover, refuseTokenApprover, targetsApprovedByActor } from './access.js';
import { createCommandApprovals } from './command-approvals.js';
import { parseRequestedDuration } from './duration.js';
import { createExpiryTimers } from './expiry.js';
import { newIdFor } from './ids.js';
import { createMutex } from './mutex.js';
import { decide, requestableTargets } from './policy.js';
import { type GrantAction, nextState } from './state.js';
import type { CommandApproval, Grant, GrantEndReason, GrantState } from './types.js';

export type { Actor } from './access.js';

/** Longest a client may hold `GET /v1/grants/:id?wait=`. */
export const MAX_WAIT_S = 60;

/** Duration of a request that names none (then capped at the policy's max_duration). */
export const DEFAULT_DURATION_S = 3600;

export type GrantRequestBody = CreateGrantRequest;

/** The grant lifecycle, command approvals and the push of every change. */
export interface GrantService {
  /**
   * In-process stream of changes: `change` (Grant) after every transition or
   * approval, `approval` (CommandApproval) for command approvals.
   */
  readonly events: EventEmitter;
  request(who: Actor, body: GrantRequestBody): Promise<Grant>;
  /** A grant the caller may see; 404 otherwise. */
  get(who: Actor, id: string): Promise<Grant>;
  list(who: Actor, filter: { state?: GrantState; all?: boolean }): Promise<Grant[]>;
  /**
   * Long-poll: resolves as soon as the grant's state is not `whileState` (or,
   * without it, on the next change), or after `timeoutMs` with the current grant.
   */
  wait(who: Actor, id: string, options: { whileState?: GrantState; timeoutMs: number; signal?: AbortSignal }): Promise<Grant>;
  approve(who: Actor, id: string, comment?: string): Promise<Grant>;
  deny(who: Actor, id: string, comment?: string): Promise<Grant>;
  revoke(who: Actor, id: string, comment?: string): Promise<Grant>;
  cancel(who: Actor, id: string, comment?: string): Promise<Grant>;
  /**
   * Ends everything a principal requested (a revoked service token): active
   * grants are revoked (their tunnels cut), pending ones cancelled. Returns how many.
   */
  endGrantsOf(requesterKey: string, who: Actor, comment: string): Promise<number>;
  /** The grant when it is active and not past its expiry; for the gateway. */
  activeGrant(id: string): Promise<Grant | undefined>;
  /** Calls `cb` once when the grant expires or is revoked (at once if it already has). Returns an unsubscribe. */
  onEnded(id: string, cb: (reason: GrantEndReason, grant: Grant) => void): () => void;
  /** For the gateway's `require_approval` guardrails. */
  requestCommandApproval(input: {
    grant: TunnelGrant | { id: string };
    text: string;
    rule: string;
    message?: string;
    summary?: CommandApproval['summary'];
    reuse?: number;
  }): Promise<ApprovalCheck>;
  listApprovals(who: Actor, filter: { state?: CommandApproval['state'] }): Promise<CommandApproval[]>;
  getApproval(who: Actor, id: string): Promise<CommandApproval>;
  approveCommand(who: Actor, id: string, comment?: string): Promise<CommandApproval>;
  denyCommand(who: Actor, id: string, comment?: string): Promise<CommandApproval>;
  /** Expires grants whose time passed while the server was down and arms the other timers. */
  start(): Promise<void>;
  /** Stops timers and releases every waiting long-poll. */
  close(): void;
}

export interface GrantServiceOptions {
  config: GateConfig;
  store: Store;
  audit: AuditLog;
  log: Logger;
  now: () => Date;
}


/**
 * The store version each loaded grant was read at, so its update can name it:
 * two replicas changing one grant at once cannot both win (the loser re-reads).
 */
const versions = new WeakMap<Grant, number>();

/** A conditional update found the grant changed by someone else (another replica) since it was read. */
class StaleGrantError extends ApiError {}

/** How often a decision re-reads a grant another replica changed meanwhile before giving up. */
const STALE_RETRIES = 8;

/** Runs `fn` again (it re-reads the grant) while its write lost a race; the checks then see the other write. */
async function retryStale<T>(fn: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (!(err instanceof StaleGrantError) || attempt >= STALE_RETRIES) throw err;
    }
  }
}

function toStored(g: Grant): StoredGrant {
  return {
    version: versions.get(g),
    id: g.id,
    requester: g.requester_key,
    target: g.target,
    state: g.state,
    createdAt: g.created_at,
    expiresAt: g.expires_at ?? null,
    data: g as unknown as Record<string, unknown>,
  };
}

// The row's requester column is the identity key (migration 130 rewrote older rows).
// Grants from before keys name no `requester_for`: a person's legacy grant is that person's.
const fromStored = (s: StoredGrant): Grant => {
  const g = s.data as unknown as Grant;
  const grant: Grant = { ...g, requester_key: s.requester, requester_for: g.requester_for !== undefined ? g.requester_for : isPersonKey(s.requester) ? s.requester : null };
  if (s.version !== undefined) versions.set(grant, s.version);
  return grant;
};

/** The person an approval counts for; approvals from before identity keys name a person by sub. */
const approvalPerson = (a: Grant['approvals'][number]): string => a.for_key ?? `${LEGACY_USER_PREFIX}${a.by}`;

/**
 * When the credential behind `who` ends, for grants that must not outlive it:
 * service tokens and workloads. A person's gate token is renewed from the IdP
 * session, so a person's grant is bounded by the policy instead (docs/security.md).
 */
function credentialExpiry(who: Actor): number | undefined {
  if (who.kind === 'user' || !who.expiresAt) return undefined;
  return who.expiresAt.getTime();
}

export function createGrantService(options: GrantServiceOptions): GrantService {
  const { config, store, audit, log, now } = options;
  const events = new EventEmitter();
  // Every tunnel and long-poll subscribes; a listener cap would only warn.
  events.setMaxListeners(0);
  const closing = new EventEmitter();
  closing.setMaxListeners(0);
  const exclusive = createMutex();
  const timers = createExpiryTimers(now, (id) => {
    expire(id).catch((err) => log.error('grant expiry failed', { grant_id: id, error: String(err) }));
  });
  let closed = false;

  const iso = () => now().toISOString();
  const notFound = (id: string) => new ApiError('not_found', `No grant ${id} (or it is not yours to see).`);

  async function load(id: string): Promise<Grant | undefined> {
    const s = await store.grants.get(id);
    return s ? fromStored(s) : undefined;
  }

  async function visible(who: Actor, id: string): Promise<Grant> {
    const g = await load(id);
    if (!g || !canSeeGrant(config, who, g)) throw notFound(id);
    return g;
  }

  function illegal(g: Grant, action: GrantAction): ApiError {
    const hint: Partial<Record<GrantState, string>> = {
      pending: action === 'revoke' ? ' (cancel or deny a pending grant instead)' : '',
      active: action === 'cancel' ? ' (revoke an active grant instead)' : '',
    };
    return new ApiError('invalid_state', `Cannot ${action} grant ${g.id}: it is ${g.state}${hint[g.state] ?? ''}.`, {
      state: g.state,
      grant_id: g.id,
    });
  }

  /** Persists a transition (state checked again in the store), audits it and pushes it. */
  async function save(before: GrantState, g: Grant, auditAction: string, who: Actor | undefined, details: Record<string, unknown> = {}) {
    g.updated_at = iso();
    const stored = toStored(g);
    if (!(await store.grants.update(stored, before))) {
      const current = await load(g.id);
      throw new StaleGrantError('invalid_state', `Grant ${g.id} changed meanwhile: it is ${current?.state}.`, { state: current?.state, grant_id: g.id });
    }
    if (stored.version !== undefined) versions.set(g, stored.version + 1);
    await audit.append({
      action: auditAction,
      actor: who?.sub ?? null,
      actorKind: who?.kind ?? 'system',
      actorKey: who?.key,
      target: g.target,
      role: g.role,
      grantId: g.id,
      correlationId: g.correlation_id ?? who?.correlationId,
      ip: who?.ip,
      details: { state: g.state, ...details },
    });
    if (g.state === 'active' && g.expires_at) timers.arm(g.id, new Date(g.expires_at));
    else timers.disarm(g.id);
    events.emit('change', g);
  }

  function activate(g: Grant): void {
    const at = now();
    g.state = 'active';
    g.activated_at = at.toISOString();
    let end = at.getTime() + g.duration * 1000;
    // A grant never outlives the credential that requested it.
    if (g.credential_expires_at) end = Math.min(end, Date.parse(g.credential_expires_at));
    g.expires_at = new Date(end).toISOString();
  }

  async function expire(id: string): Promise<void> {
    await exclusive(async () => {
      const g = await load(id);
      if (g?.state !== 'active' || !g.expires_at) return;
      const due = new Date(g.expires_at);
      if (now() < due) {
        timers.arm(id, due);
        return;
      }
      g.state = 'expired';
      g.ended_at = iso();
      try {
        await save('active', g, 'grant.expired', undefined, { expires_at: g.expires_at });
      } catch (err) {
        // Another replica (shared PostgreSQL store) ended it first: its change reaches us through the store.
        if (err instanceof ApiError && err.code === 'invalid_state') return;
        throw err;
      }
    });
  }

  // Grants with an onEnded subscriber here: re-checked when the store's change feed was interrupted.
  const watched = new Map<string, number>();
  const watchGrant = (id: string, delta: 1 | -1) => {
    const n = (watched.get(id) ?? 0) + delta;
    if (n > 0) watched.set(id, n);
    else watched.delete(id);
  };

  /** A grant another replica changed: arm or disarm its timer here and push it like a local change. */
  async function applyRemote(change: StoreChange): Promise<void> {
    if (closed) return;
    if (change.kind === 'approval') {
      const a = await store.approvals.get(change.id);
      if (a && !closed) events.emit('approval', a.data);
      return;
    }
    const g = await load(change.id);
    if (!g || closed) return;
    if (g.state === 'active' && g.expires_at) timers.arm(g.id, new Date(g.expires_at));
    else timers.disarm(g.id);
    events.emit('change', g);
  }

  /** After a gap in the change feed: re-arm every timer and re-push the grants someone here waits on. */
  async function resync(): Promise<void> {
    if (closed) return;
    await service.start();
    for (const id of [...watched.keys()]) {
      const g = await load(id);
      if (g && !closed) events.emit('change', g);
    }
  }

  // Only a shared store (PostgreSQL) has a feed; SQLite's changes all happen in this process.
  const remote = createMutex();
  const report = (what: string) => (err: unknown) => log.error(what, { error: String(err) });
  const unwatch = store.watch?.({
    change: (c) => {
      remote(() => applyRemote(c)).catch(report(`store change of ${c.kind} ${c.id} failed`));
    },
    resync: () => {
      remote(resync).catch(report('store resync failed'));
    },
  });

  /** The role to use when the request names none: the caller's only requestable one, else the target's default_role. */
  function onlyRole(who: Actor, target: string): string {
    if (!config.targets[target]) throw new ApiError('not_found', `There is no target named ${JSON.stringify(target)}.`, { reason: 'unknown_target' });
    const roles = requestableTargets(config, who).find((t) => t.name === target)?.roles.map((r) => r.role) ?? [];
    if (roles.length === 1) return roles[0]!;
    const preferred = config.targets[target]!.default_role;
    if (preferred && roles.includes(preferred)) return preferred;
    if (roles.length === 0) {
      throw new ApiError('policy_denied', `No policy lets your groups (${who.groups.join(', ') || 'none'}) request any role on ${target}.`, { reason: 'no_policy' });
    }
    throw new ApiError('bad_request', `Target ${target} has several roles you may request (${roles.join(', ')}): name one with --role.`, { roles });
  }

  const commands = createCommandApprovals({ config, store, audit, events, now, exclusive, loadGrant: load });

  const service: GrantService = {
    events,

    async request(who, body) {
      const role = body.role ?? onlyRole(who, body.target);
      const d = body.duration === undefined ? { seconds: DEFAULT_DURATION_S } : parseRequestedDuration(body.duration);
      if ('error' in d) throw new ApiError('bad_request', `Invalid duration: ${d.error}.`);
      const decision = decide(config, who, { target: body.target, role, duration: d.seconds, reason: body.reason });
      if (!decision.ok) {
        const code = { unknown_target: 'not_found', unknown_role: 'bad_request', reason_required: 'bad_request', no_policy: 'policy_denied' } as const;
        if (decision.why === 'no_policy') {
          await audit.append({
            action: 'grant.refused',
            result: 'denied',
            actor: who.sub,
            actorKind: who.kind,
            actorKey: who.key,
            target: body.target,
            role,
            correlationId: body.correlation_id ?? who.correlationId,
            ip: who.ip,
            details: { reason: decision.message },
          });
        }
        throw new ApiError(code[decision.why], decision.message, { reason: decision.why });
      }
      const at = iso();
      const credentialEnd = credentialExpiry(who);
      if (credentialEnd !== undefined && credentialEnd <= now().getTime()) {
        throw new ApiError('invalid_token', 'Your credential has expired; a grant cannot outlive it.');
      }
      let duration = decision.duration;
      let cappedByCredential = false;
      if (credentialEnd !== undefined && duration * 1000 > credentialEnd - now().getTime()) {
        duration = Math.max(1, Math.floor((credentialEnd - now().getTime()) / 1000));
        cappedByCredential = true;
      }
      const g: Grant = {
        id: newIdFor('g'),
        target: body.target,
        role,
        state: 'pending',
        requester: who.sub,
        requester_key: who.key,
        requester_for: who.actsFor,
        requester_kind: who.kind,
        requester_email: who.email,
        reason: body.reason?.trim() || undefined,
        correlation_id: body.correlation_id ?? who.correlationId,
        policy: decision.policy.name,
        approvers: decision.approval.kind === 'approvers' ? decision.approval.approvers : [],
        approvals_required: decision.approval.kind === 'approvers' ? decision.approval.min : 0,
        approvals: [],
        requested_duration: d.seconds,
        duration,
        // An omitted duration means "the default, within the policy": not a cap to report.
        duration_capped: (body.duration !== undefined && decision.capped) || cappedByCredential,
        ...(credentialEnd !== undefined ? { credential_expires_at: new Date(credentialEnd).toISOString() } : {}),
        created_at: at,
        updated_at: at,
      };
      return exclusive(async () => {
        await store.grants.insert(toStored(g));
        await audit.append({
          action: 'grant.requested',
          actor: who.sub,
          actorKind: who.kind,
          actorKey: who.key,
          target: g.target,
          role: g.role,
          grantId: g.id,
          correlationId: g.correlation_id,
          ip: who.ip,
          details: {
            policy: g.policy,
            reason: g.reason ?? null,
            duration: g.duration,
            requested_duration: g.requested_duration,
            duration_capped: g.duration_capped,
            ...(cappedByCredential ? { capped_by: 'credential', credential_expires_at: g.credential_expires_at } : {}),
            approvers: g.approvers,
          },
        });
        events.emit('change', g);
        if (decision.approval.kind === 'auto') {
          activate(g);
          await save('pending', g, 'grant.approved', undefined, { auto: true, expires_at: g.expires_at });
        }
        return g;
      });
    },

    get: visible,

    async list(who, filter) {
      // Default: mine, plus pending grants waiting for my decision. `all`: everything I may
      // see (every grant on targets I approve; every grant for an admin).
      const rows =
        filter.all && isAdminActor(config, who)
          ? await store.grants.list({ state: filter.state })
          : await store.grants.list({ requesters: keysOf(who), targets: targetsApprovedByActor(config, who), state: filter.state });
      return rows
        .map(fromStored)
        .filter((g) => canSeeGrant(config, who, g))
        .filter((g) => filter.all || isSelf(g.requester_key, who) || (g.state === 'pending' && isGrantApprover(who, g)));
    },

    async wait(who, id, { whileState, timeoutMs, signal }) {
      let g = await visible(who, id);
      if (closed || (whileState !== undefined && g.state !== whileState)) return g;
      const seen = g.updated_at;
      return new Promise<Grant>((resolve) => {
        const done = (result: Grant) => {
          clearTimeout(timer);
          events.off('change', onChange);
          closing.off('close', onClose);
          signal?.removeEventListener('abort', onClose);
          resolve(result);
        };
        const onChange = (changed: Grant) => {
          if (changed.id !== id) return;
          g = changed;
          if (whileState === undefined ? changed.updated_at !== seen : changed.state !== whileState) done(changed);
        };
        const onClose = () => done(g);
        const timer = setTimeout(onClose, Math.min(timeoutMs, MAX_WAIT_S * 1000));
        events.on('change', onChange);
        closing.on('close', onClose);
        signal?.addEventListener('abort', onClose);
      });
    },

    approve: (who, id, comment) =>
      exclusive(() => retryStale(async () => {
        const g = await visible(who, id);
        if (isSelf(g.requester_key, who)) {
          throw new ApiError('self_approval', `You requested grant ${g.id}; someone else must approve it (${g.approvers.join(', ') || 'no approvers: it was auto-approved'}).`);
        }
        refuseTokenApprover(config, who, `grant ${g.id}`);
        if (samePerson(who.actsFor, g.requester_for)) {
          throw new ApiError('self_approval', `${who.sub} acts for the person who requested grant ${g.id}; someone else must approve it.`);
        }
        if (g.state !== 'pending') throw illegal(g, 'approve');
        if (!isGrantApprover(who, g)) {
          throw new ApiError('forbidden', `Only members of ${g.approvers.join(', ')} may approve grant ${g.id} (policy ${g.policy}).`);
        }
        if (g.approvals.some((a) => samePerson(approvalPerson(a), who.actsFor))) {
          throw new ApiError('conflict', `You already approved grant ${g.id}; a second approval by the same person does not count. It needs ${g.approvals_required} different approvers (${g.approvals.length} so far).`, {
            approvals: g.approvals.length,
            approvals_required: g.approvals_required,
          });
        }
        g.approvals.push({ by: who.sub, by_key: who.key, for_key: who.actsFor!, at: iso(), ...(comment ? { comment } : {}) });
        const enough = g.approvals.length >= g.approvals_required;
        if (enough) activate(g);
        await save('pending', g, 'grant.approved', who, {
          comment: comment ?? null,
          approvals: g.approvals.length,
          approvals_required: g.approvals_required,
          expires_at: g.expires_at ?? null,
        });
        return g;
      })),

    deny: (who, id, comment) =>
      exclusive(() => retryStale(async () => {
        const g = await visible(who, id);
        if (isSelf(g.requester_key, who) || samePerson(who.actsFor, g.requester_for)) {
          throw new ApiError('self_approval', `You requested grant ${g.id}; you cannot deny it yourself. Use \`gate cancel ${g.id}\` to withdraw it.`);
        }
        refuseTokenApprover(config, who, `grant ${g.id}`);
        if (g.state !== 'pending') throw illegal(g, 'deny');
        if (!isGrantApprover(who, g)) throw new ApiError('forbidden', `Only members of ${g.approvers.join(', ')} may deny grant ${g.id}.`);
        g.state = nextState('pending', 'deny')!;
        g.ended_at = iso();
        g.ended_by = who.sub;
        g.comment = comment;
        await save('pending', g, 'grant.denied', who, { comment: comment ?? null });
        return g;
      })),

    revoke: (who, id, comment) =>
      exclusive(() => retryStale(async () => {
        const g = await visible(who, id);
        if (!canRevoke(config, who, g)) throw notFound(id);
        const to = nextState(g.state, 'revoke');
        if (!to) throw illegal(g, 'revoke');
        g.state = to;
        g.ended_at = iso();
        g.ended_by = who.sub;
        g.comment = comment;
        await save('active', g, 'grant.revoked', who, { comment: comment ?? null });
        return g;
      })),

    cancel: (who, id, comment) =>
      exclusive(() => retryStale(async () => {
        const g = await visible(who, id);
        if (!isSelf(g.requester_key, who)) throw new ApiError('forbidden', `Only ${g.requester}, who requested grant ${g.id}, may cancel it.`);
        const to = nextState(g.state, 'cancel');
        if (!to) throw illegal(g, 'cancel');
        g.state = to;
        g.ended_at = iso();
        g.ended_by = who.sub;
        g.comment = comment;
        await save('pending', g, 'grant.cancelled', who, { comment: comment ?? null });
        return g;
      })),

    async endGrantsOf(requesterKey, who, comment) {
      const rows = (await store.grants.list({ requesters: [requesterKey], limit: 1_000_000 })).map(fromStored);
      let ended = 0;
      for (const row of rows) {
        if (row.state !== 'active' && row.state !== 'pending') continue;
        await exclusive(async () => {
          const g = await load(row.id);
          if (!g || (g.state !== 'active' && g.state !== 'pending')) return;
          const before = g.state;
          g.state = before === 'active' ? 'revoked' : 'cancelled';
          g.ended_at = iso();
          g.ended_by = who.sub;
          g.comment = comment;
          await save(before, g, before === 'active' ? 'grant.revoked' : 'grant.cancelled', who, { comment, cause: 'credential_revoked' });
          ended++;
        });
      }
      return ended;
    },

    async activeGrant(id) {
      const g = await load(id);
      if (g?.state !== 'active' || !g.expires_at || new Date(g.expires_at) <= now()) return undefined;
      return g;
    },

    onEnded(id, cb) {
      let fired = false;
      watchGrant(id, 1);
      const fire = (g: Grant) => {
        if (fired || (g.state !== 'expired' && g.state !== 'revoked')) return;
        fired = true;
        watchGrant(id, -1);
        events.off('change', onChange);
        cb(g.state, g);
      };
      const onChange = (g: Grant) => {
        if (g.id === id) fire(g);
      };
      events.on('change', onChange);
      load(id).then(
        (g) => {
          if (g) fire(g);
        },
        (err) => log.error('grant lookup failed', { grant_id: id, error: String(err) }),
      );
      return () => {
        if (!fired) watchGrant(id, -1);
        fired = true;
        events.off('change', onChange);
      };
    },

    requestCommandApproval: commands.request,
    listApprovals: commands.list,
    getApproval: commands.get,
    approveCommand: (who, id, comment) => commands.decide(who, id, 'approved', comment),
    denyCommand: (who, id, comment) => commands.decide(who, id, 'denied', comment),

    async start() {
      const active = (await store.grants.list({ state: 'active', limit: 1_000_000 })).map(fromStored);
      for (const g of active) {
        if (!g.expires_at) continue;
        if (new Date(g.expires_at) <= now()) await expire(g.id);
        else timers.arm(g.id, new Date(g.expires_at));
      }
    },

    close() {
      closed = true;
      unwatch?.();
      timers.clear();
      closing.emit('close');
    },
  };
  return service;
}
