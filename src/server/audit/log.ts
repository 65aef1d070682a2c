import { randomBytes } from 'node:crypto';
import type { GatewayAuditEvent, TunnelGrant } from '../../gateway/types.js';
import type { AuditFilter, AuditRepository, AuditRow } from '../../store/store.js';
import { type ChainBreak, canonicalJson, chainHash, checkEvent, type EncodedRow, encodeRow, GENESIS_HASH } from './chain.js';
import { isoTime } from './iso-time.js';
import type { AuditJournal } from './journal.js';
import { createAuditRecovery } from './recovery.js';
import type { AuditSpool, UnchainedRow } from './spool.js';
import { capStatement } from './statement-cap.js';

/** What a caller hands to `append`; the log adds id, time and the chain hashes. */
export interface AuditInput {
  /** e.g. `grant.requested`, `auth.login`, `pg.query`. */
  action: string;
  /** `ok`, `error`, `denied`, `held`. */
  result?: string;
  /** The subject who did it (null for the server itself, e.g. expiry). */
  actor?: string | null;
  /** `user`, `workload`, `service` or `system`. */
  actorKind?: string | null;
  /** The actor's identity key; kept in the event's details as `actor_id`. */
  actorKey?: string | null;
  target?: string | null;
  role?: string | null;
  grantId?: string | null;
  sessionId?: string | null;
  correlationId?: string | null;
  ip?: string | null;
  details?: Record<string, unknown>;
}

/** Who a gateway event belongs to. */
export interface GatewayAuditSource {
  grant: TunnelGrant;
  /** The caller's kind (`user`, `workload`, `service`); defaults to `user`. */
  actorKind?: string;
  /** The caller's identity key. */
  actorKey?: string;
  sessionId?: string;
  correlationId?: string;
  ip?: string;
}

export interface VerifyResult {
  ok: boolean;
  /** How many events were checked. */
  events: number;
  broken?: ChainBreak;
  /** The hash of the event at each asked-for position (1-based), as found while walking. */
  hashesAt?: Map<number, string>;
}

/** The audit log: append-only, hash-chained, verifiable. */
export interface AuditLog {
  /** Appends one event. Calls are serialized, so concurrent callers chain in order. */
  append(input: AuditInput): Promise<AuditRow>;
  /**
   * Queues an event a protocol handler reported, with who and which grant and
   * session. Fire and forget (one per statement on the data path, so no
   * promise each): a failed write goes to the log's `onError`.
   */
  fromGateway(event: GatewayAuditEvent, source: GatewayAuditSource): void;
  /** See AuditRepository.list: oldest first, `after` pages forward. */
  list(filter: Omit<AuditFilter, 'since' | 'until'> & { since?: Date; until?: Date }): Promise<AuditRow[]>;
  /** Walks the whole chain; names the first broken event and why. `at`: positions whose hashes to report. */
  verify(options?: { at?: Set<number> }): Promise<VerifyResult>;
  /** Resolves once every append started so far is written. */
  flush(): Promise<void>;
  /**
   * Makes the gateway events reported so far survive a kill of the process
   * (the journal's one write per turn). The gateway calls it before it sends
   * the answer those events describe.
   */
  sync(): void;
  /** Flushes, then closes the journal: a clean stop leaves nothing to replay. */
  close(): Promise<void>;
  /**
   * Why events cannot be kept right now (the store refuses them and the local
   * spool cannot be written either), or undefined. The gateway refuses to
   * forward statements while this is set: fail closed.
   */
  unavailable(): string | undefined;
  /** Events waiting in the local spool (or memory) for the store to come back: 0 in steady state. */
  backlog(): boolean;
}

export interface AuditLogOptions {
  /** Where events go while the store cannot take them (src/server/audit/spool.ts). Without it they are lost. */
  spool?: AuditSpool;
  /** Where gateway events are written before their answer leaves, and what a killed process left (src/server/audit/journal.ts). */
  journal?: AuditJournal;
  /** How often the spool is retried into the store (default 1 s). */
  retryMs?: number;
  /** Where the spool's state changes are logged (src/server/audit/recovery.ts). */
  report?(level: 'warn' | 'error' | 'info', message: string, fields: Record<string, unknown>): void;
}

// Event ids sort by time: an index on random ids would rewrite a random page
// of its B-tree for every event (measured: ~8 KB written per event under
// pgbench), where time-ordered ids append. The per-process suffix keeps ids
// unique across replicas sharing one database.
const PROCESS_SUFFIX = randomBytes(4).toString('hex');
let lastMs = 0;
let counter = 0;

/** A unique, time-ordered event id: `ev_<ms><counter><process>` in hex. */
export function auditId(nowMs = Date.now()): string {
  if (nowMs === lastMs) counter++;
  else {
    lastMs = nowMs;
    counter = 0;
  }
  return `ev_${nowMs.toString(16).padStart(12, '0')}${counter.toString(16).padStart(4, '0')}${PROCESS_SUFFIX}`;
}

