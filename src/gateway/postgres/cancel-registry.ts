/**
 * Process-wide map from the BackendKeyData gate gave a client to the upstream
 * connection it stands for. A CancelRequest arrives on a new tunnel; it is only
 * honoured for a key issued under the same grant.
 */
import { randomInt } from 'node:crypto';
import { connect } from 'node:net';
import { cancelRequest } from './frontend.js';

export interface CancelTarget {
  host: string;
  port: number;
  pid: number;
  key: number;
  grantId: string;
}

const registry = new Map<string, CancelTarget>();

function keyOf(pid: number, key: number): string {
  return `${pid}:${key}`;
}

/** Registers an upstream connection and returns the client-facing pid/key; call the returned `release` on close. */
export function registerCancelTarget(target: CancelTarget): { pid: number; key: number; release(): void } {
  let pid: number;
  let key: number;
  do {
    pid = randomInt(1, 0x7fffffff);
    key = randomInt(-0x80000000, 0x7fffffff);
  } while (registry.has(keyOf(pid, key)));
  const k = keyOf(pid, key);
  registry.set(k, target);
  return { pid, key, release: () => registry.delete(k) };
}

/** The upstream target for a client's cancel key, if it exists and belongs to `grantId`. */
export function lookupCancelTarget(pid: number, key: number, grantId: string): CancelTarget | undefined {
  const t = registry.get(keyOf(pid, key));
  return t && t.grantId === grantId ? t : undefined;
}

/** Sends a CancelRequest upstream (plain TCP, as libpq does) and waits for the server to close it. */
export function sendCancel(target: CancelTarget, timeoutMs = 5_000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: target.host, port: target.port });
    const timer = setTimeout(() => socket.destroy(), timeoutMs);
    let ok = false;
    socket.once('connect', () => {
      ok = true;
      socket.end(cancelRequest(target.pid, target.key));
    });
    socket.on('error', () => {});
    socket.on('data', () => {});
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(ok);
    });
  });
}

/**
 * Answers another replica's cancel (the shared store's cancel bus): undefined
 * when this process holds no such key under that grant, else whether the
 * cancel reached the upstream.
 */
export async function cancelHeldQuery(pid: number, key: number, grantId: string): Promise<boolean | undefined> {
  const target = lookupCancelTarget(pid, key, grantId);
  return target ? sendCancel(target) : undefined;
}

/** Number of live registrations (tests use it to prove cleanup). */
export function cancelRegistrySize(): number {
  return registry.size;
}
