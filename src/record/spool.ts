import type { WriteStream } from 'node:fs';
import { chmod, mkdir, open, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { GateError } from '../errors.js';
import { GENESIS_HASH } from './chain.js';
import type { SessionMeta } from './types.js';

/**
 * The spool: `<configDir>/spool/` (0700) holds, per session,
 * `<id>.cast` (the asciicast file, appended while the tool runs, 0600) and
 * `<id>.json` (this state, rewritten atomically via a temp file + rename).
 */
export interface SpoolState {
  version: 1;
  meta: SessionMeta;
  /** The gate process writing this spool; a spool whose writer is alive is not resumed by others. */
  pid: number;
  host: string;
  /** `SessionApi.create` succeeded. */
  created: boolean;
  /** Everything the server acknowledged: the last seq, its hash, and the .cast byte offset it ends at. */
  uploaded: { seq: number; hash: string; offset: number };
  /**
   * A chunk about to be sent. Written before `putChunk`, so after a crash the
   * exact same bytes are sent again under the same seq (a server no-op) rather
   * than a longer chunk under a seq the server already holds (a conflict).
   */
  inflight: { seq: number; offset: number; length: number; hash: string } | null;
  /** The .cast file will not grow any more (the tool finished, or a crashed spool was recovered). */
  closed: boolean;
  /** Closed by recovery after the writing gate process died: the tool's end was not recorded. */
  incomplete: boolean;
  exitCode: number | null;
  durationMs: number | null;
  updatedAt: string;
}

export const spoolDir = (configDir: string) => join(configDir, 'spool');
const castPath = (configDir: string, id: string) => join(spoolDir(configDir), `${id}.cast`);
const statePath = (configDir: string, id: string) => join(spoolDir(configDir), `${id}.json`);

const ID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A session's spool files and a serialized way to update its state. */
export interface Spool {
  readonly id: string;
  readonly configDir: string;
  readonly castPath: string;
  readonly statePath: string;
  /** The last state written (or being written). Do not mutate; use `update`. */
  readonly state: SpoolState;
  /** Merges a patch into the state and writes it atomically; calls are serialized. */
  update(patch: Partial<SpoolState>): Promise<void>;
  /**
   * Merges a patch into the state in memory only; the next `update` writes it.
   * For facts whose loss in a crash is harmless (an acknowledged chunk that is
   * still `inflight` on disk is re-sent as a duplicate).
   */
  remember(patch: Partial<SpoolState>): void;
}

function makeSpool(configDir: string, id: string, initial: SpoolState): Spool {
  let state = initial;
  let queue: Promise<void> = Promise.resolve();
  const file = statePath(configDir, id);
  return {
    id,
    configDir,
    castPath: castPath(configDir, id),
    statePath: file,
    get state() {
      return state;
    },
    update(patch) {
      state = { ...state, ...patch, updatedAt: new Date().toISOString() };
      const snapshot = JSON.stringify(state);
      queue = queue.then(() => writeAtomic(file, snapshot));
      return queue;
    },
    remember(patch) {
      state = { ...state, ...patch };
    },
  };
}

async function writeAtomic(file: string, text: string): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, text, { mode: 0o600 });
  await rename(tmp, file);
}

async function ensureSpoolDir(configDir: string): Promise<string> {
  const dir = spoolDir(configDir);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  // mkdir's mode is masked by umask and ignored for an existing dir.
  await chmod(dir, 0o700);
  return dir;
}

/** A spool opened for writing by the running session. */
export interface SpoolWriter extends Spool {
  /**
   * Appends a line to the .cast file (a Buffer holds its UTF-8 and must not
   * change afterwards). Never blocks: lines are batched in memory and written
   * in large writes (see createSpool's options).
   */
  append(line: string | Buffer): void;
  /** Writes what is batched now (asynchronously). */
  flush(): void;
  /** Ends the .cast file and waits until every appended byte is on disk. */
  end(): Promise<void>;
}

export interface SpoolWriterOptions {
  /**
   * Batched lines are written once this many UTF-16 units (of a string) or
   * bytes (of a Buffer) are waiting.
   * Default 256 Ki: an output flood costs a few hundred writes, not a hundred
   * thousand (each fs write is a trip through libuv's small thread pool,
   * which the terminal's own writes share).
   */
  batchChars?: number;
  /**
   * ...or once the oldest waiting line is this old. Default 50 ms: what a
   * killed gate can lose beyond what the tool had printed.
   */
  batchMs?: number;
  /**
   * Called with each batch once it is handed to the OS, in file order, with
   * its byte offset in the .cast file: the uploader sends these bytes from
   * memory instead of reading them back. Do not modify `data`.
   */
  onWritten?(data: Buffer, offset: number): void;
}

