import type { NotifySinkStats, StoredNotification } from '../store.js';

/** A `notify_outbox` row, whichever database it came from. */
export interface NotificationRow {
  id: string;
  sink: string;
  event: string;
  payload: string;
  state: string;
  attempts: number | string;
  failures: number | string;
  created_at: string;
  next_at: string;
  last_error: string | null;
  last_status: number | string | null;
  last_error_at: string | null;
  delivered_at: string | null;
}

export function notificationFromRow(r: NotificationRow): StoredNotification {
  return {
    id: r.id,
    sink: r.sink,
    event: r.event,
    payload: r.payload,
    state: r.state as StoredNotification['state'],
    attempts: Number(r.attempts),
    failures: Number(r.failures),
    createdAt: r.created_at,
    nextAt: r.next_at,
    lastError: r.last_error,
    lastStatus: r.last_status === null ? null : Number(r.last_status),
    lastErrorAt: r.last_error_at,
    deliveredAt: r.delivered_at,
  };
}

/** Folds `SELECT sink, state, count, failures` rows and each sink's latest error into per-sink stats. */
export function statsFromRows(
  counts: { sink: string; state: string; n: number | string; failures: number | string | null }[],
  latest: { sink: string; last_error: string | null; last_status: number | string | null; last_error_at: string | null }[],
): NotifySinkStats[] {
  const by = new Map<string, NotifySinkStats>();
  const entry = (sink: string) => {
    let s = by.get(sink);
    if (!s) {
      s = { sink, pending: 0, delivered: 0, failed: 0, failedAttempts: 0, lastError: null, lastStatus: null, lastErrorAt: null };
      by.set(sink, s);
    }
    return s;
  };
  for (const c of counts) {
    const s = entry(c.sink);
    if (c.state === 'pending' || c.state === 'delivered' || c.state === 'failed') s[c.state] += Number(c.n);
    s.failedAttempts += Number(c.failures ?? 0);
  }
  for (const l of latest) {
    const s = entry(l.sink);
    s.lastError = l.last_error;
    s.lastStatus = l.last_status === null ? null : Number(l.last_status);
    s.lastErrorAt = l.last_error_at;
  }
  return [...by.values()].sort((a, b) => a.sink.localeCompare(b.sink));
}
