import type { GrantWire, TargetSummary } from '../api/wire-grants.js';
import { dialTunnelStream, type TunnelStream } from '../tunnel/dialer.js';
import { heartbeatFrom } from '../tunnel/heartbeat.js';
import type { McpContext } from './context.js';
import { toolErrorFrom } from './grant.js';

/**
 * Opens one tunnel for one tool call, in-process (no loopback listener), as
 * `gate connect` does for a connection: `gate-tunnel/2` with the heartbeat
 * (GATE_TUNNEL_PING_INTERVAL / _TIMEOUT), so a call whose link stops carrying
 * packets fails with "lost the gate server" instead of waiting for TCP. The
 * tunnel carries this MCP session's id and correlation id; a refusal is a
 * tool error naming the target.
 */
export async function openToolTunnel(mcp: McpContext, target: TargetSummary, grant: GrantWire): Promise<TunnelStream> {
  try {
    return await dialTunnelStream({
      server: mcp.server,
      token: await mcp.cli.token(mcp.server),
      grantId: grant.id,
      sessionId: mcp.sessionId,
      correlationId: mcp.cli.env.correlationId,
      signal: mcp.cli.signal,
      heartbeat: heartbeatFrom(mcp.cli.env.tunnelPing.interval, mcp.cli.env.tunnelPing.timeout),
    });
  } catch (err) {
    throw toolErrorFrom(err, target.name);
  }
}
