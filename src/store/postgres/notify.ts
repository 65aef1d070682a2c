import pg from 'pg';
import type { StoreChange, StoreWatcher } from '../store.js';
import { CHANGE_CHANNEL } from './database.js';

/** Builds the NOTIFY payload for a change made through this store. */
export type ChangePayload = (kind: StoreChange['kind'], id: string) => string;

/** What the store logs about its change feed (the server's Logger fits). */
export interface FeedLogger {
  warn(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
}

/** A message on the channel that is not a grant or approval change (the cancel bus's). */
export interface FeedMessage {
  k: string;
  o: string;
  [field: string]: unknown;
}

export interface ChangeFeed {
  readonly payload: ChangePayload;
  /** This store's origin id: messages it sent carry it. */
  readonly origin: string;
  /** Other replicas' messages of kind `k` (never this store's own). */
  onMessage(k: string, fn: (msg: FeedMessage) => void): () => void;
  /** Connects and LISTENs; resolves once notifications flow. */
  start(): Promise<void>;
  watch(watcher: StoreWatcher): () => void;
  close(): Promise<void>;
}

const MAX_BACKOFF_MS = 5_000;

/**
 * One dedicated connection LISTENing on the change channel. Payloads carry
 * this store's origin id, so a replica skips the changes it made itself (its
 * own in-process events already fired). A lost connection is re-opened with
 * backoff; watchers are then told to resync, since NOTIFYs sent meanwhile are
 * gone for good.
 */
export function createChangeFeed(config: pg.ClientConfig, origin: string, log: FeedLogger): ChangeFeed {
  const watchers = new Set<StoreWatcher>();
  const handlers = new Map<string, (msg: FeedMessage) => void>();
  let client: pg.Client | undefined;
  let closed = false;
  let failures = 0;
  let retry: NodeJS.Timeout | undefined;

  function deliver(raw: string | undefined): void {
    let msg: { k?: unknown; id?: unknown; o?: unknown };
    try {
      msg = JSON.parse(raw ?? '');
    } catch {
      return;
    }
    if (msg === null || typeof msg !== 'object' || msg.o === origin || typeof msg.k !== 'string') return;
    const handler = handlers.get(msg.k);
    if (handler) {
      handler(msg as FeedMessage);
      return;
    }
    if ((msg.k !== 'grant' && msg.k !== 'approval') || typeof msg.id !== 'string') return;
    const change: StoreChange = { kind: msg.k, id: msg.id };
    for (const w of watchers) w.change(change);
  }

  async function connect(): Promise<void> {
    const c = new pg.Client(config);
    c.on('error', (err) => lost(c, err));
    c.on('end', () => lost(c));
    c.on('notification', (n) => {
      if (n.channel === CHANGE_CHANNEL) deliver(n.payload);
    });
    try {
      await c.connect();
      await c.query(`LISTEN ${CHANGE_CHANNEL}`);
    } catch (err) {
      c.end().catch(() => {});
      throw err;
    }
    if (closed) {
      await c.end().catch(() => {});
      return;
    }
    client = c;
  }

  function lost(c: pg.Client, err?: Error): void {
    if (client !== c || closed) return;
    client = undefined;
    c.end().catch(() => {});
    log.warn('store change feed lost; reconnecting', { error: err?.message ?? 'connection ended' });
    schedule();
  }

  function schedule(): void {
    const delay = Math.min(MAX_BACKOFF_MS, 100 * 2 ** failures);
    retry = setTimeout(() => {
      retry = undefined;
      connect().then(
        () => {
          if (closed) return;
          failures = 0;
          log.info('store change feed back');
          for (const w of watchers) w.resync();
        },
        (err: Error) => {
          if (closed) return;
          failures++;
          log.warn('store change feed reconnect failed', { error: err.message, retry_ms: Math.min(MAX_BACKOFF_MS, 100 * 2 ** failures) });
          schedule();
        },
      );
    }, delay);
  }

  return {
    payload: (kind, id) => JSON.stringify({ k: kind, id, o: origin }),
    origin,
    onMessage(k, fn) {
      handlers.set(k, fn);
      return () => {
        if (handlers.get(k) === fn) handlers.delete(k);
      };
    },
    start: connect,
    watch(watcher) {
      watchers.add(watcher);
      return () => watchers.delete(watcher);
    },
    async close() {
      closed = true;
      if (retry) clearTimeout(retry);
      watchers.clear();
      handlers.clear();
      const c = client;
      client = undefined;
      await c?.end().catch(() => {});
    },
  };
}
