import { connect } from 'node:net';
import type { TcpTarget } from '../../config/schema.js';
import { relay } from '../../tunnel/relay.js';
import type { ProtocolHandler } from '../types.js';

/**
 * Bytes only: for services where gate brokers access but cannot inject a
 * secret. Audits connect, disconnect and byte counts.
 */
export const handleTcp: ProtocolHandler<TcpTarget> = async (socket, ctx) => {
  const [host, portText] = splitHostPort(ctx.target.address);
  const started = Date.now();
  const upstream = connect({ host, port: Number(portText), noDelay: true });
  const ready = await new Promise<Error | undefined>((resolve) => {
    upstream.once('connect', () => resolve(undefined));
    upstream.once('error', (err) => resolve(err));
  });
  if (ready) {
    ctx.audit({ action: 'tcp.connect', result: 'error', details: { address: ctx.target.address, error: (ready as NodeJS.ErrnoException).code ?? ready.message } });
    socket.destroy();
    return;
  }
  ctx.audit({ action: 'tcp.connect', result: 'ok', details: { address: ctx.target.address } });
  const onEnd = () => {
    upstream.destroy();
    socket.destroy();
  };
  ctx.signal.addEventListener('abort', onEnd, { once: true });
  const stats = await relay(socket, upstream);
  ctx.signal.removeEventListener('abort', onEnd);
  ctx.audit({
    action: 'tcp.disconnect',
    result: 'ok',
    details: { bytes_from_client: stats.bytesOut, bytes_to_client: stats.bytesIn, duration_ms: Date.now() - started },
  });
};

/** Splits `host:port` and `[v6]:port`. */
export function splitHostPort(address: string): [string, string] {
  const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(address);
  if (!m) throw new Error(`not host:port: ${address}`);
  return [m[1]!, m[2]!];
}
