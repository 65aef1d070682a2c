/**
 * The checkpointer counts the chain once per process, then only what was
 * appended since (issue 18): `SELECT COUNT(*)` over the whole log ran on the
 * event loop every `checkpoint_every` events, 30–40 ms at two million events
 * on SQLite and growing with the log.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createCheckpointer, verifyWithCheckpoints } from '../../src/server/audit/checkpoints.js';
import { createAuditLog } from '../../src/server/audit/log.js';
import { loadOrCreateSigningKey } from '../../src/server/keys.js';
import { createLogger } from '../../src/server/log.js';
import { createSqliteStore, type SqliteStore } from '../../src/store/sqlite/store.js';
import type { AuditRepository } from '../../src/store/store.js';

let dir: string;
let store: SqliteStore;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gate-checkpointer-'));
  store = createSqliteStore(dir);
});

afterEach(async () => {
  await store.close();
  await rm(dir, { recursive: true, force: true });
});

describe('audit checkpoints on a growing log', () => {
  it('count every row once, then only the rows after the last count, and sign the true length each time', async () => {
    const heads: (Parameters<AuditRepository['head']>[0] | 'full')[] = [];
    const repo: AuditRepository = {
      ...store.audit,
      head: (since) => {
        heads.push(since ?? 'full');
        return store.audit.head(since);
      },
    };
    const audit = createAuditLog(repo);
    const key = await loadOrCreateSigningKey(dir);
    const checkpointer = createCheckpointer({
      audit,
      repo,
      key,
      config: { checkpoint_every: 1_000_000, checkpoint_interval: '1d' },
      log: createLogger({ level: 'silent' }),
      now: () => new Date(),
    });
    try {
      const counts: number[] = [];
      for (const n of [3, 5, 1]) {
        for (let i = 0; i < n; i++) await audit.append({ action: 'test.event', details: { i } });
        counts.push((await checkpointer.checkpoint())!.count);
      }
      expect(counts).toEqual([3, 8, 9]);
      expect(heads[0]).toBe('full');
      expect(heads.slice(1)).toEqual([
        { seq: expect.any(Number), count: 3 },
        { seq: expect.any(Number), count: 8 },
      ]);
      const checked = await verifyWithCheckpoints(audit, repo, key);
      expect(checked.ok).toBe(true);
      expect(checked.checkpoints.checked).toBe(3);
    } finally {
      await checkpointer.close();
    }
  });
});
