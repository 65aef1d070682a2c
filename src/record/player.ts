import type { Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { CancelledError } from '../errors.js';
import { readCast } from './asciicast.js';

export interface PlayOptions {
  /** 2 plays twice as fast. Default 1. */
  speed?: number;
  /** Longest pause, in seconds of recording time, between two events (before speed scaling). */
  idleLimit?: number;
  /** Aborting stops playback with a CancelledError. */
  signal?: AbortSignal;
}

/**
 * Plays a recording's output events to `out` with their original timing,
 * scaled by `speed`, with idle gaps capped at `idleLimit`. Input and resize
 * events are not written (they are not part of what the terminal showed).
 */
export async function playCast(text: string, out: Writable, options: PlayOptions = {}): Promise<void> {
  const speed = options.speed ?? 1;
  if (!(speed > 0)) throw new RangeError(`speed must be positive, got ${speed}`);
  const { idleLimit, signal } = options;
  const { events } = readCast(text);
  const start = performance.now();
  let prev = 0;
  let at = 0; // recording seconds after idle capping
  for (const [time, type, data] of events) {
    if (signal?.aborted) throw new CancelledError('Playback stopped.');
    let gap = Math.max(0, time - prev);
    prev = time;
    if (idleLimit !== undefined) gap = Math.min(gap, idleLimit);
    at += gap;
    if (type !== 'o') continue;
    // Sleep until the event's wall time (not for each gap) so timing does not drift.
    const wait = start + (at * 1000) / speed - performance.now();
    if (wait > 1) {
      try {
        await sleep(wait, undefined, { signal });
      } catch {
        throw new CancelledError('Playback stopped.');
      }
    }
    if (!out.write(data)) await new Promise((resolve) => out.once('drain', resolve));
  }
}
