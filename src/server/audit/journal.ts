import { closeSync, fdatasync, ftruncateSync, mkdirSync, openSync, readdirSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { canonicalJson, type EncodedRow } from './chain.js';
import type { UnchainedRow } from './spool.js';

/** A segment is closed and a new one started past this size; a closed segment goes once its events are all kept. */
const SEGMENT_BYTES = 4 * 1024 * 1024;
/** How often written segments are fdatasync'd (a process kill loses nothing the kernel has; a power cut, this much). */
const DATASYNC_MS = 1000;
/** How soon a failed write is tried again. */
const RETRY_MS = 1000;

/**
 * The gateway's write-ahead journal of audit events (`audit-journal/` in the
 * data dir, files 0600). An event a protocol handler reports is written here
 * with one `write(2)` per turn of the event loop, before the answer it
 * follows is sent, so a server killed with SIGKILL has every answered
 * statement's event on disk; the kernel keeps what was written even when the
 * process dies. The audit log hands the event to the store as before and
 * releases it here once the store (or the spool) has it. The next start
 * replays what is left, skipping ids the store already holds.
 */
export interface AuditJournal {
  /** Events a process that ended without closing the journal left, oldest first; `discard` once they are kept elsewhere. */
  recovered(): { rows: UnchainedRow[]; discard(): void };
  /** Queues an event (its `encodeRow` form) for the next `sync`; returns the ticket `release` takes. */
  add(encoded: EncodedRow): number;
  /** Writes every queued event (done at the end of each turn anyway; call it before answering). */
  sync(): void;
  /** The events of these tickets are kept elsewhere now. */
  release(tickets: readonly number[]): void;
  /** Why events cannot be journaled right now, or undefined. */
  unavailable(): string | undefined;
  /** Writes what is queued and closes; removes the last segment when nothing in it is still waiting for the store. */
  close(): void;
}

interface Segment {
  path: string;
  /** Events in it the store does not have yet. */
  waiting: number;
}

const SEGMENT = /^segment-(\d+)\.jsonl$/;

/** Closing a written segment cannot lose an event (each was written whole before): an error here is nobody's to handle. */
function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // EIO on close: the events are also on their way to the store
  }
}
const errText = (err: unknown) => String((err as NodeJS.ErrnoException)?.code ?? (err as Error)?.message ?? err);

