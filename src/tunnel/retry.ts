import { GateError } from '../errors.js';

export interface RetryOptions {
  /** Tries in all, the first included (default 4: waits of 1, 2 and 4 s). */
  attempts?: number;
  /** Wait before the second try; doubles each time up to maxMs (defaults 1 s and 8 s). */
  initialMs?: number;
  maxMs?: number;
  /** Told what gate does, as a line for stderr. */
  say(line: string): void;
  signal?: AbortSignal;
}

/** HTTP statuses a load balancer answers while a replica restarts: worth another try. */
const TRANSIENT_STATUS = new Set([502, 503, 504]);

/**
 * True for a failure to reach the server (refused, reset, timed out, a
 * balancer's 502/503/504), never for an answer that refuses the request
 * itself (401, 403, a denied or missing grant): retrying those changes nothing.
 */
export function isTransientServerError(err: unknown): boolean {
  if (!(err instanceof GateError)) return false;
  if (err.code === 'GATE_ERR_NETWORK' || err.code === 'GATE_ERR_TIMEOUT') return true;
  const status = (err.details as { status?: unknown } | undefined)?.status;
  return typeof status === 'number' && TRANSIENT_STATUS.has(status);
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    const t = setTimeout(done, ms);
    function done() {
      signal?.removeEventListener('abort', abort);
      resolve();
    }
    function abort() {
      clearTimeout(t);
      reject(new GateError('GATE_ERR_CANCELLED', 'Cancelled.'));
    }
    signal?.addEventListener('abort', abort, { once: true });
  });

/**
 * Runs an idempotent request against the server URL again, with back-off,
 * while the server cannot be reached (a replica restarting behind a load
 * balancer), saying so on each wait. Bounded: after `attempts` the last error
 * is thrown as is.
 */
export async function withServerRetry<T>(fn: () => Promise<T>, options: RetryOptions): Promise<T> {
  const attempts = options.attempts ?? 4;
  let wait = options.initialMs ?? 1000;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (attempt >= attempts || !isTransientServerError(err) || options.signal?.aborted) throw err;
      const seconds = `${Math.round(wait / 100) / 10}s`;
      options.say(`gate: server unreachable, retrying in ${seconds} (attempt ${attempt + 1}/${attempts})…`);
      await sleep(wait, options.signal);
      wait = Math.min(wait * 2, options.maxMs ?? 8000);
    }
  }
}