/** Creates a new spool for a session (state written before the first byte of .cast). */
export async function createSpool(configDir: string, meta: SessionMeta, options: SpoolWriterOptions = {}): Promise<SpoolWriter> {
  if (!ID_RE.test(meta.id)) throw new GateError('GATE_ERR_RECORDING', `Invalid session id ${JSON.stringify(meta.id)}.`);
  const batchChars = options.batchChars ?? 256 * 1024;
  const batchMs = options.batchMs ?? 50;
  await ensureSpoolDir(configDir);
  const spool = makeSpool(configDir, meta.id, {
    version: 1,
    meta,
    pid: process.pid,
    host: hostname(),
    created: false,
    uploaded: { seq: 0, hash: GENESIS_HASH, offset: 0 },
    inflight: null,
    closed: false,
    incomplete: false,
    exitCode: null,
    durationMs: null,
    updatedAt: new Date().toISOString(),
  });
  await spool.update({});
  // 'wx': a spool for this id must not exist yet.
  const fh = await open(spool.castPath, 'wx', 0o600);
  const stream: WriteStream = fh.createWriteStream({ highWaterMark: 1024 * 1024 });
  let streamError: Error | undefined;
  stream.on('error', (err) => {
    streamError = err;
  });
  let batch: (string | Buffer)[] = [];
  let batchLength = 0;
  // Bytes handed to the stream so far: the next batch's offset in the file ('wx': it starts empty).
  let written = 0;
  let timer: NodeJS.Timeout | undefined;
  const flush = () => {
    clearTimeout(timer);
    timer = undefined;
    if (batchLength === 0 || streamError) return;
    const data = encodeLines(batch);
    batch = [];
    batchLength = 0;
    const offset = written;
    written += data.length;
    stream.write(data, (err) => {
      if (!err) options.onWritten?.(data, offset);
    });
  };
  return Object.assign(spool, {
    append(line: string | Buffer) {
      if (streamError) return;
      batch.push(line);
      batchLength += line.length;
      if (batchLength >= batchChars) flush();
      else if (!timer) {
        timer = setTimeout(flush, batchMs);
        timer.unref();
      }
    },
    flush,
    end() {
      flush();
      return new Promise<void>((resolve, reject) => {
        if (streamError) return reject(streamError);
        stream.end(() => (streamError ? reject(streamError) : resolve()));
      });
    },
  });
}

/**
 * One buffer for a batch of lines, encoded straight into it: a join first
 * would copy every byte of an output flood once more.
 */
function encodeLines(lines: (string | Buffer)[]): Buffer {
  if (lines.length === 1) return typeof lines[0] === 'string' ? Buffer.from(lines[0], 'utf8') : lines[0]!;
  let size = 0;
  for (const line of lines) size += typeof line === 'string' ? Buffer.byteLength(line, 'utf8') : line.length;
  const data = Buffer.allocUnsafe(size);
  let at = 0;
  for (const line of lines) at += typeof line === 'string' ? data.write(line, at, 'utf8') : line.copy(data, at);
  return data;
}

/** Opens an existing spool (for resuming an upload). */
export async function openSpool(configDir: string, id: string): Promise<Spool> {
  if (!ID_RE.test(id)) throw new GateError('GATE_ERR_RECORDING', `Invalid session id ${JSON.stringify(id)}.`);
  const state = JSON.parse(await readFile(statePath(configDir, id), 'utf8')) as SpoolState;
  if (state.version !== 1 || state.meta?.id !== id) {
    throw new GateError('GATE_ERR_RECORDING', `Spool state for session ${id} is not readable.`);
  }
  return makeSpool(configDir, id, state);
}

/** Deletes a session's spool files. */
export async function removeSpool(configDir: string, id: string): Promise<void> {
  await rm(castPath(configDir, id), { force: true });
  await rm(statePath(configDir, id), { force: true });
  // A writer killed inside writeAtomic leaves `<id>.json.<pid>.tmp` (the session's meta) behind: it goes too.
  const names = await readdir(spoolDir(configDir)).catch(() => [] as string[]);
  for (const name of names) {
    if (name.startsWith(`${id}.`) && name.endsWith('.tmp')) await rm(join(spoolDir(configDir), name), { force: true });
  }
}

/** A spool found on disk. */
export interface PendingSpool {
  id: string;
  state: SpoolState;
  /** Its writer is a live process on this host: leave it alone. */
  live: boolean;
  /** Bytes in the .cast file. */
  size: number;
}

function processAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: the process exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Lists every spool in `<configDir>/spool/` whose state file is readable, with
 * whether its writer is still running (same host and a live pid). Spools that
 * cannot be read are skipped; a missing dir is an empty list.
 */
export async function listPendingSpools(configDir: string): Promise<PendingSpool[]> {
  let names: string[];
  try {
    names = await readdir(spoolDir(configDir));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const out: PendingSpool[] = [];
  for (const name of names.sort()) {
    const id = name.slice(0, -'.json'.length);
    if (!name.endsWith('.json') || !ID_RE.test(id)) continue;
    try {
      const { state } = await openSpool(configDir, id);
      const size = await stat(castPath(configDir, id)).then(
        (s) => s.size,
        () => 0,
      );
      out.push({ id, state, size, live: state.host === hostname() && processAlive(state.pid) });
    } catch {
      // A half-written or foreign file: not ours to judge; skip it.
    }
  }
  return out;
}
