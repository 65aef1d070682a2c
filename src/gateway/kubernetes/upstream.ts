import { Agent as HttpAgent, type ClientRequest, type IncomingHttpHeaders, request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { KubernetesTarget } from '../../config/schema.js';
import { joinUnderPrefix } from '../path/canonical.js';
import { addHeader, connectionTokens, HOP_BY_HOP, isForwardingHeader, rawHeaderValues } from '../proxy-headers.js';
import type { GatewayContext } from '../types.js';

/**
 * The connection to one target's API server for one tunnel: where it is,
 * the keep-alive agent carrying the TLS settings (CA, client certificate),
 * and the bearer header, all resolved from secret references once.
 */
export interface Upstream {
  base: URL;
  agent: HttpAgent;
  /** `Bearer …` for token roles. Never log or echo this. */
  authorization: string | undefined;
  /** `https://host:port` for messages (no credentials, no path secrets). */
  display: string;
}

/** A failure to set up the upstream that the client should see as a Status (never with a secret in it). */
export class UpstreamSetupError extends Error {
  constructor(
    message: string,
    readonly code: number,
  ) {
    super(message);
    this.name = 'UpstreamSetupError';
  }
}

/** Resolves the role's credential and the CA, and builds a keep-alive agent for this tunnel. */
export async function createUpstream(ctx: GatewayContext<KubernetesTarget>): Promise<Upstream> {
  const base = new URL(ctx.target.address);
  const display = base.origin;
  const role = ctx.target.roles[ctx.grant.role];
  if (!role) {
    throw new UpstreamSetupError(
      `gate: role "${ctx.grant.role}" is not defined on target "${ctx.targetName}"; ask an admin to check gate.yaml.`,
      500,
    );
  }
  const load = async (ref: string) => {
    try {
      return await ctx.secret(ref);
    } catch {
      // The server's log has the reference; the client only learns that the server is misconfigured.
      throw new UpstreamSetupError(
        `gate: the server could not load the credential for role "${ctx.grant.role}" on target "${ctx.targetName}"; ask an admin to check the server's secrets.`,
        500,
      );
    }
  };
  let authorization: string | undefined;
  let cert: string | undefined;
  let key: string | undefined;
  if ('token' in role) authorization = `Bearer ${(await load(role.token)).trim()}`;
  else {
    cert = await load(role.client_cert);
    key = await load(role.client_key);
  }
  const agentOptions = { keepAlive: true, keepAliveMsecs: 30_000 };
  if (base.protocol === 'http:') return { base, agent: new HttpAgent(agentOptions), authorization, display };
  const ca = ctx.target.tls.ca ? await load(ctx.target.tls.ca) : undefined;
  const agent = new HttpsAgent({
    ...agentOptions,
    ca,
    cert,
    key,
    rejectUnauthorized: !ctx.target.tls.insecure_skip_verify,
  });
  return { base, agent, authorization, display };
}

/**
 * Headers the client must not choose: its own credential, impersonation
 * (which would let a role act as someone else), the API server's
 * front-proxy identity headers, and forwarding headers.
 */
function isClientCredentialHeader(name: string): boolean {
  return (
    name === 'authorization' ||
    name === 'cookie' ||
    isForwardingHeader(name) ||
    name.startsWith('impersonate-') ||
    name.startsWith('x-remote-')
  );
}

/**
 * Builds the upstream request headers from the client's raw headers: drops
 * hop-by-hop and credential headers, keeps `Connection: Upgrade` + `Upgrade`
 * for upgrade requests, sets Host and the role's Authorization.
 */
export function upstreamHeaders(
  rawHeaders: string[],
  headers: IncomingHttpHeaders,
  up: Upstream,
  upgrade: boolean,
): Record<string, string | string[]> {
  const listed = connectionTokens(headers.connection);
  const out: Record<string, string | string[]> = {};
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    const lower = name.toLowerCase();
    if (lower === 'host' || HOP_BY_HOP.has(lower) || listed.has(lower) || isClientCredentialHeader(lower)) continue;
    addHeader(out, name, rawHeaders[i + 1]!);
  }
  if (headers['transfer-encoding'] !== undefined && headers['content-length'] === undefined) {
    out['Transfer-Encoding'] = 'chunked';
  }
  if (upgrade && headers.upgrade) {
    out.Connection = 'Upgrade';
    out.Upgrade = headers.upgrade;
  }
  out.Host = up.base.host;
  if (up.authorization) out.Authorization = up.authorization;
  return out;
}

