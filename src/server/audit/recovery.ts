import type { AuditRow } from '../../store/store.js';
import type { AuditSpool, UnchainedRow } from './spool.js';

interface Waiting {
  waiter?: { resolve(row: AuditRow): void; reject(err: unknown): void };
}

export interface AuditRecoveryOptions {
  spool: AuditSpool;
  /** Chains rows onto the store's head and inserts them in one transaction. */
  storeRows(rows: UnchainedRow[]): Promise<void>;
  retryMs: number;
  /** Runs `fn` in the audit log's write queue, so replay never interleaves with new writes. */
  serialize(fn: () => Promise<void>): unknown;
  /** Told when events start going to the spool, when they cannot be kept, and when the store has them all again. */
  report?(level: 'warn' | 'error' | 'info', message: string, fields: Record<string, unknown>): void;
}

/** A row the store refused because its id is already there (a replay of a batch taken before a crash). */
function isDuplicate(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code;
  return code === '23505' || code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY';
}

const why = (err: unknown) => String((err as NodeJS.ErrnoException)?.code ?? (err as Error)?.message ?? err);

/**
 * The audit log's failure path (never touched while the store takes every
 * batch). When a batch fails, it and every later event go to the durable
 * spool, in order, until a retry has replayed the spool into the store. When
 * the spool cannot be written either (disk full, read-only), events wait in
 * memory and `unavailable()` says why, so the gateway refuses to forward
 * statements until one of the two takes them again.
 */
export function createAuditRecovery(o: AuditRecoveryOptions) {
  let inSpool = false;
  let stranded: UnchainedRow[] = [];
  /** Told once the stranded rows are kept (the journal lets go of them). */
  let strandedKept: (() => void)[] = [];
  let reason: string | undefined;
  let timer: NodeJS.Timeout | undefined;
  let storeError = '';

  const schedule = () => {
    if (timer) return;
    timer = setTimeout(() => {
      timer = undefined;
      o.serialize(retry);
    }, o.retryMs);
    timer.unref();
  };

  const report = o.report ?? (() => {});

  function keptStranded(): void {
    for (const cb of strandedKept) cb();
    stranded = [];
    strandedKept = [];
    reason = undefined;
  }

  async function retry(): Promise<void> {
    try {
      let replayed = 0;
      if (inSpool) replayed = await o.spool.replay(o.storeRows, isDuplicate);
      inSpool = false;
      if (stranded.length > 0) {
        replayed += stranded.length;
        await o.storeRows(stranded);
        keptStranded();
      }
      report('info', 'audit store is back: spooled events replayed', { events: replayed });
    } catch (err) {
      storeError = why(err);
      if (stranded.length > 0) {
        try {
          await o.spool.write(stranded);
          keptStranded();
          inSpool = true;
        } catch {
          // still nowhere to keep them
        }
      }
      schedule();
    }
  }

  // A spool left by an earlier run is replayed before anything new is written (first in the queue).
  o.serialize(async () => {
    try {
      if (await o.spool.hasBacklog()) {
        inSpool = true;
        schedule();
      }
    } catch (err) {
      reason = `audit is unavailable: the local audit spool cannot be read (${why(err)})`;
    }
  });

  return {
    active: () => inSpool || stranded.length > 0,
    unavailable: () => reason,
    /**
     * Keeps a batch the store did not take (or must not take yet, to keep the
     * order); `onKept` runs once it is durable (spooled or stored).
     */
    async keep(rows: UnchainedRow[], batch: Waiting[], err?: unknown, onKept?: () => void): Promise<void> {
      if (err !== undefined) storeError = why(err);
      // Nobody reads the returned row's hash; its place in the chain is decided on replay.
      for (let i = 0; i < rows.length; i++) batch[i]?.waiter?.resolve({ ...rows[i]!, prev_hash: '', hash: '' });
      if (stranded.length === 0) {
        try {
          await o.spool.write(rows);
          onKept?.();
          if (!inSpool) report('warn', 'audit store cannot take events: spooling them locally', { error: storeError });
          inSpool = true;
          schedule();
          return;
        } catch (spoolErr) {
          reason = `audit is unavailable: the store cannot take events (${storeError || 'behind'}) and the local audit spool cannot be written (${why(spoolErr)})`;
          report('error', 'audit unavailable: statements are refused until events can be kept', { error: reason });
        }
      }
      stranded.push(...rows);
      if (onKept) strandedKept.push(onKept);
      schedule();
    },
  };
}