export function createAuditJournal(dataDir: string, options: { segmentBytes?: number } = {}): AuditJournal {
  const segmentBytes = options.segmentBytes ?? SEGMENT_BYTES;
  const dir = join(dataDir, 'audit-journal');
  const segments = new Map<number, Segment>();
  let lines: string[] = [];
  let current = 0;
  let fd: number | undefined;
  let bytes = 0;
  let broken: string | undefined;
  let tickQueued = false;
  let retryTimer: NodeJS.Timeout | undefined;
  let syncTimer: NodeJS.Timeout | undefined;
  /** fds waiting for an fdatasync in flight before they are closed. */
  const syncing = new Set<number>();
  const closeAfterSync = new Set<number>();

  let leftover: { files: string[]; rows: UnchainedRow[] } = { files: [], rows: [] };
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    leftover = readLeftover(dir);
    current = leftover.files.reduce((max, f) => Math.max(max, Number(SEGMENT.exec(f)![1])), 0) + 1;
  } catch (err) {
    broken = `audit is unavailable: the audit journal in ${dir} cannot be used (${errText(err)})`;
  }

  const pathOf = (n: number) => join(dir, `segment-${String(n).padStart(8, '0')}.jsonl`);

  function segment(n: number): Segment {
    let s = segments.get(n);
    if (!s) {
      s = { path: pathOf(n), waiting: 0 };
      segments.set(n, s);
    }
    return s;
  }

  function closeFd(f: number): void {
    if (syncing.has(f)) closeAfterSync.add(f);
    else closeQuietly(f);
  }

  /** fdatasync on libuv's pool, then (`close`) the fd is closed. */
  function datasync(f: number, close: boolean): void {
    syncing.add(f);
    fdatasync(f, () => {
      syncing.delete(f);
      if (closeAfterSync.delete(f) || close) closeQuietly(f);
    });
  }

  function datasyncSoon(): void {
    if (syncTimer) return;
    syncTimer = setTimeout(() => {
      syncTimer = undefined;
      if (fd !== undefined && !syncing.has(fd)) datasync(fd, false);
    }, DATASYNC_MS);
    syncTimer.unref();
  }

  function retrySoon(): void {
    if (retryTimer) return;
    retryTimer = setTimeout(() => {
      retryTimer = undefined;
      // Nothing left to write (the store took it all meanwhile): an empty line tells whether the disk takes writes again.
      if (lines.length === 0) lines.push('\n');
      sync();
    }, RETRY_MS);
    retryTimer.unref();
  }

  /** Writes `data` whole at the end of the current segment, or cuts the segment back to where it was and throws. */
  function writeWhole(data: string): void {
    fd ??= openSync(segment(current).path, 'a', 0o600);
    const length = Buffer.byteLength(data);
    let off = 0;
    try {
      // A string is written without a copy into a Buffer first; only a short write (a filling disk) needs one.
      off = writeSync(fd, data);
      if (off < length) {
        const buf = Buffer.from(data, 'utf8');
        while (off < length) off += writeSync(fd, buf, off);
      }
    } catch (err) {
      if (off > 0) ftruncateSync(fd, bytes);
      throw err;
    }
    bytes += length;
  }

  function rotate(): void {
    // The finished segment is synced before it is closed; writes go on in the next.
    if (fd !== undefined) {
      if (syncing.has(fd)) closeAfterSync.add(fd);
      else datasync(fd, true);
    }
    fd = undefined;
    bytes = 0;
    const old = current++;
    if (segment(old).waiting === 0) drop(old);
  }

  function drop(n: number): void {
    const s = segments.get(n);
    if (!s) return;
    segments.delete(n);
    try {
      unlinkSync(s.path);
    } catch {
      // already gone (never written)
    }
  }

  function sync(): void {
    tickQueued = false;
    if (lines.length === 0) return;
    try {
      writeWhole(lines.length === 1 ? lines[0]! : lines.join(''));
    } catch (err) {
      broken = `audit is unavailable: the local audit journal cannot be written (${errText(err)})`;
      retrySoon();
      return;
    }
    lines = [];
    broken = undefined;
    datasyncSoon();
    if (bytes >= segmentBytes) rotate();
  }

  return {
    recovered() {
      const { files, rows } = leftover;
      return {
        rows,
        discard() {
          for (const f of files) {
            try {
              unlinkSync(join(dir, f));
            } catch {
              // already gone
            }
          }
          leftover = { files: [], rows: [] };
        },
      };
    },

    add(encoded) {
      // The row as one JSON object, its details inline: no second encoding of the event.
      lines.push(`${encoded.head}${encoded.tail}\n`);
      segment(current).waiting++;
      if (!tickQueued) {
        tickQueued = true;
        process.nextTick(sync);
      }
      return current;
    },

    sync,

    release(tickets) {
      for (const n of tickets) {
        const s = segments.get(n);
        if (!s || --s.waiting > 0) continue;
        if (n !== current) drop(n);
        else if (lines.length > 0 && broken) {
          // Nothing queued matters any more: every event of it is kept elsewhere.
          lines = [];
        } else if (lines.length === 0 && bytes > 0 && fd !== undefined) {
          // Everything written is kept elsewhere: start the segment over rather than let it grow.
          try {
            ftruncateSync(fd, 0);
            bytes = 0;
          } catch {
            // it is replayed (and deduplicated) at the next start instead
          }
        }
      }
    },

    unavailable: () => broken,

    close() {
      sync();
      clearTimeout(retryTimer);
      clearTimeout(syncTimer);
      if (fd !== undefined) closeFd(fd);
      fd = undefined;
      if (segments.get(current)?.waiting === 0) drop(current);
    },
  };
}

/** Reads the segments a process that did not close the journal left: every whole line, in order. */
function readLeftover(dir: string): { files: string[]; rows: UnchainedRow[] } {
  const files = readdirSync(dir)
    .filter((f) => SEGMENT.test(f))
    .sort();
  const rows: UnchainedRow[] = [];
  for (const f of files) {
    for (const line of readFileSync(join(dir, f), 'utf8').split('\n')) {
      if (line === '') continue;
      try {
        rows.push(rowOfLine(line));
      } catch {
        // A line cut by a crash mid-write: its answer never left (the write comes first).
      }
    }
  }
  return { files, rows };
}

/** A journal line as a row: details inline as JSON (made canonical text again), or as text (a line an earlier build wrote). */
function rowOfLine(line: string): UnchainedRow {
  const row = JSON.parse(line) as Omit<UnchainedRow, 'details'> & { details: unknown };
  return { ...row, details: typeof row.details === 'string' ? row.details : canonicalJson(row.details) };
}
