import { appendFile } from 'node:fs/promises';
import { CompactSign, compactVerify } from 'jose';
import type { AuditConfig } from '../../config/hardening.js';
import { parseDuration } from '../../config/duration.js';
import type { AuditCheckpoint, AuditRepository } from '../../store/store.js';
import type { SigningKey } from '../keys.js';
import type { Logger } from '../log.js';
import type { AuditLog } from './log.js';

/**
 * Signed checkpoints of the audit chain. The chain alone proves that no row
 * was edited, but not that none was cut from its tail, nor that the whole
 * chain was not re-hashed by someone with write access to the store. A
 * checkpoint is the server's EdDSA signature over (count, head hash, time):
 * whoever keeps one (the checkpoint file, `gate audit checkpoints --json`)
 * can later prove the log had at least `count` events ending in `head`.
 */
const CHECKPOINT_TYPE = 'gate-audit-checkpoint';
const encoder = new TextEncoder();

export async function signCheckpoint(key: SigningKey, body: Omit<AuditCheckpoint, 'signature'>): Promise<AuditCheckpoint> {
  const payload = encoder.encode(JSON.stringify({ typ: CHECKPOINT_TYPE, count: body.count, head: body.head, time: body.time }));
  const signature = await new CompactSign(payload).setProtectedHeader({ alg: 'EdDSA', kid: key.kid }).sign(key.privateKey);
  return { ...body, signature };
}

/** Why a checkpoint cannot be trusted (bad signature, or fields that are not what was signed), or undefined. */
export async function checkpointProblem(key: SigningKey, cp: AuditCheckpoint): Promise<string | undefined> {
  let signed: { typ?: unknown; count?: unknown; head?: unknown; time?: unknown };
  try {
    const { payload } = await compactVerify(cp.signature, key.publicKey, { algorithms: ['EdDSA'] });
    signed = JSON.parse(new TextDecoder().decode(payload));
  } catch {
    return `checkpoint of ${cp.count} events (${cp.time}) is not signed by this server's key`;
  }
  if (signed.typ !== CHECKPOINT_TYPE || signed.count !== cp.count || signed.head !== cp.head || signed.time !== cp.time) {
    return `checkpoint of ${cp.count} events (${cp.time}) does not match what was signed`;
  }
  return undefined;
}

/** What verifying the chain against checkpoints found. */
export interface CheckpointCheck {
  checked: number;
  latest?: { count: number; time: string };
  /** The first checkpoint the log contradicts, and how. */
  failure?: { count: number; time: string; reason: string };
}

/**
 * Walks the chain once and holds it against every checkpoint: the stored ones
 * and any the caller kept (`extra`). A checkpoint past the end of the log
 * means its tail was cut; a head that differs means the chain was rewritten.
 */
export async function verifyWithCheckpoints(
  audit: AuditLog,
  repo: AuditRepository,
  key: SigningKey,
  extra: AuditCheckpoint[] = [],
): Promise<Awaited<ReturnType<AuditLog['verify']>> & { checkpoints: CheckpointCheck }> {
  const all = dedupe([...(await repo.listCheckpoints()), ...extra]);
  const result = await audit.verify({ at: new Set(all.map((c) => c.count)) });
  const { hashesAt, ...chain } = result;
  const check: CheckpointCheck = { checked: 0 };
  for (const cp of all) {
    const bad = await checkpointProblem(key, cp);
    let reason = bad;
    if (!reason && cp.count > result.events && result.ok) {
      reason = `the log has ${result.events} events, but a checkpoint signed at ${cp.time} saw ${cp.count}: events were removed from its end`;
    } else if (!reason && hashesAt?.has(cp.count) && hashesAt.get(cp.count) !== cp.head) {
      reason = `event #${cp.count} is not the one signed at ${cp.time}: the chain was rewritten (re-hashed) since`;
    }
    if (reason) {
      check.failure ??= { count: cp.count, time: cp.time, reason };
      continue;
    }
    check.checked++;
    if (!check.latest || cp.count > check.latest.count) check.latest = { count: cp.count, time: cp.time };
  }
  return { ...chain, ok: chain.ok && !check.failure, checkpoints: check };
}

function dedupe(list: AuditCheckpoint[]): AuditCheckpoint[] {
  const seen = new Set<string>();
  return list
    .filter((c) => {
      const k = `${c.count}|${c.head}|${c.signature}`;
      if (seen.has(k)) return false;
      seen.add(k);
      return true;
    })
    .sort((a, b) => a.count - b.count);
}

/** Signs checkpoints every `checkpoint_every` events or `checkpoint_interval`, whichever comes first. */
export function createCheckpointer(options: {
  audit: AuditLog;
  repo: AuditRepository;
  key: SigningKey;
  config: AuditConfig;
  log: Logger;
  now: () => Date;
}) {
  const { audit, repo, key, config, log, now } = options;
  const intervalMs = parseDuration(config.checkpoint_interval);
  let last: AuditCheckpoint | undefined;
  let loaded = false;
  /** The `seq` of the newest event when the last checkpoint was signed (seq may skip, so this is an estimate). */
  let seqAtLast: number | undefined;
  /**
   * The chain's length up to `seq`, as last counted: the next count adds only
   * the rows after it. Counting every row each time stalled the server for
   * longer the longer the log (30–40 ms at two million events, on SQLite on
   * the event loop), every `checkpoint_every` events.
   */
  let counted: { seq: number; count: number } | undefined;
  let running: Promise<AuditCheckpoint | undefined> | undefined;

  async function take(): Promise<AuditCheckpoint | undefined> {
    if (!loaded) {
      last = (await repo.listCheckpoints()).at(-1);
      loaded = true;
    }
    await audit.flush();
    const head = await repo.head(counted);
    seqAtLast = head.seq;
    if (head.seq !== undefined) counted = { seq: head.seq, count: head.count };
    if (!head.hash || head.count === last?.count) return last;
    const cp = await signCheckpoint(key, { count: head.count, head: head.hash, time: now().toISOString() });
    await repo.addCheckpoint(cp);
    if (config.checkpoint_file) await appendFile(config.checkpoint_file, `${JSON.stringify(cp)}\n`, { mode: 0o600 });
    last = cp;
    return cp;
  }
  /** One at a time: two overlapping takes would sign the same head twice. */
  const checkpoint = () => {
    running ??= take().finally(() => {
      running = undefined;
    });
    return running;
  };

  // Polls the index only (the newest row); the full count is taken when a checkpoint is due.
  async function tick(): Promise<void> {
    if (!loaded) await checkpoint();
    const tip = await repo.tip();
    if (!tip || tip.hash === last?.head) return;
    const since = seqAtLast === undefined ? tip.seq : tip.seq - seqAtLast;
    const age = last ? now().getTime() - Date.parse(last.time) : Number.POSITIVE_INFINITY;
    if (since >= config.checkpoint_every || age >= intervalMs) await checkpoint();
  }

  const timer = setInterval(
    () => {
      tick().catch((err) => log.error('audit checkpoint failed', { error: String((err as Error)?.message ?? err) }));
    },
    Math.min(intervalMs, 10_000),
  );
  timer.unref();

  return {
    checkpoint,
    /** Stops the timer and signs what is there, so a clean shutdown leaves the tail covered. */
    async close(): Promise<void> {
      clearInterval(timer);
      await checkpoint().catch((err) => log.error('audit checkpoint failed', { error: String((err as Error)?.message ?? err) }));
    },
  };
}
