/**
 * Sends what the outbox holds: claims due rows (so one replica sends each),
 * POSTs them, and records the outcome. A failed attempt is retried with
 * exponential back-off and jitter until the sink's max_attempts or max_age,
 * then the row is `failed`. Every failed attempt is audited as
 * `notify.failed` (sink, host, HTTP status; never the URL's path or the
 * secret). Rows left pending by a stopped server are sent after the next start.
 */
import { VERSION } from '../../version.js';
import type { NotifyOutboxRepository, StoredNotification } from '../../store/store.js';
import type { AuditLog } from '../audit/log.js';
import type { Logger } from '../log.js';
import type { NotificationPayload } from './payload.js';
import { type PostResult, postJson } from './send.js';
import { signBody } from './signing.js';
import type { Sink } from './sinks.js';
import { slackMessage } from './slack.js';

export interface DelivererOptions {
  repo: NotifyOutboxRepository;
  sinks: Map<string, Sink>;
  audit: AuditLog;
  log: Logger;
  now: () => Date;
  /** First retry delay; doubles per attempt (default 1 s). */
  retryBaseMs?: number;
  /** Longest retry delay (default 10 min). */
  retryMaxMs?: number;
  /** How often the outbox is polled for rows due (retries, other replicas' rows; default 2 s). */
  pollMs?: number;
  /** Delivered rows are kept this long (default 7 days). */
  keepDeliveredMs?: number;
}

export interface Deliverer {
  start(): void;
  /** Looks for due rows now (after an enqueue). */
  kick(): void;
  /** Stops polling; sends in flight are aborted and tried again after the next start. */
  close(): Promise<void>;
}

const BATCH = 20;
/** Extra time a claim holds past the POST's own timeout, so a slow attempt is not taken twice. */
const LEASE_SLACK_MS = 15_000;

export function createDeliverer(o: DelivererOptions): Deliverer {
  const base = o.retryBaseMs ?? 1000;
  const max = o.retryMaxMs ?? 10 * 60_000;
  const stop = new AbortController();
  let poll: NodeJS.Timeout | undefined;
  const retryTimers = new Set<NodeJS.Timeout>();
  let running: Promise<void> | undefined;
  let again = false;
  let lastPrune = 0;

  function kick(): void {
    if (stop.signal.aborted) return;
    if (running) {
      again = true;
      return;
    }
    running = loop().finally(() => {
      running = undefined;
    });
  }

  async function loop(): Promise<void> {
    do {
      again = false;
      try {
        const now = o.now();
        const lease = Math.max(...[...o.sinks.values()].map((s) => s.timeoutMs), 10_000) + LEASE_SLACK_MS;
        const rows = await o.repo.claim(now.toISOString(), new Date(now.getTime() + lease).toISOString(), BATCH);
        await Promise.all(rows.map(deliver));
        if (rows.length === BATCH) again = true;
        await prune(now);
      } catch (err) {
        if (!stop.signal.aborted) o.log.error('notification delivery pass failed', { error: String((err as Error)?.message ?? err) });
      }
    } while (again && !stop.signal.aborted);
  }

  async function prune(now: Date): Promise<void> {
    if (now.getTime() - lastPrune < 3600_000) return;
    lastPrune = now.getTime();
    await o.repo.prune(new Date(now.getTime() - (o.keepDeliveredMs ?? 7 * 86_400_000)).toISOString());
  }

  async function deliver(row: StoredNotification): Promise<void> {
    const sink = o.sinks.get(row.sink);
    if (!sink) {
      await failed(row, undefined, { ok: false, status: null, error: `sink ${row.sink} is no longer configured` }, true);
      return;
    }
    let result: PostResult;
    try {
      const { url, secret } = await sink.resolve();
      result = await send(sink, row, url, secret);
    } catch (err) {
      result = { ok: false, status: null, error: String((err as Error)?.message ?? err) };
    }
    if (result.ok) {
      await o.repo.delivered(row.id, row.sink, o.now().toISOString());
      o.log.debug('notification delivered', { sink: sink.name, event: row.event, id: row.id, attempt: row.attempts });
      return;
    }
    if (stop.signal.aborted) result = { ...result, error: 'the gate server stopped during delivery; sent again after it starts' };
    const age = o.now().getTime() - Date.parse(row.createdAt);
    const final = !stop.signal.aborted && (row.attempts >= sink.maxAttempts || age >= sink.maxAgeMs);
    await failed(row, sink, result, final);
  }

  function send(sink: Sink, row: StoredNotification, url: URL, secret: string | undefined): Promise<PostResult> {
    const payload = JSON.parse(row.payload) as NotificationPayload;
    const options = { timeoutMs: sink.timeoutMs, signal: stop.signal, secrets: secret ? [secret] : [] };
    if (sink.type === 'slack') return postJson(url, JSON.stringify(slackMessage(payload)), { 'user-agent': `gate/${VERSION}` }, options);
    // The timestamp is in the signed body too, so the signature covers it (docs/notifications.md).
    const timestamp = Math.floor(o.now().getTime() / 1000);
    const body = JSON.stringify({ ...payload, timestamp });
    return postJson(
      url,
      body,
      {
        'user-agent': `gate/${VERSION}`,
        'x-gate-event': row.event,
        'x-gate-event-id': row.id,
        'x-gate-timestamp': String(timestamp),
        'x-gate-signature': signBody(secret ?? '', body),
      },
      options,
    );
  }

  async function failed(row: StoredNotification, sink: Sink | undefined, result: PostResult, final: boolean): Promise<void> {
    const at = o.now();
    const delay = stop.signal.aborted ? 0 : backoff(row.attempts);
    const nextAt = final ? null : new Date(at.getTime() + delay).toISOString();
    const error = result.error ?? 'failed';
    await o.repo.failedAttempt(row.id, row.sink, { at: at.toISOString(), error, status: result.status, nextAt });
    const fields = { sink: row.sink, type: sink?.type ?? null, host: sink?.host() ?? null, event: row.event, event_id: row.id };
    o.log.warn(final ? 'notification given up' : 'notification attempt failed', { ...fields, attempt: row.attempts, status: result.status, error });
    await o.audit
      .append({
        action: 'notify.failed',
        result: 'error',
        actorKind: 'system',
        details: { ...fields, attempt: row.attempts, status: result.status, error, final, next_attempt_at: nextAt },
      })
      .catch(() => {});
    if (!final && !stop.signal.aborted) {
      const t = setTimeout(() => {
        retryTimers.delete(t);
        kick();
      }, delay + 10);
      t.unref();
      retryTimers.add(t);
    }
  }

  /** base·2^(n-1), capped, times a jitter in [0.5, 1) so many failing rows do not retry in step. */
  function backoff(attempt: number): number {
    const exp = Math.min(max, base * 2 ** Math.max(0, attempt - 1));
    return Math.round(exp * (0.5 + Math.random() / 2));
  }

  return {
    start() {
      poll = setInterval(kick, o.pollMs ?? 2000);
      poll.unref();
      kick();
    },
    kick,
    async close() {
      stop.abort();
      if (poll) clearInterval(poll);
      for (const t of retryTimers) clearTimeout(t);
      retryTimers.clear();
      await running;
    },
  };
}
