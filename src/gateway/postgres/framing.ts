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

  constructor(private readonly maxLength: number) {}

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
    if (this.total < 5) return false;
    if (this.head.length - this.pos < 5) this.join(5);
    const head = this.head;
    const pos = this.pos;
    const length = head.readInt32BE(pos + 1);
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

  /** Body of the current frame (a view). */
  body(): Buffer {
    return this.buf.subarray(this.start + 5, this.end);
  }

  /** Whole current frame, header included (a view). */
  frame(): Buffer {
    return this.buf.subarray(this.start, this.end);
  }

  /** Makes at least `need` bytes contiguous in `head`. */
  private join(need: number): void {
    const parts = [this.head.subarray(this.pos)];
    let have = parts[0]!.length;
    while (have < need && this.rest.length > 0) {
      const c = this.rest.shift()!;
      parts.push(c);
      have += c.length;
    }
    this.head = Buffer.concat(parts, have);
    this.pos = 0;
  }
}
