import type { IncomingHttpHeaders } from 'node:http';

/**
 * Header rules every HTTP-speaking gateway (Kubernetes, HTTP APIs) applies the
 * same way as a proxy: hop-by-hop headers (RFC 9110 §7.6.1) and those the
 * client's `Connection` lists stay on their hop, and headers naming the
 * client or a proxy chain never reach the upstream.
 */
export const HOP_BY_HOP: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'proxy-authenticate',
  'proxy-authorization',
]);

/** The header names a `Connection` header lists, lower-cased. */
export function connectionTokens(value: IncomingHttpHeaders['connection'] | string[]): Set<string> {
  const joined = Array.isArray(value) ? value.join(',') : (value ?? '');
  return new Set(
    joined
      .split(',')
      .map((s) => s.trim().toLowerCase())
      .filter((s) => s !== ''),
  );
}

/** `Forwarded`, `X-Real-IP`, `X-Forwarded-*`: the upstream hears only the gateway. */
export function isForwardingHeader(lower: string): boolean {
  return lower === 'forwarded' || lower === 'x-real-ip' || lower.startsWith('x-forwarded-');
}

/** Adds one raw header to `out`, keeping repeated ones as an array in order. */
export function addHeader(out: Record<string, string | string[]>, name: string, value: string): void {
  const prev = out[name];
  out[name] = prev === undefined ? value : Array.isArray(prev) ? [...prev, value] : [prev, value];
}

/** Every value of header `lower` in Node's raw name/value list. */
export function rawHeaderValues(rawHeaders: readonly string[], lower: string): string[] {
  const values: string[] = [];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) if (rawHeaders[i]!.toLowerCase() === lower) values.push(rawHeaders[i + 1]!);
  return values;
}
