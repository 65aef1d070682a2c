import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import type { CancelBus, CancelKey, CancelOutcome } from '../store.js';
import { CHANGE_CHANNEL } from './database.js';
import type { ChangeFeed, FeedMessage } from './notify.js';

/** How long an ask waits for the replica holding the key (a NOTIFY round trip is milliseconds). */
const ANSWER_MS = 2_000;

/**
 * PostgreSQL's CancelRequest arrives on a new connection, which the load
 * balancer may send to any replica; only the replica that opened the query's
 * upstream connection knows its real key. A replica that does not know a
 * client's key asks the others on the store's change channel (the gate-issued
 * pid/key and grant id, never an upstream key); the holder checks the grant,
 * sends the cancel and answers the asker alone.
 */
export function postgresCancelBus(pool: pg.Pool, feed: ChangeFeed): CancelBus {
  const waiting = new Map<string, (outcome: CancelOutcome) => void>();
  let handle: ((key: CancelKey) => Promise<boolean | undefined>) | undefined;

  const notify = (msg: Record<string, unknown>) =>
    pool.query('SELECT pg_notify($1, $2)', [CHANGE_CHANNEL, JSON.stringify({ ...msg, o: feed.origin })]).then(
      () => undefined,
      () => undefined,
    );

  feed.onMessage('cancel-done', (msg) => {
    if (msg.to !== feed.origin || typeof msg.id !== 'string') return;
    waiting.get(msg.id)?.(msg.sent === true ? 'sent' : 'failed');
  });
  feed.onMessage('cancel', (msg) => {
    const key = cancelKeyOf(msg);
    if (!handle || !key) return;
    handle(key).then(
      (sent) => {
        if (sent !== undefined) void notify({ k: 'cancel-done', id: msg.id, to: msg.o, sent });
      },
      () => {},
    );
  });

  return {
    ask(key) {
      const id = randomUUID();
      return new Promise<CancelOutcome>((resolve) => {
        const done = (outcome: CancelOutcome) => {
          clearTimeout(timer);
          waiting.delete(id);
          resolve(outcome);
        };
        const timer = setTimeout(() => done('unknown'), ANSWER_MS);
        waiting.set(id, done);
        void notify({ k: 'cancel', id, pid: key.pid, key: key.key, grant: key.grantId });
      });
    },
    serve(fn) {
      handle = fn;
      return () => {
        if (handle === fn) handle = undefined;
      };
    },
  };
}

function cancelKeyOf(msg: FeedMessage): CancelKey | undefined {
  const { id, pid, key, grant } = msg;
  if (typeof id !== 'string' || !Number.isInteger(pid) || !Number.isInteger(key) || typeof grant !== 'string') return undefined;
  return { pid: pid as number, key: key as number, grantId: grant };
}
