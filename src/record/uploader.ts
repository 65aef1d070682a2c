import { open, stat, truncate } from 'node:fs/promises';
import { hostname } from 'node:os';
import { debuglog } from 'node:util';
import { chunkHash } from './chain.js';
import { listPendingSpools, openSpool, removeSpool, type Spool } from './spool.js';
import type { SessionApi, SessionEnd } from './types.js';

const debug = debuglog('gate');

/**
 * Chunks are at most this many bytes (1 MiB, the server's limit): during an
 * output flood each chunk costs a state write, a hash and a request on the
 * client and a token check and two synced appends on the server, so fewer is
 * cheaper.
 */
export const MAX_CHUNK_BYTES = 1024 * 1024;

export interface DrainOptions {
  /**
   * false while the tool runs: only whole lines are sent (a chunk ends at a
   * newline unless one line exceeds chunkBytes). true once the .cast file is
   * complete: everything up to the end of the file is sent.
   */
  final: boolean;
  chunkBytes?: number;
  /**
   * While the tool runs: stop once fewer than this many bytes are waiting
   * (capped at chunkBytes), so a flood goes out in full chunks. Default 0.
   */
  minBytes?: number;
  signal?: AbortSignal;
  /** The bytes the running session just wrote, still in memory: chunks are cut from here when it has them, else read from the file. */
  tail?: SpoolTail;
}

/** Recently written bytes of a spool's .cast file, by file offset. */
export interface SpoolTail {
  /**
   * Up to `max` bytes from `offset`, as one buffer (a view when they sit in
   * one write), or undefined when memory does not hold `offset`; an empty
   * buffer when `offset` is the end of what was written.
   */
  read(offset: number, max: number): Buffer | undefined;
  /** Everything before `offset` is on the server: forget it. */
  release(offset: number): void;
}

/**
 * Keeps what the spool writer hands to the OS (`SpoolWriterOptions.onWritten`)
 * until it is uploaded, so a chunk is not read back from the file the moment
 * after it was written. Bounded by `limitBytes`: when the upload falls behind
 * (server slow or away) memory is dropped and those chunks come from the file.
 */
export function createSpoolTail(limitBytes = 8 * MAX_CHUNK_BYTES): SpoolTail & { add(data: Buffer, offset: number): void } {
  let parts: { offset: number; data: Buffer }[] = [];
  let start = -1; // offset of parts[0]; -1 until the first write is seen
  let end = -1; // offset just after the last write seen
  let held = 0;
  return {
    add(data, offset) {
      if (start < 0) start = end = offset;
      if (offset !== end || held + data.length > limitBytes) {
        // Not contiguous (never expected) or over budget: restart after this write.
        parts = [];
        held = 0;
        start = end = offset + data.length;
        return;
      }
      if (data.length === 0) return;
      parts.push({ offset, data });
      held += data.length;
      end = offset + data.length;
    },
    read(offset, max) {
      if (start < 0 || offset < start || offset > end) return undefined;
      const out: Buffer[] = [];
      let want = Math.min(max, end - offset);
      const total = want;
      for (const part of parts) {
        if (want === 0) break;
        const partEnd = part.offset + part.data.length;
        if (partEnd <= offset) continue;
        const from = Math.max(0, offset - part.offset);
        const take = Math.min(want, part.data.length - from);
        out.push(part.data.subarray(from, from + take));
        want -= take;
        offset += take;
      }
      return out.length === 1 ? out[0]! : Buffer.concat(out, total);
    },
    release(offset) {
      while (parts.length > 0 && parts[0]!.offset + parts[0]!.data.length <= offset) {
        held -= parts.shift()!.data.length;
      }
      start = parts.length > 0 ? parts[0]!.offset : Math.max(start, Math.min(offset, end));
    },
  };
}

/**
 * Sends every chunk of the spool's .cast file the server does not have yet,
 * creating the session first when needed. The chunk about to be sent is
 * persisted before it is sent (`inflight`), so a crash at any point resumes
 * without a conflict: the same bytes go again under the same seq, a
 * duplicate. That one state write per chunk also records the previous chunk
 * as acknowledged; the last acknowledgement of a drain is kept in memory only
 * (the next write carries it; after a crash that chunk is re-sent as a
 * duplicate). Throws the API's error on the first failure (the caller
 * retries). Returns the number of chunks sent.
 */
