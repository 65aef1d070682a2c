import type { Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { COPY_MAX_BYTES, encodeData, FrameDecoder, FrameType, frameHeader, HEADER_BYTES } from './frames.js';
import { type HeartbeatSettings, LinkLostError } from './heartbeat.js';

const PING = frameHeader(FrameType.ping);
const PONG = frameHeader(FrameType.pong);
const END = frameHeader(FrameType.end);

export interface FramedStreamOptions {
  /** Bytes that came with the upgrade, before the socket's first chunk. */
  head?: Buffer;
  /** Ping every interval; give up after the timeout without any frame. Undefined: answer pings, never send one. */
  heartbeat?: HeartbeatSettings;
  /** Who the other side is, for the message: "gate server", "gate client". */
  peer: string;
  /** Told first when the link is lost (before the stream is destroyed with the LinkLostError). */
  onLinkLost?(err: LinkLostError): void;
}

/**
 * The target protocol's byte stream over a `gate-tunnel/2` socket: what is
 * written goes out as data frames (a small chunk, or a small corked batch, as
 * one frame in one buffer; a large chunk as its header and itself,
 * uncopied), what arrives is the data frames' payloads, and ping, pong and
 * end frames travel beside them. Looks enough like a net.Socket
 * (setTimeout, setNoDelay, setKeepAlive, bytesRead, remoteAddress) for the
 * code that was given one before: protocol handlers, node:http, pg.
 *
 * The heartbeat does not judge the link while this side cannot hear or be
 * heard for a reason of its own: its reader is not reading (a pager holding
 * psql's output pauses the whole path, pongs included), or its writes wait
 * in a full send buffer (the peer is slow to read). The peer, which is not
 * blocked, notices a cut in that case.
 */
export class FramedStream extends Duplex {
  readonly raw: Socket;
  readonly #decoder: FrameDecoder;
  readonly #options: FramedStreamOptions;
  #rawPaused = false;
  #sentEnd = false;
  #gotEnd = false;
  #pendingWrite: ((err?: Error | null) => void) | undefined;
  #lastHeard = Date.now();
  #lastData = Date.now();
  #pinger: NodeJS.Timeout | undefined;
  #checker: NodeJS.Timeout | undefined;
  #idleMs = 0;
  #idleTimer: NodeJS.Timeout | undefined;
  /** Payload bytes received (data frames only), as net.Socket's bytesRead for v1. */
  bytesRead = 0;

  constructor(raw: Socket, options: FramedStreamOptions) {
    super({ allowHalfOpen: true, autoDestroy: false });
    this.raw = raw;
    this.#options = options;
    this.#decoder = new FrameDecoder({
      data: (slice) => {
        this.bytesRead += slice.length;
        this.#lastData = Date.now();
        if (!this.push(slice) && !this.#rawPaused) {
          this.#rawPaused = true;
          raw.pause();
        }
      },
      control: (type) => {
        if (type === FrameType.ping) {
          if (!raw.destroyed && raw.writable) raw.write(PONG);
        } else if (type === FrameType.end) {
          this.#gotEnd = true;
          this.push(null);
          this.#maybeEndRaw();
        }
      },
    });
    if (options.head && options.head.length > 0) this.#feed(options.head);
    raw.on('data', (chunk: Buffer) => this.#feed(chunk));
    // The socket ended without an end frame: the peer went away (killed, or its socket closed); as v1, an end.
    raw.on('end', () => {
      if (!this.#gotEnd) {
        this.#gotEnd = true;
        this.push(null);
      }
    });
    raw.on('drain', () => {
      const cb = this.#pendingWrite;
      this.#pendingWrite = undefined;
      cb?.();
    });
    raw.on('error', (err) => this.destroy(err));
    raw.on('close', () => {
      if (!this.destroyed) this.destroy();
    });
    if (options.heartbeat) this.#startHeartbeat(options.heartbeat);
  }

  #feed(chunk: Buffer): void {
    this.#lastHeard = Date.now();
    this.#decoder.feed(chunk);
  }

  #startHeartbeat(hb: HeartbeatSettings): void {
    this.#pinger = setInterval(() => {
      if (!this.raw.destroyed && this.raw.writable) this.raw.write(PING);
    }, hb.intervalMs);
    this.#pinger.unref();
    const check = () => {
      const now = Date.now();
      // Not heard because this side does not listen, or cannot be heard because its writes wait: not the link's fault.
      if (this.#rawPaused || this.raw.writableLength > 0) this.#lastHeard = now;
      const due = this.#lastHeard + hb.timeoutMs;
      if (now >= due) {
        const err = new LinkLostError(hb.timeoutMs, this.#options.peer);
        this.#options.onLinkLost?.(err);
        this.destroy(err);
        return;
      }
      this.#checker = setTimeout(check, Math.min(due - now, hb.intervalMs));
      this.#checker.unref();
    };
    this.#checker = setTimeout(check, hb.intervalMs);
    this.#checker.unref();
  }

  #maybeEndRaw(): void {
    if (this.#sentEnd && this.#gotEnd && !this.raw.writableEnded) this.raw.end();
  }

  override _read(): void {
    if (this.#rawPaused) {
      this.#rawPaused = false;
      this.raw.resume();
    }
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.#lastData = Date.now();
    if (chunk.length === 0) {
      cb();
      return;
    }
    if (chunk.length <= COPY_MAX_BYTES) {
      this.#sent(this.raw.write(encodeData(chunk, chunk.length)), cb);
      return;
    }
    this.raw.cork();
    this.raw.write(frameHeader(FrameType.data, chunk.length));
    const ok = this.raw.write(chunk);
    this.raw.uncork();
    this.#sent(ok, cb);
  }

  override _writev(chunks: { chunk: Buffer }[], cb: (err?: Error | null) => void): void {
    this.#lastData = Date.now();
    const list = chunks.map((c) => c.chunk);
    const total = list.reduce((n, c) => n + c.length, 0);
    // A small batch (what a corked writer queued) is one frame in one write.
    if (total <= COPY_MAX_BYTES) {
      if (total === 0) cb();
      else this.#sent(this.raw.write(encodeData(list, total)), cb);
      return;
    }
    // A large one: one header slab for the batch; each chunk goes out as it is.
    const headers = Buffer.allocUnsafe(HEADER_BYTES * list.length);
    this.raw.cork();
    let ok = true;
    list.forEach((chunk, i) => {
      if (chunk.length === 0) return;
      const h = headers.subarray(i * HEADER_BYTES, (i + 1) * HEADER_BYTES);
      h[0] = FrameType.data;
      h.writeUInt32BE(chunk.length, 1);
      this.raw.write(h);
      ok = this.raw.write(chunk);
    });
    this.raw.uncork();
    this.#sent(ok, cb);
  }

  /** A write is done when the socket took it; otherwise at its 'drain'. */
  #sent(ok: boolean, cb: (err?: Error | null) => void): void {
    if (ok) cb();
    else this.#pendingWrite = cb;
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.#sentEnd = true;
    if (!this.raw.destroyed && this.raw.writable) this.raw.write(END);
    this.#maybeEndRaw();
    cb();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    clearInterval(this.#pinger);
    clearTimeout(this.#checker);
    clearTimeout(this.#idleTimer);
    const pending = this.#pendingWrite;
    this.#pendingWrite = undefined;
    pending?.(err ?? undefined);
    this.raw.destroy();
    cb(err);
  }

  /** As net.Socket's: 'timeout' after `ms` without a data byte either way (pings do not count). 0 turns it off. */
  setTimeout(ms: number, cb?: () => void): this {
    clearTimeout(this.#idleTimer);
    this.#idleMs = ms;
    if (cb) {
      if (ms === 0) this.off('timeout', cb);
      else this.once('timeout', cb);
    }
    if (ms > 0) {
      this.#lastData = Date.now();
      const check = () => {
        const due = this.#lastData + this.#idleMs;
        const now = Date.now();
        if (now >= due) {
          this.emit('timeout');
          return;
        }
        this.#idleTimer = setTimeout(check, due - now);
        this.#idleTimer.unref();
      };
      this.#idleTimer = setTimeout(check, ms);
      this.#idleTimer.unref();
    }
    return this;
  }

  setNoDelay(noDelay?: boolean): this {
    this.raw.setNoDelay(noDelay);
    return this;
  }

  setKeepAlive(enable?: boolean, delay?: number): this {
    this.raw.setKeepAlive(enable, delay);
    return this;
  }

  ref(): this {
    this.raw.ref();
    return this;
  }

  unref(): this {
    this.raw.unref();
    return this;
  }

  get remoteAddress(): string | undefined {
    return this.raw.remoteAddress;
  }

  get remotePort(): number | undefined {
    return this.raw.remotePort;
  }
}
