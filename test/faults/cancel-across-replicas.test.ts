/**
 * A CancelRequest arrives on a new connection, and the balancer may send it
 * to another replica than the one running the query (psql's Ctrl-C through
 * `gate connect`). It still cancels the query; a key that is not the
 * client's own (forged, or another grant's) cancels nothing, on any replica.
 */
import { connect } from 'node:net';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { RunningGate } from '../helpers/gate-bin.js';
import { startConnect } from './harness/clients.js';
import { type Fleet, startReadFleet } from './harness/fleet.js';
import { until } from './harness/wait.js';

let fleet: Fleet;
const gates: RunningGate[] = [];

beforeAll(async () => {
  fleet = await startReadFleet();
});

afterAll(async () => {
  await Promise.all(gates.map((g) => g.stop('SIGTERM').catch(() => {})));
  await fleet?.close();
});

/** Sends a CancelRequest (as libpq does: 16 bytes on a fresh connection) to a `gate connect` port. */
function sendCancel(port: number, pid: number, key: number): Promise<void> {
  const msg = Buffer.alloc(16);
  msg.writeInt32BE(16, 0);
  msg.writeInt32BE(80877102, 4);
  msg.writeInt32BE(pid, 8);
  msg.writeInt32BE(key, 12);
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port }, () => s.end(msg));
    s.on('error', reject);
    s.on('close', () => resolve());
    s.resume();
  });
}

/** A client on replica 0 (replica 1 is out of the balancer while it connects) running pg_sleep. */
async function sleepingOnReplicaZero(port: number): Promise<{ client: pg.Client; pid: number; key: number; result: Promise<unknown> }> {
  fleet.lb.setUp(1, false);
  const client = new pg.Client({ host: '127.0.0.1', port, user: 'app_ro', database: 'postgres' });
  client.on('error', () => {});
  await client.connect();
  fleet.lb.setUp(1, true);
  const { processID: pid, secretKey: key } = client as unknown as { processID: number; secretKey: number };
  const result = client.query('SELECT pg_sleep(20)').then(
    () => 'finished',
    (err: Error & { code?: string }) => err,
  );
  await until('the sleep runs on the target', async () => {
    const rows = await fleet.target.query<{ n: string }>(`SELECT count(*) AS n FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(20)' AND state = 'active'`);
    return Number(rows[0]!.n) === 1;
  });
  return { client, pid, key, result };
}

async function cancelEvents(): Promise<{ result: string; details: Record<string, unknown> }[]> {
  const rows = await fleet.store.query<{ result: string; details: string }>(
    `SELECT result, details FROM audit_events WHERE action = 'pg.cancel' ORDER BY seq`,
    [],
    'gate_fleet',
  );
  return rows.map((r) => {
    const { actor_id: _who, ...details } = JSON.parse(r.details) as Record<string, unknown>;
    return { result: r.result, details };
  });
}

it('a cancel the balancer sends to the other replica cancels the query (57014), audited once as sent through another replica', async () => {
  const alice = await fleet.token('alice', ['engineering']);
  const tunnel = await startConnect(await fleet.cliEnv(alice), 'db', 'read');
  gates.push(tunnel.gate);
  const q = await sleepingOnReplicaZero(tunnel.port);
  // The cancel's tunnel can only reach replica 1, which never saw this client's key.
  fleet.lb.setUp(0, false);
  const accepted = fleet.lb.accepted[1]!;
  await sendCancel(tunnel.port, q.pid, q.key);
  fleet.lb.setUp(0, true);
  expect(fleet.lb.accepted[1]).toBeGreaterThan(accepted);
  const outcome = (await q.result) as Error & { code?: string };
  expect(outcome).toBeInstanceOf(Error);
  expect(outcome.code).toBe('57014');
  expect(outcome.message).toBe('canceling statement due to user request');
  await until('the cancel is audited', async () => (await cancelEvents()).length === 1);
  expect(await cancelEvents()).toEqual([{ result: 'ok', details: { via: 'another replica' } }]);
  // The session itself goes on.
  expect((await q.client.query(`SELECT 'still here' AS m`)).rows).toEqual([{ m: 'still here' }]);
  await q.client.end();
});

it("a forged key, or another grant's key, sent through the other replica cancels nothing and is audited as denied", async () => {
  const [alice, bob] = await Promise.all([fleet.token('alice', ['engineering']), fleet.token('bob', ['engineering'])]);
  const [mine, theirs] = await Promise.all([startConnect(await fleet.cliEnv(alice), 'db', 'read'), startConnect(await fleet.cliEnv(bob), 'db', 'read')]);
  gates.push(mine.gate, theirs.gate);
  const before = (await cancelEvents()).length;
  const q = await sleepingOnReplicaZero(mine.port);
  fleet.lb.setUp(0, false);
  await sendCancel(mine.port, q.pid, q.key ^ 1);
  await sendCancel(theirs.port, q.pid, q.key);
  fleet.lb.setUp(0, true);
  await until('both cancels are audited', async () => (await cancelEvents()).length === before + 2, 20_000);
  const denied = (await cancelEvents()).slice(before);
  expect(denied).toEqual([
    { result: 'denied', details: { error: 'unknown cancel key for this grant' } },
    { result: 'denied', details: { error: 'unknown cancel key for this grant' } },
  ]);
  // Still sleeping: nothing was cancelled.
  const rows = await fleet.target.query<{ n: string }>(`SELECT count(*) AS n FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(20)' AND state = 'active'`);
  expect(Number(rows[0]!.n)).toBe(1);
  // Its own key through the same replica does.
  fleet.lb.setUp(0, false);
  await sendCancel(mine.port, q.pid, q.key);
  fleet.lb.setUp(0, true);
  expect(((await q.result) as { code?: string }).code).toBe('57014');
  await q.client.end();
  expect(fleet.replicas.flatMap((r) => r.errors())).toEqual([]);
});