export async function drainSpool(spool: Spool, api: SessionApi, options: DrainOptions): Promise<number> {
  const chunkBytes = Math.min(options.chunkBytes ?? MAX_CHUNK_BYTES, MAX_CHUNK_BYTES);
  const { signal, tail } = options;
  if (!spool.state.created) {
    await api.create(spool.state.meta, { signal });
    await spool.update({ created: true });
  }
  // Opened only when memory does not have the bytes (resume, or an upload that fell behind).
  let fh: Awaited<ReturnType<typeof open>> | undefined;
  const readFile = async (offset: number, length: number, exact = false): Promise<Buffer | undefined> => {
    const fromMemory = tail?.read(offset, length);
    if (fromMemory && (!exact || fromMemory.length === length)) return fromMemory;
    if (!fh) {
      try {
        fh = await open(spool.castPath, 'r');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw err;
      }
    }
    // A fresh buffer per chunk: it goes to the API as is, no copy.
    const buf = Buffer.allocUnsafe(length);
    const { bytesRead } = await fh.read(buf, 0, length, offset);
    return buf.subarray(0, bytesRead);
  };
  let sent = 0;
  try {
    while (!signal?.aborted) {
      const { uploaded } = spool.state;
      let inflight = spool.state.inflight;
      let data: Buffer;
      if (inflight) {
        const read = await readFile(inflight.offset, inflight.length, true);
        if (read === undefined) return sent;
        if (read.length !== inflight.length) throw new Error(`spool ${spool.id}: .cast file is shorter than its state`);
        data = read;
      } else {
        const read = await readFile(uploaded.offset, chunkBytes);
        if (read === undefined || read.length === 0) break;
        let length = read.length;
        if (!options.final) {
          if (read.length < Math.min(options.minBytes ?? 0, chunkBytes)) break;
          const nl = read.lastIndexOf(0x0a, read.length - 1);
          if (nl >= 0) length = nl + 1;
          else if (read.length < chunkBytes) break; // a line still being written
        }
        data = read.subarray(0, length);
        const seq = uploaded.seq + 1;
        inflight = { seq, offset: uploaded.offset, length, hash: chunkHash(uploaded.hash, seq, data) };
        // Also persists the acknowledgement of the chunk before, still in memory only.
        await spool.update({ inflight });
      }
      await api.putChunk(spool.id, { seq: inflight.seq, data, prevHash: uploaded.hash, hash: inflight.hash }, { signal });
      const next = inflight.offset + inflight.length;
      spool.remember({ uploaded: { seq: inflight.seq, hash: inflight.hash, offset: next }, inflight: null });
      tail?.release(next);
      sent++;
    }
  } finally {
    await fh?.close();
  }
  return sent;
}

export interface BackoffOptions {
  /** First retry delay. Default 250 ms. */
  initialMs?: number;
  /** Longest delay. Default 10 s. */
  maxMs?: number;
}

/** True for an error a SessionApi marked `permanent` (see SessionApi): retrying the same request cannot help. */
export function isPermanentUploadError(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { permanent?: unknown }).permanent === true;
}

function backoffDelay(failures: number, { initialMs = 250, maxMs = 10_000 }: BackoffOptions): number {
  const base = Math.min(maxMs, initialMs * 2 ** Math.min(failures - 1, 20));
  return base * (0.8 + Math.random() * 0.4);
}

/** Resolves after ms, or early when `wake` is called or the signal aborts. Unref'd: it never keeps gate alive. */
function napper() {
  let wake: () => void = () => {};
  return {
    sleep(ms: number, signal?: AbortSignal): Promise<void> {
      return new Promise((resolve) => {
        const done = () => {
          clearTimeout(t);
          signal?.removeEventListener('abort', done);
          wake = () => {};
          resolve();
        };
        const t = setTimeout(done, ms);
        t.unref();
        signal?.addEventListener('abort', done, { once: true });
        wake = done;
      });
    },
    wake: () => wake(),
  };
}

export interface LiveUploadOptions {
  /** Send what has accumulated at least this often. Default 1000 ms. */
  intervalMs?: number;
  /**
   * Send early once this many new bytes are in the spool, in chunks of at least
   * this size (the rest waits for the next interval). Default 1 MiB: an output
   * flood goes out in full chunks, each a request, a state write and two
   * synced appends on the server.
   */
  eagerBytes?: number;
  chunkBytes?: number;
  backoff?: BackoffOptions;
  /** Told about each failed attempt (it will be retried). */
  onError?(err: unknown): void;
  /** Told when an attempt succeeds after failed ones. */
  onResumed?(): void;
}

