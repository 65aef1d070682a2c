/** The tunnel's HTTP Upgrade handshake: path, protocol token and headers, shared by dialer and endpoint. */
export const TUNNEL_PATH = '/v1/tunnel';
export const TUNNEL_PROTOCOL = 'gate-tunnel/1';

export const TunnelHeader = {
  grant: 'gate-grant',
  session: 'gate-session',
  correlation: 'gate-correlation-id',
  localPassword: 'gate-local-password',
} as const;
