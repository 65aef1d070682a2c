/**
 * Notifications (docs/notifications.md): the grant service's audit events
 * become outbox rows in the store (outbox.ts), a deliverer sends them
 * (deliverer.ts), and admins see each sink's health (`gate status`).
 */
import type { GateConfig } from '../../config/schema.js';
import type { Store } from '../../store/store.js';
import type { AuditLog } from '../audit/log.js';
import type { Logger } from '../log.js';
import { createDeliverer, type DelivererOptions } from './deliverer.js';
import { createOutbox } from './outbox.js';
import { createSinks } from './sinks.js';

/** One sink's health as `GET /v1/notifications/status` and `gate status` report it. */
export interface SinkStatus {
  name: string;
  type: 'webhook' | 'slack' | null;
  /** Host only: a URL's path can be a secret (Slack's is). */
  host: string | null;
  events: string[];
  pending: number;
  delivered: number;
  failed: number;
  failed_attempts: number;
  last_error: string | null;
  last_status: number | null;
  last_error_at: string | null;
}

export interface Notifier {
  /** The audit log the grant service writes to: each grant or approval event also enqueues its notifications. */
  watch(audit: AuditLog): AuditLog;
  start(): void;
  close(): Promise<void>;
  status(): Promise<SinkStatus[]>;
}

export interface NotifierOptions {
  config: GateConfig;
  store: Store;
  audit: AuditLog;
  log: Logger;
  now: () => Date;
  env: NodeJS.ProcessEnv;
  tuning?: Pick<DelivererOptions, 'retryBaseMs' | 'retryMaxMs' | 'pollMs'>;
}

export function createNotifier(o: NotifierOptions): Notifier {
  const sinks = createSinks(o.config.notifications, o.env);
  const deliverer = createDeliverer({ repo: o.store.notifyOutbox, sinks, audit: o.audit, log: o.log, now: o.now, ...o.tuning });
  const outbox = createOutbox({ config: o.config, store: o.store, sinks, onEnqueued: () => deliverer.kick() });
  let started = false;

  return {
    watch(audit) {
      if (sinks.size === 0) return audit;
      return {
        ...audit,
        async append(input) {
          const row = await audit.append(input);
          if (outbox.wants(input.action)) {
            // The event is decided and audited; a notification that cannot be queued must not undo it.
            await outbox.enqueueFor(input, row).catch((err) =>
              o.log.error('notification not queued', { action: input.action, event_id: row.id, error: String((err as Error)?.message ?? err) }),
            );
          }
          return row;
        },
      };
    },
    start() {
      if (sinks.size === 0 || started) return;
      started = true;
      deliverer.start();
    },
    close: () => deliverer.close(),
    async status() {
      const stats = new Map((await o.store.notifyOutbox.stats()).map((s) => [s.sink, s]));
      const names = [...new Set([...sinks.keys(), ...stats.keys()])];
      return names.map((name) => {
        const sink = sinks.get(name);
        const s = stats.get(name);
        return {
          name,
          type: sink?.type ?? null,
          host: sink?.host() ?? null,
          events: sink ? [...sink.events] : [],
          pending: s?.pending ?? 0,
          delivered: s?.delivered ?? 0,
          failed: s?.failed ?? 0,
          failed_attempts: s?.failedAttempts ?? 0,
          last_error: s?.lastError ?? null,
          last_status: s?.lastStatus ?? null,
          last_error_at: s?.lastErrorAt ?? null,
        };
      });
    },
  };
}