/** What happened to a recording when gate stopped waiting for it. */
export type UploadOutcome =
  | { status: 'complete'; chunks: number }
  /** Left in the spool; the next gate run uploads it (`uploadPendingSpools`). */
  | { status: 'pending'; error?: unknown };

export interface LiveUpload {
  /**
   * Hands the uploader what the spool just wrote at `offset` of the .cast
   * file (cheap; call on every write, in order: `SpoolWriterOptions.onWritten`).
   * Chunks are cut from these bytes; the file is read only when memory fell behind.
   */
  notify(data: Buffer, offset: number): void;
  /**
   * Call after the spool's .cast file is complete and its state is `closed`.
   * Sends the rest, closes the session on the server and deletes the spool.
   * Gives up after `timeoutMs` (default 10 s) and leaves the spool for the next run.
   */
  finish(end: Omit<SessionEnd, 'incomplete'>, options?: { timeoutMs?: number }): Promise<UploadOutcome>;
  /** Stops at once (Ctrl-C during the upload); the spool stays. */
  abort(): void;
}

/**
 * Streams a spool to the server while the tool runs. Everything happens in
 * the background: the tool's output path only appends to the spool file, so a
 * slow or absent server never slows the tool. What was written and not yet
 * sent stays in memory (up to 8 MiB, then the file is read instead), so a
 * flood is not read back from disk. API failures are retried with
 * exponential backoff.
 */
export function startLiveUpload(spool: Spool, api: SessionApi, options: LiveUploadOptions = {}): LiveUpload {
  const intervalMs = options.intervalMs ?? 1000;
  const eagerBytes = options.eagerBytes ?? MAX_CHUNK_BYTES;
  const stop = new AbortController();
  const nap = napper();
  const tail = createSpoolTail();
  let unsent = 0;
  let end: Omit<SessionEnd, 'incomplete'> | undefined;
  let chunks = 0;
  let lastError: unknown;

  const run = async (): Promise<UploadOutcome> => {
    let failures = 0;
    // When everything waiting, however little, was last sent: that happens every intervalMs.
    let lastDue = performance.now();
    while (!stop.signal.aborted) {
      try {
        const finishing = end;
        const due = !!finishing || performance.now() - lastDue >= intervalMs;
        if (due) lastDue = performance.now();
        unsent = 0;
        chunks += await drainSpool(spool, api, {
          final: !!finishing,
          chunkBytes: options.chunkBytes,
          minBytes: due ? 0 : eagerBytes,
          signal: stop.signal,
          tail,
        });
        if (failures > 0) options.onResumed?.();
        failures = 0;
        if (finishing && !stop.signal.aborted) {
          await api.close(spool.id, { ...finishing, incomplete: false }, { signal: stop.signal });
          await removeSpool(spool.configDir, spool.id);
          return { status: 'complete', chunks };
        }
        if (!end && unsent < eagerBytes) await nap.sleep(Math.max(0, lastDue + intervalMs - performance.now()), stop.signal);
      } catch (err) {
        if (stop.signal.aborted) break;
        lastError = err;
        failures++;
        debug('recording upload of %s failed (attempt %d): %s', spool.id, failures, (err as Error)?.message);
        options.onError?.(err);
        if (isPermanentUploadError(err)) break;
        await nap.sleep(backoffDelay(failures, options.backoff ?? {}), stop.signal);
      }
    }
    return { status: 'pending', error: lastError };
  };
  const running = run();

  return {
    notify(data, offset) {
      tail.add(data, offset);
      unsent += data.length;
      if (unsent >= eagerBytes) nap.wake();
    },
    async finish(e, { timeoutMs = 10_000 } = {}) {
      end = e;
      nap.wake();
      let timer: NodeJS.Timeout | undefined;
      // This timer is ref'd on purpose: it keeps gate alive while it waits.
      const timeout = new Promise<UploadOutcome>((resolve) => {
        timer = setTimeout(() => {
          stop.abort();
          resolve({ status: 'pending', error: lastError });
        }, timeoutMs);
      });
      try {
        return await Promise.race([running, timeout]);
      } finally {
        clearTimeout(timer);
      }
    },
    abort() {
      stop.abort();
    },
  };
}

