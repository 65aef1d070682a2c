/**
 * The store (PostgreSQL) restarted under load: while it is down new grants
 * are refused with a message that says why and /v1/ready says so; once it
 * is back, full service returns within seconds, and no audit event of a
 * statement a user got an answer to is missing.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { RunningGate } from '../helpers/gate-bin.js';
import { loopOverTunnel, startConnect } from './harness/clients.js';
import { recordFigures } from './harness/figures.js';
import { type Fleet, startReadFleet } from './harness/fleet.js';
import { until } from './harness/wait.js';

let fleet: Fleet;
const gates: RunningGate[] = [];

beforeAll(async () => {
  fleet = await startReadFleet({ limits: '{ connections_per_grant: 50 }' });
});

afterAll(async () => {
  await Promise.all(gates.map((g) => g.stop('SIGTERM').catch(() => {})));
  await fleet?.close();
});


const ready = async (url: string) => (await fetch(`${url}/v1/ready`).catch((e: Error) => { throw new Error(`${url}/v1/ready: ${e.message}; replicas logged:\n${replicaLogs()}`); })).status;
const replicaLogs = () => fleet.replicas.map((r) => r.process.lines.stderr.slice(-40).join('\n')).join('\n---\n');

it('a store restart under load: grants refused with a clear message while down, /v1/ready follows, full service after, nothing lost', async () => {
  const alice = await fleet.token('alice', ['engineering']);
  const env = await fleet.cliEnv(alice);
  const clients = await Promise.all([0, 1, 2, 3].map(() => startConnect(env, 'db', 'read')));
  gates.push(...clients.map((c) => c.gate));
  const loops = clients.map((c, i) => loopOverTunnel(`c${i}`, c.port, 'app_ro', 100));
  await until('every client has answers', () => loops.every((l) => l.acked.length >= 3));
  for (const r of fleet.replicas) expect(await ready(r.url)).toBe(200);

  await fleet.store.stop();
  const downAt = performance.now();
  // Every replica says it is not ready, and why, without naming the store's host or credentials.
  await until('every replica reports the store down', async () => (await Promise.all(fleet.replicas.map((r) => ready(r.url)))).every((s) => s === 503), 30_000).catch(
    (err: Error) => {
      throw new Error(`${err.message}; replicas logged:\n${replicaLogs()}`);
    },
  );
  const notReady = (await (await fetch(`${fleet.replicas[0]!.url}/v1/ready`)).json()) as { status: string; store: string; message: string };
  expect(notReady).toMatchObject({ status: 'unavailable', store: 'unreachable' });
  expect(notReady.message).toMatch(/^The store cannot be reached/);
  expect(JSON.stringify(notReady)).not.toContain(fleet.store.password);
  // A new grant while the store is down: refused, with a message that says what is wrong.
  const bob = await fleet.token('bob', ['engineering']).catch((e: Error) => e);
  if (typeof bob === 'string') {
    const refused = await fleet.api<{ error?: { message?: string } }>(bob, 'POST', '/v1/grants', { target: 'db', role: 'read' });
    expect(refused.status).toBe(503);
    expect(refused.body.error?.message ?? '').toMatch(/^The gate store cannot be reached/);
  } else {
    // The login itself needs the store: refused the same way.
    expect(bob.message).toContain('503');
    expect(bob.message).toContain('The gate store cannot be reached');
  }

  await fleet.store.start();
  const upAt = performance.now();
  await until('every replica is ready again', async () => (await Promise.all(fleet.replicas.map((r) => ready(r.url)))).every((s) => s === 200), 30_000);
  const carol = await fleet.token('carol', ['engineering']);
  const granted = await fleet.api<{ grant: { state: string } }>(carol, 'POST', '/v1/grants', { target: 'db', role: 'read' });
  expect(granted.status).toBe(201);
  expect(granted.body.grant.state).toBe('active');
  const recovery = Math.round(performance.now() - upAt);
  const outage = Math.round(upAt - downAt);
  const mark = loops.map((l) => l.acked.length);
  await until('the tunnel clients are answered after the restart', () => loops.every((l, i) => l.acked.length > mark[i]! + 3));
  await Promise.all(loops.map((l) => l.stop()));

  // Events spooled while the store was down are replayed in the background (every second): wait for
  // the replay to catch up, then count. A lost event never arrives, and the wait ends in the assertion below.
  const acked = loops.flatMap((l) => l.acked);
  let audited = new Set<string>();
  const missingNow = async () => {
    const rows = await fleet.store.query<{ details: string }>(`SELECT details FROM audit_events WHERE action = 'pg.query'`, [], 'gate_fleet');
    audited = new Set(rows.flatMap((r) => r.details.match(/c\d+-\d+/g) ?? []));
    return acked.filter((m) => !audited.has(m));
  };
  await until('the spooled audit events are replayed', async () => (await missingNow()).length === 0, 20_000).catch(() => {});
  const missing = await missingNow();
  const verify = await fleet.api<{ ok: boolean }>(await fleet.token('pat', ['platform']), 'GET', '/v1/audit/verify');
  await recordFigures('store_restart', {
    replicas: 2,
    tunnel_clients: loops.length,
    statements_answered: acked.length,
    statements_audited: audited.size,
    events_lost: missing.length,
    errors_seen_by_clients: loops.reduce((n, l) => n + l.errors.length, 0),
    store_down_ms: outage,
    recovery_ms: recovery,
  });
  expect(missing).toEqual([]);
  expect(verify.body.ok).toBe(true);
});