/**
 * Gateway events (one per statement or API call) are written in batches: at
 * most every BATCH_WINDOW_MS, in one transaction, so the audit log costs the
 * data path a queue push rather than a database transaction per statement.
 * With the journal the events are durable before their answer leaves, so the
 * store can take them in larger batches (JOURNALED_WINDOW_MS): a transaction
 * writes each index page it touches once, and ten times fewer transactions
 * write several times fewer pages per event. Reads (`gate audit`, verify)
 * flush first, so they never see less. Other events (logins, grant changes)
 * are written on the next turn of the event loop.
 */
const BATCH_WINDOW_MS = 10;
const JOURNALED_WINDOW_MS = 100;
const MAX_BATCH = 1000;

interface Pending {
  input: AuditInput;
  /** Built when the event was reported (gateway events: so the journal holds its id and time). */
  row?: UnchainedRow;
  /** The row's canonical encoding, made once for the journal line and the chain hash. */
  encoded?: EncodedRow;
  /** The journal's ticket for it. */
  ticket?: number;
  /** Who waits for the row; gateway events have nobody. */
  waiter?: { resolve(row: AuditRow): void; reject(err: unknown): void };
}

/** Told about a batch that could not be written: how many events, and their first action. */
export type AuditErrorHandler = (err: unknown, lost: { events: number; action: string }) => void;

/**
 * Details with the caller's identity key as `actor_id` (it wins over one the
 * details carry), put first: it sorts first among gate's detail keys, so
 * details built in sorted order stay so (see canonicalJson).
 */
function withActorId(details: Record<string, unknown> | undefined, actorKey: string | null | undefined): Record<string, unknown> {
  if (!actorKey) return details ?? {};
  if (details === undefined) return { actor_id: actorKey };
  if (details.actor_id !== undefined) return { ...details, actor_id: actorKey };
  return { actor_id: actorKey, ...details };
}

const unchained = ({ prev_hash: _p, hash: _h, ...rest }: AuditRow): UnchainedRow => rest;

