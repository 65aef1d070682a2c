import { mkdir, open, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { GateError, type GateErrorCode } from '../errors.js';
import { chunkHash, GENESIS_HASH, HASH_RE } from '../record/chain.js';

/**
 * The server's recording store: one asciicast file per session, assembled
 * from the CLI's hash-chained chunks. This is the data-dir store (a SQLite
 * server); with a PostgreSQL store every replica shares the chunks in the
 * database instead (src/store/postgres/recordings.ts, same interface).
 *
 * Layout under `dir` (0700): `<sessionId>.cast` (the chunks' bytes,
 * concatenated, 0600) and `<sessionId>.idx` (0600), one fixed-width record
 * per stored chunk: `seq\thash\toffset\tlength\n`, record N-1 for seq N. The
 * index is the truth: a chunk counts as stored once its record is written.
 * Writes go data first (append + fsync), then the record (append + fsync), so
 * a crash between them leaves bytes past the index's end, cut off on the next
 * access; the client re-sends that chunk and it is stored again.
 *
 * One writer process per directory: appends are serialized per session
 * within this process only. That is also why a session's state (its last
 * seq, hash and size) is kept in memory between appends, once read from the
 * index: an output flood sends a chunk after chunk, and reading the index
 * back (two stats, an open and a read) for each cost more than the append.
 * A failed append forgets it, so the next one repairs the files from disk.
 */
export interface RecordingStore {
  /** Stores the next chunk of a session, or recognises one already stored; with the state after it. */
  appendChunk(sessionId: string, chunk: StoredChunkInput): Promise<{ status: 'stored' | 'duplicate'; state: RecordingState }>;
  /**
   * The .cast file as stored so far, as a stream of exactly `bytes` bytes
   * (none for a session with no chunks): a recording of hundreds of MB is
   * never held in memory.
   */
  openRead(sessionId: string): Promise<{ bytes: number; stream: Readable }>;
  /** The whole .cast file as stored so far, in memory (tests, small recordings). */
  read(sessionId: string): Promise<Buffer>;
  /** Last seq (0 = none), its hash (the genesis hash when none), bytes stored. */
  state(sessionId: string): Promise<RecordingState>;
  /** Re-reads every chunk and checks the chain; -1 when it holds, else the first bad seq. */
  verify(sessionId: string): Promise<{ ok: boolean; brokenAtSeq?: number; chunks: number }>;
  /** Deletes a session's recording (retention). */
  remove(sessionId: string): Promise<void>;
}

export interface StoredChunkInput {
  seq: number;
  data: Buffer;
  prevHash: string;
  hash: string;
}

export interface RecordingState {
  lastSeq: number;
  lastHash: string;
  bytes: number;
}

/** Why a chunk was refused; `httpStatus` is what the API answers. */
export type RecordingChunkProblem =
  | 'invalid_session_id' // 400
  | 'invalid_chunk' // 400: seq not a positive integer, hashes not 64 hex digits
  | 'too_large' // 413
  | 'bad_hash' // 422: hash is not sha256(prevHash\nseq\ndata): altered in transit or a client bug
  | 'seq_conflict' // 409: that seq is stored with a different hash
  | 'seq_gap' // 409: seq skips ahead of the last stored + 1
  | 'chain_mismatch' // 409: prevHash is not the last stored chunk's hash
  | 'storage_full'; // 507: the disk or quota is full (ENOSPC, EDQUOT); nothing was kept, a retry succeeds once space is back

const STATUS: Record<RecordingChunkProblem, number> = {
  invalid_session_id: 400,
  invalid_chunk: 400,
  too_large: 413,
  bad_hash: 422,
  seq_conflict: 409,
  seq_gap: 409,
  chain_mismatch: 409,
  storage_full: 507,
};

/** A refused chunk or a bad session id. Map `httpStatus` to the response; `expected` helps a client resync. */
export class RecordingChunkError extends GateError {
  readonly problem: RecordingChunkProblem;
  readonly httpStatus: number;
  constructor(problem: RecordingChunkProblem, message: string, expected?: { nextSeq: number; prevHash: string }) {
    const code: GateErrorCode =
      STATUS[problem] === 409 ? 'GATE_ERR_CONFLICT' : problem === 'invalid_session_id' ? 'GATE_ERR_USAGE' : 'GATE_ERR_RECORDING';
    super(code, message, { details: { problem, ...(expected ?? {}) } });
    this.name = 'RecordingChunkError';
    this.problem = problem;
    this.httpStatus = STATUS[problem];
  }
}

/** Session ids are UUIDs (any version); nothing else reaches the file system. */
export const SESSION_ID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Largest chunk accepted (the CLI sends at most this much: MAX_CHUNK_BYTES in src/record/uploader.ts). */
export const MAX_STORED_CHUNK_BYTES = 1024 * 1024;

const REC = 103; // 10 + 1 + 64 + 1 + 15 + 1 + 10 + 1
const pad = (n: number, w: number) => String(n).padStart(w, '0');
const record = (seq: number, hash: string, offset: number, length: number) =>
  `${pad(seq, 10)}\t${hash}\t${pad(offset, 15)}\t${pad(length, 10)}\n`;

function parseRecord(buf: Buffer): { seq: number; hash: string; offset: number; length: number } {
  const [seq, hash, offset, length] = buf.toString('latin1').trimEnd().split('\t');
  return { seq: Number(seq), hash: hash!, offset: Number(offset), length: Number(length) };
}

/** What a client is told when a chunk could not be stored for lack of space. */
export const STORAGE_FULL_MESSAGE = "The gate server's disk is full; the chunk was not stored. Retry once space is freed.";

/**
 * True for a write that failed for lack of space: the disk (ENOSPC, SQLite's
 * SQLITE_FULL, PostgreSQL's 53100 disk_full, whose transaction rolled back
 * whole) or the user's quota (EDQUOT).
 */
export function isStorageFull(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOSPC' || code === 'EDQUOT' || code === 'SQLITE_FULL' || code === '53100';
}

/** Cuts `file` back to `length` bytes when it grew past it; a missing file is left missing. Never throws. */
async function truncateTo(file: string, length: number): Promise<void> {
  try {
    const { size } = await stat(file);
    if (size <= length) return;
    const fh = await open(file, 'r+');
    await fh.truncate(length).finally(() => fh.close());
  } catch {
    // The next loadState repairs what is left (it cuts past the index's end).
  }
}

/** Refuses a chunk that is malformed, too large or not what its hash says; every store checks this first. */
export function checkChunk(chunk: StoredChunkInput): void {
  const { seq, data, prevHash, hash } = chunk;
  if (!Number.isSafeInteger(seq) || seq < 1 || !HASH_RE.test(prevHash) || !HASH_RE.test(hash) || !Buffer.isBuffer(data)) {
    throw new RecordingChunkError('invalid_chunk', 'A chunk needs a positive integer seq, 64-hex-digit hashes and data.');
  }
  if (data.length > MAX_STORED_CHUNK_BYTES) {
    throw new RecordingChunkError('too_large', `A chunk may hold at most ${MAX_STORED_CHUNK_BYTES} bytes.`);
  }
  if (chunkHash(prevHash, seq, data) !== hash) {
    throw new RecordingChunkError('bad_hash', `Chunk ${seq} does not match its hash.`);
  }
}

/** Refuses a session id that is not a UUID (nothing else reaches a file name or a row key). */
/** A whole recording in memory, for callers that need it so (small ones: an export, a test); replay streams. */
export async function readWhole(openRead: RecordingStore['openRead'], sessionId: string): Promise<Buffer> {
  const { stream } = await openRead(sessionId);
  const parts: Buffer[] = [];
  for await (const part of stream) parts.push(part as Buffer);
  return Buffer.concat(parts);
}

export function checkSessionId(id: string): string {
  if (typeof id !== 'string' || !SESSION_ID_RE.test(id)) {
    throw new RecordingChunkError('invalid_session_id', 'A session id must be a UUID.');
  }
  return id.toLowerCase();
}

/**
 * Opens (creating when needed) a recording store in `dir`. Nothing is read
 * until a session is used.
 */
export function createRecordingStore(dir: string, options: { durable?: boolean } = {}): RecordingStore {
  const durable = options.durable ?? true;
  const locks = new Map<string, Promise<unknown>>();
  /** The state after the last append, per session key; only touched under the session's lock. */
  const known = new Map<string, RecordingState>();
  const KNOWN_MAX = 1024;
  const remember = (key: string, state: RecordingState) => {
    known.delete(key);
    if (known.size >= KNOWN_MAX) known.delete(known.keys().next().value!);
    known.set(key, state);
  };
  let ready: Promise<void> | undefined;
  const ensureDir = () => {
    ready ??= mkdir(dir, { recursive: true, mode: 0o700 }).then(() => {});
    return ready;
  };
  const paths = (id: string) => {
    if (typeof id !== 'string' || !SESSION_ID_RE.test(id)) {
      throw new RecordingChunkError('invalid_session_id', 'A session id must be a UUID.');
    }
    const lower = id.toLowerCase();
    return { cast: join(dir, `${lower}.cast`), idx: join(dir, `${lower}.idx`), key: lower };
  };

  /** Serializes work on one session. */
  function locked<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = locks.get(key) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const settled = next.then(
      () => {},
      () => {},
    );
    locks.set(key, settled);
    void settled.then(() => {
      if (locks.get(key) === settled) locks.delete(key);
    });
    return next;
  }

  /** Reads the index's last record and repairs what a crash mid-append left behind. */
  async function loadState(p: { cast: string; idx: string }): Promise<RecordingState> {
    let idxSize: number;
    try {
      idxSize = (await stat(p.idx)).size;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      idxSize = 0;
    }
    const whole = idxSize - (idxSize % REC);
    let state: RecordingState = { lastSeq: 0, lastHash: GENESIS_HASH, bytes: 0 };
    if (whole > 0 || idxSize > 0) {
      const fh = await open(p.idx, 'r+');
      try {
        if (whole !== idxSize) await fh.truncate(whole);
        if (whole > 0) {
          const buf = Buffer.alloc(REC);
          await fh.read(buf, 0, REC, whole - REC);
          const r = parseRecord(buf);
          state = { lastSeq: r.seq, lastHash: r.hash, bytes: r.offset + r.length };
        }
      } finally {
        await fh.close();
      }
    }
    try {
      const castSize = (await stat(p.cast)).size;
      if (castSize > state.bytes) {
        const fh = await open(p.cast, 'r+');
        await fh.truncate(state.bytes).finally(() => fh.close());
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    return state;
  }

  async function readRecord(idx: string, seq: number) {
    const fh = await open(idx, 'r');
    try {
      const buf = Buffer.alloc(REC);
      await fh.read(buf, 0, REC, (seq - 1) * REC);
      return parseRecord(buf);
    } finally {
      await fh.close();
    }
  }

  async function appendFile(file: string, data: Buffer | string) {
    const fh = await open(file, 'a', 0o600);
    try {
      // write() may take only part of the buffer (a nearly full disk does that without an error):
      // loop until all of it is in, so the next write raises ENOSPC instead of a short chunk counting as stored.
      const buf = typeof data === 'string' ? Buffer.from(data) : data;
      for (let done = 0; done < buf.length; ) {
        const { bytesWritten } = await fh.write(buf, done, buf.length - done);
        done += bytesWritten;
      }
      if (durable) await fh.datasync();
    } finally {
      await fh.close();
    }
  }

  async function openRead(sessionId: string): Promise<{ bytes: number; stream: Readable }> {
    const p = paths(sessionId);
    return locked(p.key, async () => {
      const state = await loadState(p);
      remember(p.key, state);
      const { bytes } = state;
      if (bytes === 0) return { bytes, stream: Readable.from([]) };
      // Opened under the lock; later appends only add past `bytes`, and a removal
      // does not take the data from an open file.
      const fh = await open(p.cast, 'r');
      return { bytes, stream: fh.createReadStream({ start: 0, end: bytes - 1, highWaterMark: 1024 * 1024 }) };
    });
  }

  return {
    async appendChunk(sessionId, chunk) {
      const p = paths(sessionId);
      const { seq, data, prevHash, hash } = chunk;
      checkChunk(chunk);
      await ensureDir();
      return locked(p.key, async () => {
        const state = known.get(p.key) ?? (await loadState(p));
        const expected = { nextSeq: state.lastSeq + 1, prevHash: state.lastHash };
        if (seq <= state.lastSeq) {
          const stored = await readRecord(p.idx, seq);
          if (stored.hash === hash) return { status: 'duplicate' as const, state };
          throw new RecordingChunkError('seq_conflict', `Chunk ${seq} is already stored with different content.`, expected);
        }
        if (seq !== state.lastSeq + 1) {
          throw new RecordingChunkError('seq_gap', `Chunk ${seq} arrived; the next one expected is ${state.lastSeq + 1}.`, expected);
        }
        if (prevHash !== state.lastHash) {
          throw new RecordingChunkError('chain_mismatch', `Chunk ${seq} does not follow chunk ${state.lastSeq}.`, expected);
        }
        // Forgotten until both appends are through: a half-done append is repaired by the next loadState.
        known.delete(p.key);
        try {
          await appendFile(p.cast, data);
          await appendFile(p.idx, record(seq, hash, state.bytes, data.length));
        } catch (err) {
          // A full disk can take part of a write: cut both files back to where they were
          // now, so no torn chunk or half index record stays behind (truncating frees space).
          await truncateTo(p.cast, state.bytes);
          await truncateTo(p.idx, state.lastSeq * REC);
          if (isStorageFull(err)) {
            throw new RecordingChunkError('storage_full', STORAGE_FULL_MESSAGE, expected);
          }
          throw err;
        }
        const after = { lastSeq: seq, lastHash: hash, bytes: state.bytes + data.length };
        remember(p.key, after);
        return { status: 'stored' as const, state: after };
      });
    },

    openRead,

    read: (sessionId) => readWhole(openRead, sessionId),

    async state(sessionId) {
      const p = paths(sessionId);
      return locked(p.key, async () => {
        const state = await loadState(p);
        remember(p.key, state);
        return state;
      });
    },

    async verify(sessionId) {
      const p = paths(sessionId);
      return locked(p.key, async () => {
        const state = await loadState(p);
        remember(p.key, state);
        const { lastSeq } = state;
        if (lastSeq === 0) return { ok: true, chunks: 0 };
        const [idx, cast] = await Promise.all([readFile(p.idx), readFile(p.cast)]);
        let prev = GENESIS_HASH;
        let offset = 0;
        for (let seq = 1; seq <= lastSeq; seq++) {
          const r = parseRecord(idx.subarray((seq - 1) * REC, seq * REC));
          const data = cast.subarray(r.offset, r.offset + r.length);
          if (r.seq !== seq || r.offset !== offset || data.length !== r.length || chunkHash(prev, seq, data) !== r.hash) {
            return { ok: false, brokenAtSeq: seq, chunks: lastSeq };
          }
          prev = r.hash;
          offset += r.length;
        }
        return { ok: true, chunks: lastSeq };
      });
    },

    async remove(sessionId) {
      const p = paths(sessionId);
      await locked(p.key, async () => {
        known.delete(p.key);
        await rm(p.cast, { force: true });
        await rm(p.idx, { force: true });
      });
    },
  };
}
