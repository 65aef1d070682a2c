/** The tunnel's HTTP Upgrade handshake: path, protocol tokens and headers, shared by dialer and endpoint. */
export const TUNNEL_PATH = '/v1/tunnel';
/** The target protocol's bytes as they are, both ways: no framing, no heartbeat. */
export const TUNNEL_PROTOCOL = 'gate-tunnel/1';
/** Framed (src/tunnel/frames.ts): data frames, and ping/pong beside them, so either side notices a silent path. */
export const TUNNEL_PROTOCOL_V2 = 'gate-tunnel/2';

/**
 * The protocol a server picks from a client's `Upgrade` header: the list the
 * client offers, best first (`gate-tunnel/2, gate-tunnel/1`), or one token.
 * Undefined when none is spoken here. `v2` false: the server offers /1 only.
 */
export function pickTunnelProtocol(upgrade: string | undefined, v2 = true): string | undefined {
  const offered = (upgrade ?? '').split(',').map((t) => t.trim().toLowerCase());
  if (v2 && offered.includes(TUNNEL_PROTOCOL_V2)) return TUNNEL_PROTOCOL_V2;
  if (offered.includes(TUNNEL_PROTOCOL)) return TUNNEL_PROTOCOL;
  return undefined;
}

export const TunnelHeader = {
  grant: 'gate-grant',
  session: 'gate-session',
  correlation: 'gate-correlation-id',
  localPassword: 'gate-local-password',
} as const;
