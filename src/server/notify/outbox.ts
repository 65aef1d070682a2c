/**
 * Turns a decided grant or approval event into outbox rows, one per sink
 * that subscribed to it, written right after the event's audit row (whose id
 * the notification carries). The deliverer (deliverer.ts) sends them.
 */
import { NOTIFY_EVENTS } from '../../config/notifications.js';
import type { GateConfig } from '../../config/schema.js';
import type { AuditRow, Store, StoredNotification } from '../../store/store.js';
import type { AuditInput } from '../audit/log.js';
import type { CommandApproval, Grant } from '../grants/types.js';
import { approvalSummary, grantSummary, linksFor, type NotificationPayload } from './payload.js';
import { redactStatement } from './redact.js';
import type { Sink } from './sinks.js';

const EVENTS = new Set<string>(NOTIFY_EVENTS);

export interface Outbox {
  /** Whether any sink wants this audit action (cheap: checked on every append). */
  wants(action: string): boolean;
  /** Builds the notification for an appended audit event and enqueues it for each subscribed sink. */
  enqueueFor(input: AuditInput, row: AuditRow): Promise<void>;
}

export function createOutbox(deps: { config: GateConfig; store: Store; sinks: Map<string, Sink>; onEnqueued(): void }): Outbox {
  const { config, store, sinks } = deps;
  const subscribed = (event: string) => [...sinks.values()].filter((s) => s.events.has(event));

  async function build(input: AuditInput, row: AuditRow): Promise<NotificationPayload | undefined> {
    const base = { event: input.action, id: row.id, at: row.time };
    if (input.action.startsWith('grant.')) {
      // A grant that still needs more approvers is not "approved" yet.
      if (input.action === 'grant.approved' && input.details?.state !== 'active') return undefined;
      const stored = input.grantId ? await store.grants.get(input.grantId) : undefined;
      if (!stored) return undefined;
      const g = stored.data as unknown as Grant;
      const by = input.action === 'grant.requested' || input.actorKind === 'system' ? null : (input.actor ?? null);
      return { ...base, grant: grantSummary(g, by), links: linksFor(config.console_url, { grantId: g.id }) };
    }
    const approvalId = input.details?.approval_id;
    const stored = typeof approvalId === 'string' ? await store.approvals.get(approvalId) : undefined;
    if (!stored) return undefined;
    const a = stored.data as unknown as CommandApproval;
    const grant = (await store.grants.get(a.grant_id))?.data as unknown as Grant | undefined;
    const statement = await redactStatement(config, a.target, a.text);
    return { ...base, approval: approvalSummary(a, statement, grant), links: linksFor(config.console_url, { grantId: a.grant_id, approvalId: a.id }) };
  }

  return {
    wants: (action) => EVENTS.has(action) && subscribed(action).length > 0,
    async enqueueFor(input, row) {
      const payload = await build(input, row);
      if (!payload) return;
      const text = JSON.stringify(payload);
      const rows: StoredNotification[] = subscribed(input.action).map((s) => ({
        id: payload.id,
        sink: s.name,
        event: payload.event,
        payload: text,
        state: 'pending',
        attempts: 0,
        failures: 0,
        createdAt: row.time,
        nextAt: row.time,
        lastError: null,
        lastStatus: null,
        lastErrorAt: null,
        deliveredAt: null,
      }));
      await store.notifyOutbox.enqueue(rows);
      deps.onEnqueued();
    },
  };
}
