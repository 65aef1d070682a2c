/**
 * Two server replicas on one PostgreSQL store, both running a deliverer:
 * every notification is sent by one of them, once. Each row records its
 * claims (`attempts`): a delivered row with one attempt was claimed and sent
 * by exactly one replica.
 */
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { buildServer, type GateServer } from '../../src/server/app.js';
import { createLogger } from '../../src/server/log.js';
import { issueGateToken } from '../../src/server/tokens.js';
import type { PostgresStore } from '../../src/store/postgres/store.js';
import { type Receiver, startReceiver } from '../helpers/notify-receiver.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';

let pg: TestPostgres;
let receiver: Receiver;
const dirs: string[] = [];
const servers: GateServer[] = [];
const delivered = new Set<string>();
let allDelivered: () => void = () => {};
/** Resolves once the replicas have recorded 12 deliveries (the receiver's 200 comes before the row update). */
const deliveredAll = new Promise<void>((resolve) => {
  allDelivered = resolve;
});
const env = { TEST_STORE_PASSWORD: '', DB_PASSWORD: 'unused', HOOK_SECRET: 'whsec-replicas' };

beforeAll(async () => {
  pg = await startPostgres();
  await pg.query('CREATE DATABASE gate_notify_replicas');
  env.TEST_STORE_PASSWORD = pg.password;
  receiver = await startReceiver();
  const config = parseConfig(`
store:
  url: postgres://${pg.user}@${pg.host}:${pg.port}/gate_notify_replicas
  password: env:TEST_STORE_PASSWORD
targets:
  db-prod:
    type: postgres
    address: 127.0.0.1:5432
    database: app
    roles:
      write: { username: app_rw, password: env:DB_PASSWORD }
policies:
  - { name: eng-write, groups: [engineering], targets: [db-prod], roles: [write], max_duration: 1h, approval: { approvers: [dba-oncall] } }
notifications:
  - { type: webhook, url: '${receiver.base}/hook', secret: env:HOOK_SECRET, events: [grant.requested] }
`);
  for (let i = 0; i < 2; i++) dirs.push(await mkdtemp(join(tmpdir(), `gate-notify-replica-${i}-`)));
  const logger = createLogger({
    level: 'debug',
    write: (line) => {
      if (line.includes('"notification delivered"')) delivered.add(String((JSON.parse(line) as { id: string }).id));
      if (delivered.size === 12) allDelivered();
    },
  });
  servers.push(await buildServer({ config, dataDir: dirs[0]!, env, logger, notify: { pollMs: 50 } }));
  await copyFile(join(dirs[0]!, 'signing-key.jwk.json'), join(dirs[1]!, 'signing-key.jwk.json'));
  servers.push(await buildServer({ config, dataDir: dirs[1]!, env, logger, notify: { pollMs: 50 } }));
});

afterAll(async () => {
  for (const s of servers) await s.close().catch(() => {});
  await receiver?.close();
  await pg?.stop();
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe('notifications with two replicas', () => {
  it('each event is claimed and sent by one replica, once', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 12; i++) {
      const server = servers[i % 2]!;
      const { token } = await issueGateToken(server.ctx.key, server.ctx.tokenIssuer, { sub: `dev${i}`, groups: ['engineering'], kind: 'user' }, 600_000);
      const res = await server.app.inject({
        method: 'POST',
        url: '/v1/grants',
        headers: { authorization: `Bearer ${token}` },
        payload: { target: 'db-prod', role: 'write', reason: `change ${i}` },
      });
      expect(res.statusCode).toBe(201);
      ids.push((res.json() as { grant: { id: string } }).grant.id);
    }
    for (const id of ids) await receiver.waitFor((r) => r.body.includes(id));
    await deliveredAll;

    const store = servers[0]!.ctx.store as PostgresStore;
    const rows = (await store.pool.query<{ state: string; attempts: number }>('SELECT state, attempts FROM notify_outbox')).rows;
    expect(rows).toHaveLength(12);
    expect(rows.map((r) => [r.state, Number(r.attempts)])).toEqual(Array(12).fill(['delivered', 1]));
    const perEvent = new Map<string, number>();
    for (const r of receiver.received) {
      const id = String(r.headers['x-gate-event-id']);
      perEvent.set(id, (perEvent.get(id) ?? 0) + 1);
    }
    expect([...perEvent.values()]).toEqual(Array(12).fill(1));
  });
});