/** Response headers to relay to the client (hop-by-hop removed; Node re-frames the body). */
export function downstreamHeaders(rawHeaders: string[], keepUpgrade = false): Record<string, string | string[]> {
  const listed = connectionTokens(rawHeaderValues(rawHeaders, 'connection'));
  const out: Record<string, string | string[]> = {};
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    const lower = name.toLowerCase();
    const keep = keepUpgrade && (lower === 'connection' || lower === 'upgrade');
    if (!keep && (HOP_BY_HOP.has(lower) || listed.has(lower))) continue;
    addHeader(out, name, rawHeaders[i + 1]!);
  }
  return out;
}

/** Opens a request to the API server for `pathAndQuery` (joined under the address's own path, if any). */
export function openUpstreamRequest(
  up: Upstream,
  method: string,
  pathAndQuery: string,
  headers: Record<string, string | string[]>,
): ClientRequest {
  const options = {
    agent: up.agent,
    protocol: up.base.protocol,
    hostname: up.base.hostname.replace(/^\[|\]$/g, ''),
    port: up.base.port || (up.base.protocol === 'https:' ? 443 : 80),
    method,
    // pathAndQuery is canonical (no dot segments): it cannot climb out of the address's own path.
    path: joinUnderPrefix(up.base.pathname, pathAndQuery),
    headers,
  };
  const req = up.base.protocol === 'http:' ? httpRequest(options) : httpsRequest(options);
  // A connect timeout only: watches and exec streams may be idle for a long time once connected.
  req.on('socket', (socket) => {
    if (!socket.connecting) return;
    const timer = setTimeout(() => {
      req.destroy(Object.assign(new Error('connect timed out'), { code: 'ETIMEDOUT' }));
    }, 10_000);
    timer.unref();
    socket.once('connect', () => clearTimeout(timer));
    req.once('close', () => clearTimeout(timer));
  });
  return req;
}

const TLS_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'EPROTO',
]);

/** Turns a socket/TLS error into a Status code and a readable message naming the target (no secrets). */
export function describeUpstreamError(err: unknown, targetName: string, up: Pick<Upstream, 'display'> | undefined): {
  code: number;
  reason: string;
  message: string;
} {
  const e = err as NodeJS.ErrnoException;
  const where = `the Kubernetes API server of target "${targetName}"${up ? ` (${up.display})` : ''}`;
  const code = e?.code ?? '';
  if (TLS_CODES.has(code) || code.startsWith('ERR_TLS') || code.startsWith('ERR_SSL')) {
    return {
      code: 502,
      reason: 'InternalError',
      message: `gate: TLS verification of ${where} failed (${code}: ${e.message}); check the target's tls.ca in gate.yaml.`,
    };
  }
  const why: Record<string, string> = {
    ECONNREFUSED: 'connection refused',
    ENOTFOUND: 'host not found',
    EAI_AGAIN: 'host name lookup failed',
    ETIMEDOUT: 'connection timed out',
    ECONNRESET: 'connection reset',
    EHOSTUNREACH: 'host unreachable',
    ENETUNREACH: 'network unreachable',
    EPIPE: 'connection closed',
  };
  return {
    code: 503,
    reason: 'ServiceUnavailable',
    message: `gate: cannot reach ${where}: ${why[code] ?? (code || 'connection failed')}.`,
  };
}
