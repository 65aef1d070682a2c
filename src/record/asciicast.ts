import { GateError } from '../errors.js';

/** An asciicast v2 header (https://docs.asciinema.org/manual/asciicast/v2/) plus gate's own key. */
export interface CastHeader {
  version: 2;
  width: number;
  height: number;
  /** Unix time in seconds when the recording started. */
  timestamp: number;
  command?: string;
  title?: string;
  env?: { TERM?: string; SHELL?: string };
  /** gate's metadata; asciinema ignores unknown header keys. */
  gate?: { target: string; user: string; grant: string; session_id: string };
}

/** "o" output, "i" input (keystrokes), "r" resize ("COLSxROWS"), "m" marker. */
export type CastEventType = 'o' | 'i' | 'r' | 'm';
export type CastEvent = [time: number, type: CastEventType, data: string];

export interface CastWriterOptions {
  /**
   * Receives whole lines, each ending in "\n": the header first, then one per
   * event.
   */
  write(line: string): void;
  /** Monotonic milliseconds; defaults to performance.now(). */
  now?: () => number;
  /**
   * Output arriving within this many milliseconds of the first pending byte
   * becomes one event, so a flood (`seq 1 10000000`) makes thousands of lines,
   * not millions. Default 10.
   */
  coalesceMs?: number;
  /** Pending output of this many bytes is written at once. Default 65536 (a flood makes fewer, larger events). */
  maxEventBytes?: number;
}

export interface CastWriter {
  /**
   * The tool's output: raw bytes as the terminal got them (a UTF-8 sequence
   * may be split across calls; invalid bytes are recorded as U+FFFD), or text.
   */
  output(data: Uint8Array | string): void;
  input(data: string): void;
  resize(cols: number, rows: number): void;
  /** A marker event ("m"): a note for the replay, such as what went to a redirected stdout. */
  marker(label: string): void;
  /** Writes any pending output now. */
  flush(): void;
  /** Flushes and stops the coalescing timer; later calls are ignored. */
  close(): void;
  /** Seconds since the recording started (the time the next event would carry). */
  elapsed(): number;
}

/**
 * How many bytes at the end of `b` start a UTF-8 sequence that is not
 * complete yet (0 to 3): they wait for the next output.
 */
function incompleteTail(b: Uint8Array): number {
  for (let k = 1; k <= Math.min(3, b.length); k++) {
    const c = b[b.length - k]!;
    if ((c & 0xc0) === 0x80) continue; // a continuation byte: look further back
    if (c < 0xc0) return 0;
    const need = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
    return need > k ? k : 0;
  }
  return 0;
}

const EMPTY = Buffer.alloc(0);

/**
 * Makes an asciicast v2 writer. The header is written at once. Output events
 * are coalesced (see `coalesceMs`); input and resize events flush pending
 * output first so the order of events is the order things happened.
 */
