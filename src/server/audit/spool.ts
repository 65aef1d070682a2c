import { createReadStream } from 'node:fs';
import { mkdir, open, readFile, rename, stat, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { AuditRow } from '../../store/store.js';

/** An audit event as spooled: everything but its place in the chain, which the store decides on replay. */
export type UnchainedRow = Omit<AuditRow, 'prev_hash' | 'hash'>;

/** Events replayed per store transaction. */
const REPLAY_BATCH = 500;

/**
 * The audit log's durable fallback while the store cannot take events: a
 * JSON-lines file in the server's data dir (`audit-spool/events.jsonl`,
 * 0600), every write fsync'd before it counts. `events.offset` holds how many
 * bytes of it the store has taken (written atomically after each replayed
 * batch). A crash between a batch's commit and its offset write replays that
 * batch again; its ids are already in the store (unique), so those rows are
 * refused and skipped one by one: nothing is doubled, nothing lost.
 */
export interface AuditSpool {
  /** True while the file holds events the store has not taken yet. */
  hasBacklog(): Promise<boolean>;
  /** Appends events durably; rejects when they could not be made durable. */
  write(rows: UnchainedRow[]): Promise<void>;
  /**
   * Hands the spooled events to `store` in order, a batch at a time; resolves
   * once the file is empty again, rejects with the store's error otherwise.
   */
  replay(store: (rows: UnchainedRow[]) => Promise<void>, isDuplicate: (err: unknown) => boolean): Promise<number>;
}

export function createAuditSpool(dataDir: string): AuditSpool {
  const dir = join(dataDir, 'audit-spool');
  const file = join(dir, 'events.jsonl');
  const offsetFile = join(dir, 'events.offset');

  const size = async (path: string) => {
    try {
      return (await stat(path)).size;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0;
      throw err;
    }
  };
  const readOffset = async () => {
    try {
      return Number((await readFile(offsetFile, 'utf8')).trim()) || 0;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 0;
      throw err;
    }
  };
  async function writeDurably(path: string, text: string, flag: 'a' | 'w') {
    const fh = await open(path, flag, 0o600);
    try {
      await fh.write(text);
      await fh.datasync();
    } finally {
      await fh.close();
    }
  }
  async function saveOffset(offset: number) {
    const tmp = `${offsetFile}.tmp`;
    await writeDurably(tmp, String(offset), 'w');
    await rename(tmp, offsetFile);
  }

  return {
    async hasBacklog() {
      return (await size(file)) > (await readOffset());
    },

    async write(rows) {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      await writeDurably(file, rows.map((r) => `${JSON.stringify(r)}\n`).join(''), 'a');
    },

    async replay(store, isDuplicate) {
      let offset = await readOffset();
      const end = await size(file);
      let replayed = 0;
      if (end > offset) {
        const lines = createInterface({ input: createReadStream(file, { start: offset, end: end - 1 }), crlfDelay: Number.POSITIVE_INFINITY });
        let batch: UnchainedRow[] = [];
        let batchBytes = 0;
        const commit = async () => {
          try {
            await store(batch);
          } catch (err) {
            if (!isDuplicate(err)) throw err;
            // Partly taken before a crash (its offset unrecorded): one by one, skipping what the store holds.
            for (const row of batch) {
              try {
                await store([row]);
              } catch (e) {
                if (!isDuplicate(e)) throw e;
              }
            }
          }
          offset += batchBytes;
          replayed += batch.length;
          await saveOffset(offset);
          batch = [];
          batchBytes = 0;
        };
        try {
          for await (const line of lines) {
            batchBytes += Buffer.byteLength(line) + 1;
            if (line.trim() === '') continue;
            let row: UnchainedRow;
            try {
              row = JSON.parse(line) as UnchainedRow;
            } catch {
              // A last line cut by a crash mid-write: it was never fsync'd, so it never counted as kept.
              continue;
            }
            batch.push(row);
            if (batch.length >= REPLAY_BATCH) await commit();
          }
          if (batch.length > 0 || batchBytes > 0) await commit();
        } finally {
          lines.close();
        }
      }
      // Everything is in the store: start the file over (writes are serialized with replay by the caller).
      if (offset >= (await size(file)) && offset > 0) {
        await truncate(file, 0);
        await saveOffset(0);
      }
      return replayed;
    },
  };
}