/**
 * Makes a spool whose writer died safe to upload: cuts the .cast file after
 * its last complete line (never before what the server already holds), then
 * marks it closed and incomplete with the duration the file's mtime implies.
 */
async function recoverCrashedSpool(spool: Spool): Promise<void> {
  const { uploaded, inflight, meta } = spool.state;
  let size = 0;
  let mtimeMs = Date.now();
  try {
    const st = await stat(spool.castPath);
    size = st.size;
    mtimeMs = st.mtimeMs;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const floor = Math.max(uploaded.offset, inflight ? inflight.offset + inflight.length : 0);
  if (size > floor) {
    const cut = await afterLastNewline(spool.castPath, floor, size);
    if (cut < size) await truncate(spool.castPath, cut);
  }
  const durationMs = Math.max(0, Math.round(mtimeMs - Date.parse(meta.startedAt))) || 0;
  await spool.update({ closed: true, incomplete: true, exitCode: null, durationMs });
}

async function afterLastNewline(file: string, floor: number, size: number): Promise<number> {
  const fh = await open(file, 'r');
  try {
    const block = Buffer.allocUnsafe(64 * 1024);
    let end = size;
    while (end > floor) {
      const start = Math.max(floor, end - block.length);
      const { bytesRead } = await fh.read(block, 0, end - start, start);
      const nl = block.subarray(0, bytesRead).lastIndexOf(0x0a);
      if (nl >= 0) return start + nl + 1;
      end = start;
    }
    return floor;
  } finally {
    await fh.close();
  }
}

export interface PendingUploadOptions {
  /** Total time to spend on all spools. Default 10 s. */
  timeoutMs?: number;
  backoff?: BackoffOptions;
  chunkBytes?: number;
  signal?: AbortSignal;
  onError?(id: string, err: unknown): void;
}

export interface PendingUploadResult {
  /** Sessions now complete on the server (their spools deleted). */
  uploaded: string[];
  /** Sessions still in the spool (retried by the next run). */
  failed: { id: string; error: unknown }[];
  /** Spools a live gate process is still writing. */
  skipped: string[];
}

/**
 * Uploads every spool left behind by an earlier gate run: one whose upload
 * timed out (closed with the tool's exit code), or one whose gate process died
 * (closed with `incomplete: true` and exitCode null). Chunks the server
 * already acknowledged are not sent again. Spools of live gate processes are
 * skipped. Never throws for a single spool's failure; see the result.
 */
export async function uploadPendingSpools(
  configDir: string,
  api: SessionApi,
  options: PendingUploadOptions = {},
): Promise<PendingUploadResult> {
  const result: PendingUploadResult = { uploaded: [], failed: [], skipped: [] };
  const deadline = Date.now() + (options.timeoutMs ?? 10_000);
  const stop = new AbortController();
  const onAbort = () => stop.abort();
  options.signal?.addEventListener('abort', onAbort, { once: true });
  const timer = setTimeout(() => stop.abort(), Math.max(0, deadline - Date.now()));
  const nap = napper();
  try {
    for (const pending of await listPendingSpools(configDir)) {
      if (pending.live) {
        result.skipped.push(pending.id);
        continue;
      }
      let lastError: unknown = new Error('gave up before trying');
      let done = false;
      let failures = 0;
      while (!stop.signal.aborted) {
        try {
          const spool = await openSpool(configDir, pending.id);
          // Claim it, so a concurrent gate run sees a live writer and leaves it alone.
          await spool.update({ pid: process.pid, host: hostname() });
          if (!spool.state.closed) await recoverCrashedSpool(spool);
          await drainSpool(spool, api, { final: true, chunkBytes: options.chunkBytes, signal: stop.signal });
          if (stop.signal.aborted) break;
          const { exitCode, durationMs, incomplete } = spool.state;
          await api.close(spool.id, { exitCode, durationMs: durationMs ?? 0, incomplete }, { signal: stop.signal });
          await removeSpool(configDir, spool.id);
          done = true;
          break;
        } catch (err) {
          lastError = err;
          failures++;
          options.onError?.(pending.id, err);
          if (stop.signal.aborted || isPermanentUploadError(err)) break;
          await nap.sleep(backoffDelay(failures, options.backoff ?? {}), stop.signal);
        }
      }
      if (done) result.uploaded.push(pending.id);
      else result.failed.push({ id: pending.id, error: lastError });
    }
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener('abort', onAbort);
  }
  return result;
}
