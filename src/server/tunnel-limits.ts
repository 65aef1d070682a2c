import type { LimitsConfig } from '../config/hardening.js';
import { parseDuration } from '../config/duration.js';
import type { GrantEnded, TunnelGrant } from '../gateway/types.js';

/** The data path's bounds, from `limits:` in the config (src/config/hardening.ts). */
export interface TunnelLimits {
  perGrant: number;
  perTarget: number;
  idleMs: number;
  startupMs: number;
}

export function tunnelLimitsFrom(limits: LimitsConfig): TunnelLimits {
  return {
    perGrant: limits.connections_per_grant,
    perTarget: limits.connections_per_target,
    idleMs: parseDuration(limits.tunnel_idle_timeout),
    startupMs: parseDuration(limits.tunnel_startup_timeout),
  };
}

type Slot = { release(): void } | { refused: string; limit: 'connections_per_grant' | 'connections_per_target'; max: number };

/**
 * Open tunnels per grant and per target, in this process. One grant must not
 * exhaust a target's connection slots, nor all grants together the target.
 */
export function createTunnelCounters(limits: TunnelLimits) {
  const byGrant = new Map<string, number>();
  const byTarget = new Map<string, number>();
  const bump = (m: Map<string, number>, k: string, d: number) => {
    const n = (m.get(k) ?? 0) + d;
    if (n > 0) m.set(k, n);
    else m.delete(k);
  };
  return {
    take(grant: TunnelGrant): Slot {
      if ((byGrant.get(grant.id) ?? 0) >= limits.perGrant) {
        return {
          refused: `Grant ${grant.id} already has ${limits.perGrant} open connections, the most one grant may hold (limits.connections_per_grant); close one first.`,
          limit: 'connections_per_grant',
          max: limits.perGrant,
        };
      }
      if ((byTarget.get(grant.target) ?? 0) >= limits.perTarget) {
        return {
          refused: `Target ${grant.target} already has ${limits.perTarget} open connections through gate, the most it takes (limits.connections_per_target); try again later.`,
          limit: 'connections_per_target',
          max: limits.perTarget,
        };
      }
      bump(byGrant, grant.id, 1);
      bump(byTarget, grant.target, 1);
      let released = false;
      return {
        release() {
          if (released) return;
          released = true;
          bump(byGrant, grant.id, -1);
          bump(byTarget, grant.target, -1);
        },
      };
    },
  };
}

/** What the watch needs of a tunnel's stream: net.Socket (`gate-tunnel/1`) or FramedStream (/2, where pings are not activity). */
export interface TimedStream {
  readonly bytesRead: number;
  setTimeout(ms: number, cb?: () => void): unknown;
  off(event: 'timeout', cb: () => void): unknown;
}

const seconds = (ms: number) => `${Math.round(ms / 1000)} s`;

/**
 * Cuts a tunnel whose client sent nothing within the startup timeout of
 * opening (a connection that holds a slot and never speaks), or that carried
 * no byte either way for the idle timeout. `onCut` aborts the tunnel; the
 * protocol handler then tells the client why in its own protocol.
 */
export function watchTunnelTimeouts(
  socket: TimedStream,
  limits: TunnelLimits,
  clientSpoke: boolean,
  onCut: (ended: GrantEnded, limit: 'tunnel_idle_timeout' | 'tunnel_startup_timeout') => void,
): () => void {
  // bytesRead counts the upgrade request too: anything past it is the client speaking.
  const base = socket.bytesRead;
  let done = false;
  const cut = (ended: GrantEnded, limit: 'tunnel_idle_timeout' | 'tunnel_startup_timeout') => {
    if (done) return;
    done = true;
    onCut(ended, limit);
  };
  const startup = clientSpoke
    ? undefined
    : setTimeout(() => {
        if (socket.bytesRead > base) return;
        cut({ reason: 'startup_timeout', message: `gate tunnel closed: the client sent nothing within ${seconds(limits.startupMs)} of connecting` }, 'tunnel_startup_timeout');
      }, limits.startupMs);
  startup?.unref();
  const onIdle = () => cut({ reason: 'idle_timeout', message: `gate tunnel closed: idle for ${seconds(limits.idleMs)}` }, 'tunnel_idle_timeout');
  socket.setTimeout(limits.idleMs, onIdle);
  return () => {
    done = true;
    if (startup) clearTimeout(startup);
    socket.setTimeout(0);
    socket.off('timeout', onIdle);
  };
}
