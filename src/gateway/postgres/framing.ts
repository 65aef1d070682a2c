/**
 * Incremental framing of PostgreSQL protocol messages (type byte + int32
 * length). Frames are views into the received chunks: nothing is copied unless a
 * message spans chunks, and then the pieces are joined once, so a large message
 * arriving in many chunks costs O(size), not O(size²).
 */

/** A peer sent bytes that are not a valid protocol stream. */
export class ProtocolError extends Error {
  override name = 'ProtocolError';
}

/** Upper bound for one message from the upstream server (the server's own cap is 1 GiB). */
export const MAX_BACKEND_MESSAGE = 0x4000_0000 + 64;
/** Upper bound for one message from a client: generous for big COPY rows and statements. */
export const MAX_FRONTEND_MESSAGE = 64 * 1024 * 1024;

export class FrameReader {
  /** The current frame after `next()` returned true: `buf[start..end)` is the whole message. */
  type = 0;
  buf: Buffer = Buffer.alloc(0);
  start = 0;
  end = 0;

  private head: Buffer = Buffer.alloc(0);
  private pos = 0;
  private rest: Buffer[] = [];
  private total = 0;
  /** Bytes of an oversized message still to discard. */
  private skipping = 0;
  /** Set (to the message's size) when the current "frame" is an oversized message that was discarded. */
  oversized = 0;

  /**
   * @param skipOversized discard a message over `maxLength` and report it as an
   *   empty frame with `oversized` set, instead of throwing (so the relay can
   *   answer with an error and go on).
   */
  constructor(
    private readonly maxLength: number,
    private readonly skipOversized = false,
  ) {}

  /** The limit this reader enforces. */
  get limit(): number {
    return this.maxLength;
  }

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    if (this.pos >= this.head.length && this.rest.length === 0) {
      this.head = chunk;
      this.pos = 0;
    } else {
      this.rest.push(chunk);
    }
    this.total += chunk.length;
  }

  /** Bytes received but not yet returned as frames. */
  get pending(): number {
    return this.total;
  }

  /** Takes whatever is buffered (used when handing the stream to another reader). */
  drain(): Buffer {
    const out = Buffer.concat([this.head.subarray(this.pos), ...this.rest]);
    this.head = Buffer.alloc(0);
    this.pos = 0;
    this.rest = [];
    this.total = 0;
    return out;
  }

  /** Advances to the next complete message; false when more bytes are needed. */
  next(): boolean {
    this.oversized = 0;
    if (this.skipping > 0 && !this.skip()) return false;
    if (this.total < 5) return false;
    if (this.head.length - this.pos < 5) this.join(5);
    const head = this.head;
    const pos = this.pos;
    const length = head.readInt32BE(pos + 1);
    if (length > this.maxLength && this.skipOversized && length <= 0x7fff_ffff - 1) {
      // Reported at once (the client may wait for an answer before sending the
      // rest); its bytes are discarded as they arrive.
      this.type = head[pos]!;
      this.oversized = length + 1;
      this.skipping = length + 1;
      this.buf = Buffer.alloc(0);
      this.start = 0;
      this.end = 0;
      this.skip();
      return true;
    }
    if (length < 4 || length > this.maxLength) {
      throw new ProtocolError(`invalid message length ${length} for message type 0x${head[pos]!.toString(16)}`);
    }
    const size = length + 1;
    if (this.total < size) return false;
    if (head.length - pos < size) this.join(size);
    this.type = this.head[this.pos]!;
    this.buf = this.head;
    this.start = this.pos;
    this.end = this.pos + size;
    this.pos += size;
    this.total -= size;
    return true;
  }

  /** Discards what has arrived of an oversized message; true once all of it is gone. */
  private skip(): boolean {
    while (this.skipping > 0 && this.total > 0) {
      const avail = this.head.length - this.pos;
      if (avail === 0) {
        this.head = this.rest.shift()!;
        this.pos = 0;
        continue;
      }
      const n = Math.min(avail, this.skipping);
      this.pos += n;
      this.total -= n;
      this.skipping -= n;
    }
    if (this.pos >= this.head.length && this.rest.length > 0) {
      this.head = this.rest.shift()!;
      this.pos = 0;
    }
    return this.skipping === 0;
  }

  /** Body of the current frame (a view). */
  body(): Buffer {
    if (this.oversized) return Buffer.alloc(0);
    return this.buf.subarray(this.start + 5, this.end);
  }

  /** Whole current frame, header included (a view). */
  frame(): Buffer {
    return this.buf.subarray(this.start, this.end);
  }

  /**
   * Makes at least `need` bytes contiguous in `head`. Only the bytes of the
   * frame that spans chunks are copied: an exhausted head gives way to the next
   * chunk as it is, and the part of a chunk past `need` stays a view (so each
   * byte of a long result is copied at most once, at a chunk boundary, not
   * with the whole chunk it arrived in).
   */
  private join(need: number): void {
    while (this.pos >= this.head.length && this.rest.length > 0) {
      this.head = this.rest.shift()!;
      this.pos = 0;
    }
    if (this.head.length - this.pos >= need) return;
    const parts = [this.head.subarray(this.pos)];
    let have = parts[0]!.length;
    while (have < need && this.rest.length > 0) {
      const c = this.rest.shift()!;
      const take = need - have;
      if (c.length > take) {
        parts.push(c.subarray(0, take));
        this.rest.unshift(c.subarray(take));
        have += take;
      } else {
        parts.push(c);
        have += c.length;
      }
    }
    this.head = Buffer.concat(parts, have);
    this.pos = 0;
  }
}
