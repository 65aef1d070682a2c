import { GateError } from '../errors.js';

/** How often each side of a `gate-tunnel/2` tunnel pings, and how long it waits for any frame before it gives up. */
export interface HeartbeatSettings {
  intervalMs: number;
  timeoutMs: number;
}

export const DEFAULT_HEARTBEAT: HeartbeatSettings = { intervalMs: 5_000, timeoutMs: 15_000 };

const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m)?$/;

function parse(name: string, text: string): number {
  const m = DURATION.exec(text.trim());
  if (!m) throw new GateError('GATE_ERR_USAGE', `${name} must be a duration such as 5s, 500ms or 1m, not ${JSON.stringify(text)}.`);
  const n = Number(m[1]);
  return Math.round(m[2] === 'ms' ? n : m[2] === 'm' ? n * 60_000 : n * 1_000);
}

/**
 * The heartbeat from GATE_TUNNEL_PING_INTERVAL and GATE_TUNNEL_PING_TIMEOUT
 * (`5s`, `500ms`, `1m`; a bare number is seconds). An interval of 0 turns it
 * off: undefined, and the tunnel speaks `gate-tunnel/1`. Throws a usage
 * error naming the variable for a value that is not a duration, or a
 * timeout not longer than the interval (every wait would end in a cut).
 */
export function heartbeatFrom(interval: string | undefined, timeout: string | undefined): HeartbeatSettings | undefined {
  const intervalMs = interval ? parse('GATE_TUNNEL_PING_INTERVAL', interval) : DEFAULT_HEARTBEAT.intervalMs;
  if (intervalMs === 0) return undefined;
  const timeoutMs = timeout ? parse('GATE_TUNNEL_PING_TIMEOUT', timeout) : Math.max(DEFAULT_HEARTBEAT.timeoutMs, intervalMs * 3);
  if (timeoutMs <= intervalMs) {
    throw new GateError(
      'GATE_ERR_USAGE',
      `GATE_TUNNEL_PING_TIMEOUT (${timeout}) must be longer than GATE_TUNNEL_PING_INTERVAL (${interval ?? '5s'}); three intervals is a good value.`,
    );
  }
  return { intervalMs, timeoutMs };
}

/** "15 s", "2.5 s": how the timeout reads in messages. */
export const secondsText = (ms: number) => `${Math.round(ms / 100) / 10} s`;

/** The peer of a `gate-tunnel/2` tunnel sent nothing, not even a pong, for the timeout. */
export class LinkLostError extends GateError {
  readonly timeoutMs: number;
  constructor(timeoutMs: number, peer: string) {
    super('GATE_ERR_NETWORK', `lost the ${peer}: no answer for ${secondsText(timeoutMs)}`, {
      hint: 'The network between this machine and the gate server stopped carrying packets; check it (VPN, Wi-Fi, a proxy), then connect again.',
      details: { reason: 'link_lost', timeout_ms: timeoutMs },
    });
    this.name = 'LinkLostError';
    this.timeoutMs = timeoutMs;
  }
}

export const isLinkLost = (err: unknown): err is LinkLostError => err instanceof LinkLostError;
