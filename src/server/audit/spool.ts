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
 * 0600), every batch written whole and fsync'd before it counts, or cut
 * back. `events.offset` holds how many bytes of it the store has taken
 * (written atomically after each replayed batch). A crash between a batch's commit and its offset write replays that
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
  async function saveOffset(offset: number) {
    const tmp = `${offsetFile}.tmp`;
    const fh = await open(tmp, 'w', 0o600);
    try {
      await fh.writeFile(String(offset));
      await fh.datasync();
    } finally {
      await fh.close();
    }
    await rename(tmp, offsetFile);
  }

  /**
   * Appends whole lines or nothing. `writeFile` keeps writing after a short
   * write (a disk that fills mid-batch writes part, then fails with ENOSPC);
   * on any failure the file is cut back to where it was, so no torn line is
   * left for the next batch to be glued onto. A tail torn by a crash mid-write
   * (never fsync'd, so never counted) is closed with a newline first: it
   * stays one unreadable line that replay skips, and cannot swallow the next.
   */
  async function appendLines(text: string) {
    const fh = await open(file, 'a+', 0o600);
    let before: number | undefined;
    try {
      before = (await fh.stat()).size;
      let out = text;
      if (before > 0) {
        const last = Buffer.alloc(1);
        await fh.read(last, 0, 1, before - 1);
        if (last[0] !== 0x0a) out = `\n${text}`;
      }
      await fh.writeFile(out);
      await fh.datasync();
    } catch (err) {
      if (before !== undefined) await fh.truncate(before).catch(() => {});
      throw err;
    } finally {
      await fh.close();
    }
  }

  return {
    async hasBacklog() {
      return (await size(file)) > (await readOffset());
    },

    async write(rows) {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      await appendLines(rows.map((r) => `${JSON.stringify(r)}\n`).join(''));
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
