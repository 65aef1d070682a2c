/**
 * Awaitable reads for the handshake phase (startup, SSL negotiation, login),
 * before the relay takes the socket over with plain 'data' listeners.
 */
import type { Duplex } from 'node:stream';
import { ProtocolError } from './framing.js';

export class SocketReader {
  private chunks: Buffer[] = [];
  private size = 0;
  private waiter: (() => void) | undefined;
  private ended: Error | undefined;
  private readonly onData = (chunk: Buffer) => {
    this.chunks.push(chunk);
    this.size += chunk.length;
    this.wake();
  };
  private readonly onEnd = () => {
    this.ended ??= new ProtocolError('connection closed');
    this.wake();
  };
  private readonly onError = (err: Error) => {
    this.ended ??= err;
    this.wake();
  };

  constructor(private readonly socket: Duplex) {
    socket.on('data', this.onData);
    socket.on('end', this.onEnd);
    socket.on('close', this.onEnd);
    socket.on('error', this.onError);
  }

  /** Stops listening and returns any bytes read ahead. The socket is left paused. */
  detach(): Buffer {
    this.socket.off('data', this.onData);
    this.socket.off('end', this.onEnd);
    this.socket.off('close', this.onEnd);
    this.socket.off('error', this.onError);
    this.socket.pause();
    const rest = Buffer.concat(this.chunks, this.size);
    this.chunks = [];
    this.size = 0;
    return rest;
  }

  get buffered(): number {
    return this.size;
  }

  async read(n: number): Promise<Buffer> {
    while (this.size < n) {
      if (this.ended) throw this.ended;
      await new Promise<void>((resolve) => {
        this.waiter = resolve;
      });
    }
    const all = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.size);
    const out = all.subarray(0, n);
    const rest = all.subarray(n);
    this.chunks = rest.length > 0 ? [rest] : [];
    this.size = rest.length;
    return out;
  }

  /** An untyped (startup-phase) packet: int32 length then body. Returns the body. */
  async readUntyped(max: number): Promise<Buffer> {
    const len = (await this.read(4)).readInt32BE(0);
    if (len < 8 || len > max) throw new ProtocolError(`invalid startup packet length ${len}`);
    return this.read(len - 4);
  }

  /** A typed message: returns its type byte and body. */
  async readTyped(max: number): Promise<{ type: number; body: Buffer }> {
    const header = await this.read(5);
    const type = header[0]!;
    const len = header.readInt32BE(1);
    if (len < 4 || len > max) throw new ProtocolError(`invalid message length ${len}`);
    return { type, body: await this.read(len - 4) };
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = undefined;
    w?.();
  }
}
