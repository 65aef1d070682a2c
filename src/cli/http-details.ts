import type { TargetSummary } from '../api/wire-grants.js';
import type { ConnectionDetails } from './connection-details.js';
import type { OpenTunnel } from './tunnel-session.js';

/** Proxy variables a wrapped tool must not see: a proxy would carry the loopback URL elsewhere, or fail on it. */
export const PROXY_VARIABLES = ['HTTP_PROXY', 'HTTPS_PROXY', 'ALL_PROXY', 'http_proxy', 'https_proxy', 'all_proxy'];

/**
 * How a client reaches an HTTP target's tunnel: a plain-HTTP base URL on
 * loopback (the gateway holds the API's credential), and with
 * `--local-password` the one-time local bearer the listener expects.
 */
export function httpConnectionDetails(
  _target: TargetSummary,
  tunnel: OpenTunnel,
  common: Record<string, unknown>,
  exec: Record<string, string>,
): ConnectionDetails {
  const url = `http://${tunnel.listener.host}:${tunnel.listener.port}`;
  const bearer = tunnel.localPassword;
  const curl = bearer ? `curl -H "Authorization: Bearer $GATE_LOCAL_BEARER" ${url}/` : `curl ${url}/`;
  return {
    fields: { ...common, url, curl, ...(bearer ? { local_password: bearer } : {}) },
    lines: [
      `GATE_TARGET_URL=${url}`,
      // The one-time bearer is printed here only, once.
      ...(bearer ? [`GATE_LOCAL_BEARER=${bearer}`] : []),
      `run  ${curl}`,
    ],
    env: { ...exec, GATE_TARGET_URL: url, NO_PROXY: '127.0.0.1,localhost', no_proxy: '127.0.0.1,localhost' },
  };
}

/** A complete HTTP/1.1 answer telling a local client why its request could not reach the gateway. */
export function httpLocalRefusal(message: string, code: string | undefined): string {
  const [status, text] =
    code === 'GATE_ERR_ACCESS_DENIED' || code === 'GATE_ERR_NOT_FOUND'
      ? [403, 'Forbidden']
      : code === 'GATE_ERR_AUTH_REQUIRED'
        ? [401, 'Unauthorized']
        : [502, 'Bad Gateway'];
  const body = JSON.stringify({ error: { code: 'tunnel_refused', message: `gate: ${message}` } });
  return `HTTP/1.1 ${status} ${text}\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`;
}
