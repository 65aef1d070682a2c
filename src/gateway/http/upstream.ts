import { createHash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { Pool } from 'undici';
import type { HttpTarget } from '../../config/http-target.js';
import { addHeader, connectionTokens, HOP_BY_HOP, isForwardingHeader } from '../proxy-headers.js';
import type { GatewayContext } from '../types.js';

/**
 * The upstream API for one tunnel: a keep-alive undici Pool shared by every
 * tunnel of the same target and role (curl opens a tunnel per run; the pool
 * spares each one a TLS handshake), the base path, and the role's
 * credential headers, resolved from secret references once per tunnel.
 */
export interface HttpUpstream {
  pool: Pool;
  /** The address's own path, without a trailing `/` ('' for none). */
  prefix: string;
  /** `host[:port]` sent as Host. */
  host: string;
  /** Lower-cased header names → values: the role's credential. Never log or echo these. */
  credential: Record<string, string>;
  /** `https://host:port` for messages (no path, no credential). */
  display: string;
}

/** A failure to set up the upstream, told to the client without any secret. */
export class HttpSetupError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
    this.name = 'HttpSetupError';
  }
}

const pools = new Map<string, Pool>();

/** One pool per target, role and TLS settings; a config reload with other settings gets a new one. */
function poolFor(targetName: string, role: string, origin: string, ca: string | undefined, insecure: boolean): Pool {
  const key = [targetName, role, origin, ca ? createHash('sha256').update(ca).digest('hex') : '', String(insecure)].join('\0');
  let pool = pools.get(key);
  if (!pool) {
    pool = new Pool(origin, {
      connections: 32,
      connect: { ...(ca ? { ca } : {}), rejectUnauthorized: !insecure, timeout: 10_000 },
      // Downloads and event streams may be idle for long stretches once started.
      headersTimeout: 60_000,
      bodyTimeout: 0,
      keepAliveTimeout: 30_000,
    });
    pools.set(key, pool);
  }
  return pool;
}

/** Closes every pool (server shutdown, tests). */
export async function closeHttpPools(): Promise<void> {
  const all = [...pools.values()];
  pools.clear();
  await Promise.all(all.map((p) => p.close().catch(() => {})));
}

export async function createHttpUpstream(ctx: GatewayContext<HttpTarget>): Promise<HttpUpstream> {
  const base = new URL(ctx.target.address);
  const role = ctx.target.roles[ctx.grant.role];
  if (!role) {
    throw new HttpSetupError(`gate: role "${ctx.grant.role}" is not defined on target "${ctx.targetName}"; ask an admin to check gate.yaml.`, 500);
  }
  const load = async (ref: string) => {
    try {
      return (await ctx.secret(ref)).trim();
    } catch {
      throw new HttpSetupError(
        `gate: the server could not load the credential for role "${ctx.grant.role}" on target "${ctx.targetName}"; ask an admin to check the server's secrets.`,
        500,
      );
    }
  };
  const credential: Record<string, string> = {};
  if ('bearer' in role) credential.authorization = `Bearer ${await load(role.bearer)}`;
  else if ('basic' in role) {
    credential.authorization = `Basic ${Buffer.from(`${role.basic.username}:${await load(role.basic.password)}`, 'utf8').toString('base64')}`;
  } else {
    for (const [name, ref] of Object.entries(role.headers)) credential[name.toLowerCase()] = await load(ref);
  }
  const ca = ctx.target.tls.ca && base.protocol === 'https:' ? await load(ctx.target.tls.ca) : undefined;
  const pool = poolFor(ctx.targetName, ctx.grant.role, base.origin, ca, ctx.target.tls.insecure_skip_verify);
  return { pool, prefix: base.pathname.replace(/\/+$/, ''), host: base.host, credential, display: base.origin };
}

/** Besides the hop-by-hop ones: headers undici sets itself. */
const UNDICI_SETS = new Set(['expect', 'host']);

/**
 * The request headers sent upstream: the client's, minus hop-by-hop,
 * forwarding, the configured `strip_headers` (Authorization and Cookie by
 * default) and any header the role's credential sets; then the credential
 * and Host. `identity` encoding is asked for when the response is masked.
 */
export function upstreamRequestHeaders(
  rawHeaders: string[],
  headers: IncomingHttpHeaders,
  up: HttpUpstream,
  strip: readonly string[],
  options: { identity: boolean },
): Record<string, string | string[]> {
  const listed = connectionTokens(headers.connection);
  const out: Record<string, string | string[]> = {};
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const lower = rawHeaders[i]!.toLowerCase();
    if (HOP_BY_HOP.has(lower) || UNDICI_SETS.has(lower) || listed.has(lower) || isForwardingHeader(lower)) continue;
    if (strip.includes(lower) || lower in up.credential) continue;
    if (options.identity && lower === 'accept-encoding') continue;
    addHeader(out, lower, rawHeaders[i + 1]!);
  }
  if (options.identity) out['accept-encoding'] = 'identity';
  out.host = up.host;
  Object.assign(out, up.credential);
  return out;
}

/** Response headers relayed to the client: hop-by-hop removed (Node frames the body itself). */
export function downstreamHeaders(headers: IncomingHttpHeaders, drop: readonly string[] = []): Record<string, string | string[]> {
  const listed = connectionTokens(headers.connection);
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    const lower = name.toLowerCase();
    if (value === undefined || HOP_BY_HOP.has(lower) || UNDICI_SETS.has(lower) || listed.has(lower) || drop.includes(lower)) continue;
    out[lower] = value;
  }
  return out;
}

const TLS_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** A readable 502/503/504 for a failure to reach the upstream, naming the target (never a credential). */
export function describeHttpUpstreamError(err: unknown, targetName: string, up: Pick<HttpUpstream, 'display'> | undefined): { status: number; message: string } {
  const e = err as NodeJS.ErrnoException & { cause?: NodeJS.ErrnoException };
  const code = e?.code === 'UND_ERR_SOCKET' || e?.code === 'UND_ERR_CONNECT' ? (e.cause?.code ?? e.code) : (e?.code ?? '');
  const where = `the API of target "${targetName}"${up ? ` (${up.display})` : ''}`;
  if (TLS_CODES.has(code) || code.startsWith('ERR_TLS') || code.startsWith('ERR_SSL')) {
    return { status: 502, message: `gate: TLS verification of ${where} failed (${code}); check the target's tls.ca in gate.yaml.` };
  }
  if (code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_CONNECT_TIMEOUT' || code === 'ETIMEDOUT') {
    return { status: 504, message: `gate: ${where} did not answer in time.` };
  }
  const why: Record<string, string> = {
    ECONNREFUSED: 'connection refused',
    ENOTFOUND: 'host not found',
    EAI_AGAIN: 'host name lookup failed',
    ECONNRESET: 'connection reset',
    EHOSTUNREACH: 'host unreachable',
    ENETUNREACH: 'network unreachable',
    UND_ERR_SOCKET: 'connection closed',
  };
  return { status: 503, message: `gate: cannot reach ${where}: ${why[code] ?? (code || 'connection failed')}.` };
}
