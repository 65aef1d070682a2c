/**
 * The frame codec of `gate-tunnel/2`. Every frame is a 5-byte header (type,
 * then the payload length as a big-endian uint32) and its payload:
 *
 * | type | name | payload |
 * | --- | --- | --- |
 * | 0 | data | bytes of the target protocol, as one chunk the sender wrote |
 * | 1 | ping | none: the receiver answers with a pong |
 * | 2 | pong | none |
 * | 3 | end  | none: the sender will send no more data (a half-close that keeps pings flowing) |
 *
 * A frame of another type is skipped, payload and all, so a later version can
 * add one without breaking this one. The decoder hands data payloads on as
 * slices of the chunks it was given (no copy); only a header split across
 * chunks is copied, five bytes at most.
 */
export const FrameType = { data: 0, ping: 1, pong: 2, end: 3 } as const;
export type FrameType = (typeof FrameType)[keyof typeof FrameType];

export const HEADER_BYTES = 5;

/** The header of a frame with `length` payload bytes. */
export function frameHeader(type: FrameType, length = 0): Buffer {
  const h = Buffer.allocUnsafe(HEADER_BYTES);
  h[0] = type;
  h.writeUInt32BE(length, 1);
  return h;
}

/**
 * Chunks up to this many bytes in all are copied behind their header into one
 * buffer and written with one write; larger ones go out as header and chunk,
 * uncopied. A copy of a few KiB costs far less than what a second buffer
 * costs the socket (cork, writev, its request object).
 */
export const COPY_MAX_BYTES = 16 * 1024;

/** One data frame carrying `chunks` back to back, as one buffer (`total` is their length). */
export function encodeData(chunks: Buffer | readonly Buffer[], total?: number): Buffer {
  const list = Buffer.isBuffer(chunks) ? [chunks] : chunks;
  const length = total ?? list.reduce((n, c) => n + c.length, 0);
  const out = Buffer.allocUnsafe(HEADER_BYTES + length);
  out[0] = FrameType.data;
  out.writeUInt32BE(length, 1);
  let at = HEADER_BYTES;
  for (const c of list) at += c.copy(out, at);
  return out;
}

export interface FrameSink {
  /** A slice of a data frame's payload (a frame may arrive in several slices). */
  data(slice: Buffer): void;
  /** A complete control frame (ping, pong, end). */
  control(type: FrameType): void;
}

/** Incremental decoder: feed it the stream's chunks as they come, split or merged anyhow. */
export class FrameDecoder {
  #header = Buffer.alloc(HEADER_BYTES);
  #have = 0;
  #type = -1;
  /** Payload bytes of the current frame still to come. */
  #left = 0;

  constructor(private readonly sink: FrameSink) {}

  feed(chunk: Buffer): void {
    let i = 0;
    const n = chunk.length;
    while (i < n) {
      if (this.#left > 0) {
        const take = Math.min(this.#left, n - i);
        if (this.#type === FrameType.data) this.sink.data(take === n && i === 0 ? chunk : chunk.subarray(i, i + take));
        i += take;
        this.#left -= take;
        if (this.#left === 0) this.#type = -1;
        continue;
      }
      let type: number;
      let length: number;
      if (this.#have === 0 && n - i >= HEADER_BYTES) {
        type = chunk[i]!;
        length = chunk.readUInt32BE(i + 1);
        i += HEADER_BYTES;
      } else {
        const take = Math.min(HEADER_BYTES - this.#have, n - i);
        chunk.copy(this.#header, this.#have, i, i + take);
        this.#have += take;
        i += take;
        if (this.#have < HEADER_BYTES) return;
        this.#have = 0;
        type = this.#header[0]!;
        length = this.#header.readUInt32BE(1);
      }
      if (type !== FrameType.data && length === 0) {
        if (type === FrameType.ping || type === FrameType.pong || type === FrameType.end) this.sink.control(type);
        continue;
      }
      // A data frame's payload, or an unknown frame's, which is skipped.
      this.#type = type;
      this.#left = length;
    }
  }
}
