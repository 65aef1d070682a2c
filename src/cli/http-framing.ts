/**
 * An incremental reader of HTTP/1.1 message framing, for a relay that only
 * watches the bytes it passes on: where each message's head and body end, and
 * whether the bytes seen so far stop at a place where the relay may speak
 * itself (between messages, or between chunks of a chunked body). It decodes
 * nothing it does not need and never buffers a body.
 */

export interface MessageHead {
  /** Request: method and target; response: status code. */
  method?: string;
  target?: string;
  status?: number;
  headers: Map<string, string>;
}

export interface FramingEvents {
  onHead(head: MessageHead): void;
  /** Body bytes (de-chunked). */
  onBody?(data: Buffer): void;
  onEnd(): void;
}

type State =
  | { at: 'head' }
  | { at: 'length'; left: number }
  | { at: 'chunk-size' }
  | { at: 'chunk-data'; left: number }
  | { at: 'chunk-crlf' }
  | { at: 'trailer' }
  | { at: 'until-close' }
  | { at: 'raw' };

export interface Framer {
  push(chunk: Buffer): void;
  /** True between messages or between two chunks: a whole message or chunk may be written next. */
  readonly atBoundary: boolean;
  /** True while inside a chunked body, between two chunks. */
  readonly betweenChunks: boolean;
  /** After a 101 or a CONNECT: the bytes are no longer HTTP. */
  readonly raw: boolean;
}

/** Max head size kept while waiting for its end; a longer one switches the framer off. */
const MAX_HEAD = 256 * 1024;

/**
 * `bodyless(head)` says when a message has no body whatever its headers say
 * (a response to HEAD, 1xx, 204, 304); `upgrades(head)` when the connection
 * stops being HTTP after it (101).
 */
export function createFramer(
  kind: 'request' | 'response',
  events: FramingEvents,
  opts: { bodyless?(head: MessageHead): boolean; upgrades?(head: MessageHead): boolean } = {},
): Framer {
  let state: State = { at: 'head' };
  let pending: Buffer = Buffer.alloc(0);

  const startBody = (head: MessageHead) => {
    events.onHead(head);
    if (opts.upgrades?.(head)) {
      state = { at: 'raw' };
      return;
    }
    const te = head.headers.get('transfer-encoding');
    const cl = head.headers.get('content-length');
    if (opts.bodyless?.(head)) state = { at: 'head' };
    else if (te && /chunked\s*$/i.test(te)) state = { at: 'chunk-size' };
    else if (cl !== undefined && /^\d+$/.test(cl.trim())) state = Number(cl) > 0 ? { at: 'length', left: Number(cl) } : { at: 'head' };
    // A request without a length has no body; a response without one runs to the close.
    else state = kind === 'request' ? { at: 'head' } : { at: 'until-close' };
    if (state.at === 'head') events.onEnd();
  };

  const line = (): string | undefined => {
    const i = pending.indexOf('\r\n');
    if (i < 0) return undefined;
    const text = pending.subarray(0, i).toString('latin1');
    pending = pending.subarray(i + 2);
    return text;
  };

  const push = (chunk: Buffer) => {
    if (state.at === 'raw' || state.at === 'until-close') {
      if (state.at === 'until-close') events.onBody?.(chunk);
      return;
    }
    pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
    for (;;) {
      switch (state.at) {
        case 'head': {
          // Tolerate the blank lines RFC 9112 allows before a request line.
          while (pending.length >= 2 && pending[0] === 0x0d && pending[1] === 0x0a) pending = pending.subarray(2);
          const end = pending.indexOf('\r\n\r\n');
          if (end < 0) {
            if (pending.length > MAX_HEAD) state = { at: 'raw' };
            return;
          }
          const head = parseHead(kind, pending.subarray(0, end).toString('latin1'));
          pending = pending.subarray(end + 4);
          startBody(head);
          break;
        }
        case 'length': {
          if (!pending.length) return;
          const take = Math.min(state.left, pending.length);
          events.onBody?.(pending.subarray(0, take));
          pending = pending.subarray(take);
          state.left -= take;
          if (state.left === 0) {
            state = { at: 'head' };
            events.onEnd();
          }
          break;
        }
        case 'chunk-size': {
          const l = line();
          if (l === undefined) return;
          const size = Number.parseInt(l.split(';')[0]!.trim(), 16);
          if (!Number.isFinite(size)) {
            state = { at: 'raw' };
            return;
          }
          state = size === 0 ? { at: 'trailer' } : { at: 'chunk-data', left: size };
          break;
        }
        case 'chunk-data': {
          if (!pending.length) return;
          const take = Math.min(state.left, pending.length);
          events.onBody?.(pending.subarray(0, take));
          pending = pending.subarray(take);
          state.left -= take;
          if (state.left === 0) state = { at: 'chunk-crlf' };
          break;
        }
        case 'chunk-crlf': {
          if (pending.length < 2) return;
          pending = pending.subarray(2);
          state = { at: 'chunk-size' };
          break;
        }
        case 'trailer': {
          const l = line();
          if (l === undefined) return;
          if (l === '') {
            state = { at: 'head' };
            events.onEnd();
          }
          break;
        }
        default:
          return;
      }
    }
  };

  return {
    push,
    get atBoundary() {
      return pending.length === 0 && (state.at === 'head' || state.at === 'chunk-size');
    },
    get betweenChunks() {
      return pending.length === 0 && state.at === 'chunk-size';
    },
    get raw() {
      return state.at === 'raw';
    },
  };
}

function parseHead(kind: 'request' | 'response', text: string): MessageHead {
  const [first = '', ...rest] = text.split('\r\n');
  const headers = new Map<string, string>();
  for (const l of rest) {
    const i = l.indexOf(':');
    if (i > 0) {
      const name = l.slice(0, i).trim().toLowerCase();
      const value = l.slice(i + 1).trim();
      headers.set(name, headers.has(name) ? `${headers.get(name)}, ${value}` : value);
    }
  }
  if (kind === 'request') {
    const [method, target] = first.split(' ');
    return { method, target, headers };
  }
  return { status: Number(first.split(' ')[1]), headers };
}
