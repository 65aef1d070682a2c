import { isIPv4 } from 'node:net';
import { UsageError } from '../errors.js';

/**
 * Whether a host name only ever means this machine: `localhost` (and
 * `*.localhost`, RFC 6761), 127.0.0.0/8 and ::1. Plain HTTP to those never
 * crosses a network.
 */
export function isLoopbackHost(hostname: string): boolean {
  const h = hostname.toLowerCase().replace(/^\[|\]$/g, '');
  if (h === 'localhost' || h.endsWith('.localhost')) return true;
  if (h === '::1' || h === '0:0:0:0:0:0:0:1') return true;
  if (isIPv4(h)) return h.startsWith('127.');
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(h);
  return Boolean(mapped && mapped[1]!.startsWith('127.'));
}

/**
 * Refuses a plain-HTTP server URL for a host that is not loopback: the
 * device code, gate tokens and tunnel traffic would cross the network in
 * the clear, readable and replayable by anyone on the path. `insecure`
 * (`--insecure` or GATE_INSECURE_HTTP) lets it through; `warn` then says so.
 */
export function checkServerTransport(server: string, insecure: boolean, warn: (message: string) => void): void {
  const url = new URL(server);
  if (url.protocol !== 'http:' || isLoopbackHost(url.hostname)) return;
  if (!insecure) {
    throw new UsageError(
      `Refusing to use the gate server ${server} over plain http://: tokens and tunnel traffic would cross the network unencrypted.`,
      { hint: 'Use https://, or pass --insecure (or set GATE_INSECURE_HTTP=1) if you accept that risk.' },
    );
  }
  warn(`gate: warning: using ${server} over plain http:// (--insecure): tokens and tunnel traffic cross the network unencrypted.`);
}