export function createAuditLog(
  repo: AuditRepository,
  now: () => Date = () => new Date(),
  onError: AuditErrorHandler = () => {},
  options: AuditLogOptions = {},
): AuditLog {
  // One queue: a store whose append awaits I/O (PostgreSQL) must still chain in order.
  let tail: Promise<unknown> = Promise.resolve();
  let queue: Pending[] = [];
  let timer: NodeJS.Timeout | undefined;
  let immediate: NodeJS.Immediate | undefined;

  const journal = options.journal;
  const rowOf = (p: Pending) => p.row ?? baseRow(p.input);
  /** The store (or the spool) has these events: the journal lets go of them. */
  function kept(batch: Pending[]): void {
    if (!journal) return;
    const tickets: number[] = [];
    for (const p of batch) if (p.ticket !== undefined) tickets.push(p.ticket);
    if (tickets.length > 0) journal.release(tickets);
  }

  /** The row with its chain fields. Spelled out rather than spread: one statement's event comes through here, and this costs half as much. */
  function chainRow(base: UnchainedRow, prev: string | undefined, encoded = encodeRow(base)): AuditRow {
    const prevHash = prev ?? GENESIS_HASH;
    return {
      id: base.id,
      time: base.time,
      actor: base.actor,
      actor_kind: base.actor_kind,
      action: base.action,
      target: base.target,
      role: base.role,
      grant_id: base.grant_id,
      session_id: base.session_id,
      correlation_id: base.correlation_id,
      ip: base.ip,
      result: base.result,
      details: base.details,
      prev_hash: prevHash,
      hash: chainHash(encoded, prevHash),
    };
  }

  function baseRow(input: AuditInput): UnchainedRow {
    return {
      id: auditId(),
      time: isoTime(now()),
      actor: input.actor ?? null,
      actor_kind: input.actorKind ?? null,
      action: input.action,
      target: input.target ?? null,
      role: input.role ?? null,
      grant_id: input.grantId ?? null,
      session_id: input.sessionId ?? null,
      correlation_id: input.correlationId ?? null,
      ip: input.ip ?? null,
      result: input.result ?? 'ok',
      // Stored canonical, so the chain hash needs no re-encoding (see encodeRow).
      details: canonicalJson(withActorId(input.details, input.actorKey)),
    };
  }

  /** Inserts rows already built (spooled ones keep their ids and times) chained onto the store's head, in one transaction. */
  async function storeRows(rows: UnchainedRow[]): Promise<void> {
    if (repo.appendMany) {
      await repo.appendMany((prev) => {
        let hash = prev;
        return rows.map((r) => {
          const row = chainRow(r, hash);
          hash = row.hash;
          return row;
        });
      });
    } else {
      for (const r of rows) await repo.appendAtomically((prev) => chainRow(r, prev));
    }
  }

  /** Drops the rows whose ids the store already has (a replay of events it took before a crash). */
  async function unknownRows(rows: UnchainedRow[]): Promise<UnchainedRow[]> {
    if (rows.length === 0) return rows;
    const known = await repo.knownIds(rows.map((r) => r.id));
    return known.size === 0 ? rows : rows.filter((r) => !known.has(r.id));
  }

  const recovery = options.spool
    ? createAuditRecovery({
        spool: options.spool,
        storeRows: async (rows) => storeRows(await unknownRows(rows)),
        retryMs: options.retryMs ?? 1000,
        report: options.report,
        serialize: (fn) => (tail = tail.then(fn)),
      })
    : undefined;

  // What a killed process journaled goes to the store (or the spool) before anything new.
  if (journal) tail = tail.then(() => replayJournal(journal));

  async function replayJournal(j: AuditJournal): Promise<void> {
    const { rows, discard } = j.recovered();
    if (rows.length === 0) return;
    try {
      if (recovery?.active()) throw new Error('the store is behind');
      let missing = 0;
      for (let i = 0; i < rows.length; i += MAX_BATCH) {
        const fresh = await unknownRows(rows.slice(i, i + MAX_BATCH));
        await storeRows(fresh);
        missing += fresh.length;
      }
      discard();
      options.report?.('info', 'audit journal replayed: events a stopped process had not stored are in the store', { journaled: rows.length, stored: missing });
    } catch (err) {
      if (!recovery) return onError(err, { events: rows.length, action: rows[0]!.action });
      await recovery.keep(rows, [], err, discard);
    }
  }

  async function write(batch: Pending[]): Promise<void> {
    // The store fell behind (or is down): keep the order, everything goes through the recovery path.
    if (recovery?.active()) return recovery.keep(batch.map(rowOf), batch, undefined, () => kept(batch));
    let built: AuditRow[] | undefined;
    try {
      if (repo.appendMany) {
        const rows = await repo.appendMany((prev) => {
          let hash = prev;
          built = batch.map((p) => {
            const row = chainRow(rowOf(p), hash, p.encoded);
            hash = row.hash;
            return row;
          });
          return built;
        });
        for (let i = 0; i < batch.length; i++) batch[i]!.waiter?.resolve(rows[i]!);
      } else {
        for (const p of batch) {
          const row = await repo.appendAtomically((prev) => chainRow(rowOf(p), prev));
          p.waiter?.resolve(row);
        }
      }
      kept(batch);
    } catch (err) {
      // Spooled with the ids and times they were built with (or get now, when the store was not even reached).
      if (recovery) return recovery.keep(built ? built.map(unchained) : batch.map(rowOf), batch, err, () => kept(batch));
      for (const p of batch) p.waiter?.reject(err);
      const unwaited = batch.filter((p) => !p.waiter);
      if (unwaited.length > 0) onError(err, { events: unwaited.length, action: unwaited[0]!.input.action });
    }
  }

  function flushQueue(): void {
    clearTimeout(timer);
    if (immediate) clearImmediate(immediate);
    timer = undefined;
    immediate = undefined;
    if (queue.length === 0) return;
    const batch = queue;
    queue = [];
    tail = tail.then(() => write(batch));
  }

  function enqueue(pending: Pending, urgent: boolean): void {
    queue.push(pending);
    if (queue.length >= MAX_BATCH) flushQueue();
    else if (urgent) immediate ??= setImmediate(flushQueue);
    else timer ??= setTimeout(flushQueue, journal ? JOURNALED_WINDOW_MS : BATCH_WINDOW_MS);
  }

  const append = (input: AuditInput) =>
    new Promise<AuditRow>((resolve, reject) => enqueue({ input, waiter: { resolve, reject } }, true));

  return {
    append,
    fromGateway(event, source) {
      const input: AuditInput = {
        action: event.action,
        result: event.result,
        actor: source.grant.user,
        actorKind: source.actorKind ?? 'user',
        actorKey: source.actorKey,
        target: source.grant.target,
        role: source.grant.role,
        grantId: source.grant.id,
        sessionId: source.sessionId,
        correlationId: source.correlationId,
        ip: source.ip,
        details: capStatement(event.details),
      };
      if (!journal) return enqueue({ input }, false);
      const row = baseRow(input);
      const encoded = encodeRow(row);
      enqueue({ input, row, encoded, ticket: journal.add(encoded) }, false);
    },
    async list(filter) {
      flushQueue();
      await tail;
      return repo.list({ ...filter, since: filter.since?.toISOString(), until: filter.until?.toISOString() });
    },
    async verify(options = {}) {
      flushQueue();
      await tail;
      let expected = GENESIS_HASH;
      let seq = 0;
      let events = 0;
      const hashesAt = new Map<number, string>();
      for (;;) {
        const page = await repo.scan(seq, 500);
        if (page.length === 0) return { ok: true, events, ...(options.at ? { hashesAt } : {}) };
        for (const { seq: s, row } of page) {
          events++;
          if (options.at?.has(events)) hashesAt.set(events, row.hash);
          const reason = checkEvent(row, expected);
          if (reason) return { ok: false, events, broken: { id: row.id, seq: s, reason }, ...(options.at ? { hashesAt } : {}) };
          expected = row.hash;
          seq = s;
        }
      }
    },
    async flush() {
      flushQueue();
      await tail;
    },
    sync: () => journal?.sync(),
    async close() {
      flushQueue();
      await tail;
      journal?.close();
    },
    unavailable: () => journal?.unavailable() ?? recovery?.unavailable(),
    backlog: () => recovery?.active() ?? false,
  };
}
