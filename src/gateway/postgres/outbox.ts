/**
 * Collects the bytes of one processing pass and writes them in as few calls as
 * possible: consecutive frames that are adjacent views of the same received
 * chunk are merged back into one view, so unmodified traffic is written as it
 * arrived.
 */
import type { Duplex } from 'node:stream';

export class Outbox {
  private parts: Buffer[] = [];
  private runBuf: Buffer | undefined;
  private runStart = 0;
  private runEnd = 0;

  /** Adds `buf[start..end)` (a frame view). */
  addView(buf: Buffer, start: number, end: number): void {
    if (this.runBuf === buf && this.runEnd === start) {
      this.runEnd = end;
      return;
    }
    this.closeRun();
    this.runBuf = buf;
    this.runStart = start;
    this.runEnd = end;
  }

  add(bytes: Buffer): void {
    this.closeRun();
    this.parts.push(bytes);
  }

  get empty(): boolean {
    return this.parts.length === 0 && this.runBuf === undefined;
  }

  /** Writes everything; returns false when the socket asked to wait for 'drain'. */
  flush(socket: Duplex): boolean {
    this.closeRun();
    const parts = this.parts;
    if (parts.length === 0) return true;
    this.parts = [];
    if (parts.length === 1) return socket.write(parts[0]);
    socket.cork();
    let ok = true;
    for (const p of parts) ok = socket.write(p) && ok;
    socket.uncork();
    return ok;
  }

  private closeRun(): void {
    if (this.runBuf) {
      this.parts.push(this.runBuf.subarray(this.runStart, this.runEnd));
      this.runBuf = undefined;
    }
  }
}