export function createCastWriter(header: CastHeader, options: CastWriterOptions): CastWriter {
  const now = options.now ?? (() => performance.now());
  const coalesceMs = options.coalesceMs ?? 10;
  const maxBytes = options.maxEventBytes ?? 65_536;
  const { write } = options;
  const t0 = now();
  let pending: Uint8Array[] = [];
  let pendingBytes = 0;
  let pendingAt = 0;
  // The start of a UTF-8 sequence the last output ended in.
  let carry: Buffer = EMPTY;
  let timer: NodeJS.Timeout | undefined;
  let closed = false;

  write(`${JSON.stringify(header)}\n`);

  const seconds = (ms: number) => Math.round((ms - t0) * 1000) / 1e6;
  // The same text as JSON.stringify([time, type, data]) + "\n", without an array to walk:
  // only the data needs escaping (the time is a finite number, the type one letter).
  const emit = (at: number, type: CastEventType, data: string) => {
    write(`[${seconds(at)},"${type}",${JSON.stringify(data)}]\n`);
  };
  const flush = () => {
    if (timer) {
      clearTimeout(timer);
      timer = undefined;
    }
    if (pendingBytes === 0 && !(closed && carry.length > 0)) return;
    const parts = carry.length > 0 ? [carry, ...pending] : pending;
    const data = parts.length === 1 ? Buffer.from(parts[0]!.buffer, parts[0]!.byteOffset, parts[0]!.byteLength) : Buffer.concat(parts);
    pending = [];
    pendingBytes = 0;
    const tail = closed ? 0 : incompleteTail(data);
    // Copied: a view would keep the whole read buffer alive.
    carry = tail > 0 ? Buffer.from(data.subarray(data.length - tail)) : EMPTY;
    // Invalid bytes (binary output) decode to U+FFFD, as a terminal shows them. Decoding and
    // JSON.stringify run in C++ over the whole event: faster than escaping byte by byte in JS.
    if (data.length > tail) emit(pendingAt, 'o', data.subarray(0, data.length - tail).toString('utf8'));
  };
  const add = (data: Uint8Array) => {
    const t = now();
    // The window closed (its timer is late when the loop is busy): the old burst keeps its own time.
    if (pendingBytes !== 0 && t - pendingAt >= coalesceMs) flush();
    if (pendingBytes === 0) pendingAt = t;
    pending.push(data);
    pendingBytes += data.length;
    if (pendingBytes >= maxBytes) flush();
    else if (!timer) {
      timer = setTimeout(flush, coalesceMs);
      timer.unref();
    }
  };

  return {
    output(data) {
      if (closed || data.length === 0) return;
      add(typeof data === 'string' ? Buffer.from(data, 'utf8') : data);
    },
    input(data) {
      if (closed || data === '') return;
      flush();
      emit(now(), 'i', data);
    },
    resize(cols, rows) {
      if (closed) return;
      flush();
      emit(now(), 'r', `${cols}x${rows}`);
    },
    marker(label) {
      if (closed) return;
      flush();
      emit(now(), 'm', label);
    },
    flush,
    close() {
      if (closed) return;
      closed = true;
      // A sequence the tool never finished goes out as what it is: invalid, so U+FFFD.
      if (pendingBytes === 0) pendingAt = now();
      flush();
    },
    elapsed: () => seconds(now()),
  };
}

export interface ParsedCast {
  header: CastHeader;
  events: CastEvent[];
  /** True when the last line was cut off (a recording whose writer died); that line is dropped. */
  truncated: boolean;
}

/**
 * Parses an asciicast v2 document. A final line that is not valid JSON and
 * has no newline after it is the trace of a writer that died mid-line: it is
 * dropped and `truncated` is set. Any other bad line throws a GateError.
 */
export function readCast(text: string): ParsedCast {
  const lines = text.split('\n');
  const endsClean = text.endsWith('\n');
  const bad = (line: number, why: string) =>
    new GateError('GATE_ERR_RECORDING', `Not an asciicast v2 recording: line ${line} ${why}.`);
  let header: CastHeader;
  try {
    header = JSON.parse(lines[0] ?? '') as CastHeader;
  } catch {
    throw bad(1, 'is not a JSON header');
  }
  if (header === null || typeof header !== 'object' || header.version !== 2) throw bad(1, 'has no "version": 2');
  const events: CastEvent[] = [];
  let truncated = false;
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.trim() === '') continue;
    let ev: unknown;
    try {
      ev = JSON.parse(line);
    } catch {
      if (i === lines.length - 1 && !endsClean) {
        truncated = true;
        break;
      }
      throw bad(i + 1, 'is not JSON');
    }
    if (!Array.isArray(ev) || typeof ev[0] !== 'number' || typeof ev[1] !== 'string' || typeof ev[2] !== 'string') {
      throw bad(i + 1, 'is not an event [time, type, data]');
    }
    events.push(ev as CastEvent);
  }
  return { header, events, truncated };
}

/** The terminal output of a recording, concatenated (what `asciinema cat` prints). */
export function castOutput(text: string): string {
  return readCast(text)
    .events.filter((e) => e[1] === 'o')
    .map((e) => e[2])
    .join('');
}
