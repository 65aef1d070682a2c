import { createHash } from 'node:crypto';
import type { EventEmitter } from 'node:events';
import { ApiError } from '../../api/errors.js';
import type { GateConfig } from '../../config/schema.js';
import type { ApprovalCheck, TunnelGrant } from '../../gateway/types.js';
import type { Store, StoredApproval } from '../../store/store.js';
import type { AuditLog } from '../audit/log.js';
import { isPersonKey, isSelf, samePerson } from '../identity/principal.js';
import { type Actor, canSeeApproval, refuseTokenApprover } from './access.js';
import { approverGroupsFor } from './policy.js';
import type { CommandApproval, Grant } from './types.js';
import { newIdFor } from './ids.js';

/** How long an approved command may run again without asking (never past the grant's expiry). */
export const APPROVAL_WINDOW_MS = 15 * 60_000;

/**
 * An approval is bound to the exact bytes of the command: `delete from logs --
 * ; delete from other` on one line and the same text with a line break after
 * `--` are different statements to PostgreSQL, so they are different here.
 */
export function commandHash(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

interface Deps {
  config: GateConfig;
  store: Store;
  audit: AuditLog;
  events: EventEmitter;
  now: () => Date;
  exclusive: <T>(fn: () => Promise<T>) => Promise<T>;
  loadGrant(id: string): Promise<Grant | undefined>;
}

const toStored = (a: CommandApproval, textHash: string): StoredApproval => ({
  id: a.id,
  grantId: a.grant_id,
  textHash,
  state: a.state,
  createdAt: a.created_at,
  data: a as unknown as Record<string, unknown>,
});
const fromStored = (s: StoredApproval) => s.data as unknown as CommandApproval;

/** Command approvals: a guardrail holds a statement until an approver of the target lets it through. */
export function createCommandApprovals(deps: Deps) {
  const { config, store, audit, events, now, exclusive, loadGrant } = deps;

  /** The grant's own approvers; else every approver group on its target; else the admins. */
  function approversFor(g: Grant): string[] {
    if (g.approvers.length > 0) return g.approvers;
    const onTarget = approverGroupsFor(config, g.target);
    return onTarget.length > 0 ? onTarget : config.admins;
  }

  async function visible(who: Actor, id: string): Promise<CommandApproval> {
    const s = await store.approvals.get(id);
    const a = s && fromStored(s);
    if (!a || !canSeeApproval(config, who, a)) throw new ApiError('not_found', `No approval ${id} (or it is not yours to see).`);
    return a;
  }

  async function request(input: {
    grant: TunnelGrant | { id: string };
    text: string;
    rule: string;
    message?: string;
    /**
     * How many requests one approval lets through (HTTP targets pass 1); each
     * use is counted and an exhausted approval asks again. Without it an
     * approval covers the same text for its whole window.
     */
    summary?: CommandApproval['summary'];
    reuse?: number;
  }): Promise<ApprovalCheck> {
    return exclusive(async () => {
      const g = await loadGrant(input.grant.id);
      const at = now();
      if (g?.state !== 'active' || !g.expires_at || new Date(g.expires_at) <= at) {
        return { status: 'denied', id: '' };
      }
      const textHash = commandHash(input.text);
      // Bound to this grant's target, role and requester, and to the exact text (the hash, checked again on the text).
      const latest = (await store.approvals.findByText(g.id, textHash))
        .map(fromStored)
        .filter((a) => a.text === input.text && a.target === g.target && a.role === g.role && a.requester === g.requester)[0];
      if (latest?.state === 'pending') return { status: 'pending', id: latest.id };
      if (latest?.state === 'approved' && latest.valid_until && new Date(latest.valid_until) > at) {
        const uses = latest.uses ?? 0;
        if (latest.reuse === undefined) return { status: 'approved', id: latest.id };
        if (uses < latest.reuse) {
          const before = { ...latest };
          latest.uses = uses + 1;
          if (await store.approvals.update(toStored(latest, textHash), before.state)) {
            await audit.append({
              action: 'approval.used',
              result: 'ok',
              actor: g.requester,
              actorKind: 'user',
              target: g.target,
              role: g.role,
              grantId: g.id,
              correlationId: g.correlation_id,
              details: { approval_id: latest.id, use: latest.uses, reuse: latest.reuse },
            });
            return { status: 'approved', id: latest.id };
          }
        }
        // Used up: the next run needs a new approval.
      }
      if (latest?.state === 'denied' && latest.decided_at && at.getTime() - new Date(latest.decided_at).getTime() < APPROVAL_WINDOW_MS) {
        return { status: 'denied', id: latest.id };
      }
      const a: CommandApproval = {
        id: newIdFor('a'),
        grant_id: g.id,
        target: g.target,
        role: g.role,
        requester: g.requester,
        requester_key: g.requester_key,
        requester_for: g.requester_for ?? null,
        text: input.text,
        normalized: input.text,
        sha256: textHash,
        ...(input.summary ? { summary: input.summary } : {}),
        ...(input.reuse !== undefined ? { reuse: input.reuse, uses: 0 } : {}),
        rule: input.rule,
        message: input.message,
        state: 'pending',
        approvers: approversFor(g),
        created_at: at.toISOString(),
      };
      await store.approvals.insert(toStored(a, textHash));
      await audit.append({
        action: 'approval.requested',
        result: 'held',
        actor: g.requester,
        actorKind: g.requester_kind ?? 'user',
        actorKey: g.requester_key,
        target: g.target,
        role: g.role,
        grantId: g.id,
        correlationId: g.correlation_id,
        details: {
          approval_id: a.id,
          text: a.text,
          sha256: a.sha256,
          summary: a.summary ?? null,
          reuse: a.reuse ?? null,
          rule: a.rule,
          message: a.message ?? null,
          approvers: a.approvers,
        },
      });
      events.emit('approval', a);
      return { status: 'pending', id: a.id };
    });
  }

  async function list(who: Actor, filter: { state?: CommandApproval['state'] }): Promise<CommandApproval[]> {
    return (await store.approvals.list({ state: filter.state })).map(fromStored).filter((a) => canSeeApproval(config, who, a));
  }

  function decide(who: Actor, id: string, to: 'approved' | 'denied', comment?: string): Promise<CommandApproval> {
    return exclusive(async () => {
      const a = await visible(who, id);
      const verb = to === 'approved' ? 'approve' : 'deny';
      // Approvals from before identity keys name the requester by sub: a person.
      const requesterKey = a.requester_key ?? `legacy-user:${a.requester}`;
      const requesterFor = a.requester_for !== undefined ? a.requester_for : isPersonKey(requesterKey) ? requesterKey : null;
      if (isSelf(requesterKey, who) || samePerson(who.actsFor, requesterFor)) {
        throw new ApiError('self_approval', `The command in ${a.id} is yours; someone in ${a.approvers.join(', ')} must ${verb} it.`);
      }
      refuseTokenApprover(config, who, a.id);
      if (a.state !== 'pending') {
        throw new ApiError('invalid_state', `Cannot ${verb} ${a.id}: it is already ${a.state}.`, { state: a.state, approval_id: a.id });
      }
      if (!who.groups.some((g) => a.approvers.includes(g))) {
        throw new ApiError('forbidden', `Only members of ${a.approvers.join(', ')} may ${verb} ${a.id}.`);
      }
      const at = now();
      const g = await loadGrant(a.grant_id);
      const before = a.state;
      a.state = to;
      a.decided_at = at.toISOString();
      a.decided_by = who.sub;
      if (comment) a.comment = comment;
      if (to === 'approved') {
        const end = Math.min(at.getTime() + APPROVAL_WINDOW_MS, g?.expires_at ? new Date(g.expires_at).getTime() : Number.POSITIVE_INFINITY);
        a.valid_until = new Date(end).toISOString();
      }
      if (!(await store.approvals.update(toStored(a, a.sha256 ?? commandHash(a.text)), before))) {
        throw new ApiError('invalid_state', `Approval ${a.id} changed meanwhile.`, { approval_id: a.id });
      }
      await audit.append({
        action: `approval.${to}`,
        actor: who.sub,
        actorKind: who.kind,
        actorKey: who.key,
        target: a.target,
        role: a.role,
        grantId: a.grant_id,
        correlationId: who.correlationId,
        ip: who.ip,
        details: { approval_id: a.id, text: a.text, comment: comment ?? null, valid_until: a.valid_until ?? null },
      });
      events.emit('approval', a);
      return a;
    });
  }

  return { request, list, get: visible, decide };
}
