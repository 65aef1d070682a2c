/**
 * Issue 19: recordings in the PostgreSQL store when the store's disk fills.
 * The chunks' table lives in a tablespace on a real, small tmpfs; PostgreSQL
 * itself answers 53100 disk_full, as it would on a full volume.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { request } from 'undici';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { z } from 'zod';
import { createClient } from '../../src/api/client.js';
import { createHttpSessionApi } from '../../src/api/sessions-client.js';
import { parseConfig } from '../../src/config/load.js';
import { chunkHash, GENESIS_HASH } from '../../src/record/chain.js';
import { buildServer, type GateServer } from '../../src/server/app.js';
import { createLogger } from '../../src/server/log.js';
import { issueGateToken } from '../../src/server/tokens.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { mountSmallVolume, type SmallVolume } from '../helpers/tmpfs.js';

let store: TestPostgres;
let work: string;
let tsDir: string;
let volume: SmallVolume | undefined;
let server: GateServer;
let url: string;
let token: string;
let grantId: string;
const env = { TEST_STORE_PASSWORD: '', DB_PASSWORD: 'unused' };

/** SQL on the store's own database (the test helper's query runs on `postgres`). */
async function storeSql(sql: string): Promise<void> {
  const c = new pg.Client({ host: store.host, port: store.port, user: store.user, password: store.password, database: 'gate_full' });
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}

async function put(id: string, seq: number, data: Buffer, prevHash: string) {
  const res = await request(`${url}/v1/sessions/${id}/chunks/${seq}`, {
    method: 'PUT',
    headers: {
      authorization: `Bearer ${token}`,
      'content-type': 'application/octet-stream',
      'gate-prev-hash': prevHash,
      'gate-hash': chunkHash(prevHash, seq, data),
    },
    body: data,
  });
  return { status: res.statusCode, json: (await res.body.json()) as { status?: string; error?: { code: string; message: string } } };
}

beforeAll(async () => {
  store = await startPostgres();
  env.TEST_STORE_PASSWORD = store.password;
  await store.query('CREATE DATABASE gate_full');
  work = await mkdtemp(join(tmpdir(), 'gate-pg-full-'));
  // The server (as `postgres` when we are root) must reach its tablespace.
  await chmod(work, 0o755);
  tsDir = join(work, 'small-volume');
  volume = await mountSmallVolume(tsDir, '2m', { ownedByPostgres: true });
  await store.query(`CREATE TABLESPACE small_volume LOCATION '${tsDir}'`);
  const config = parseConfig(`
store:
  url: postgres://${store.user}@${store.host}:${store.port}/gate_full
  password: env:TEST_STORE_PASSWORD
targets:
  db-prod:
    type: postgres
    address: 127.0.0.1:5432
    database: app
    roles:
      read: { username: app_ro, password: env:DB_PASSWORD }
policies:
  - { name: eng-read, groups: [engineering], targets: [db-prod], roles: [read], max_duration: 1h }
`);
  server = await buildServer({ config, dataDir: join(work, 'data'), env, logger: createLogger({ level: 'error', write: () => {} }) });
  url = await server.listen({ port: 0 });
  await storeSql('ALTER TABLE recording_chunks SET TABLESPACE small_volume');
  token = (await issueGateToken(server.ctx.key, server.ctx.tokenIssuer, { sub: 'alice', groups: ['engineering'], kind: 'user' }, 600_000)).token;
  const client = createClient({ server: url, token: async () => token });
  const { grant } = await client.call('POST', '/v1/grants', z.object({ grant: z.object({ id: z.string() }) }), { body: { target: 'db-prod', role: 'read' } });
  grantId = grant.id;
});

afterAll(async () => {
  await server?.close().catch(() => {});
  await store?.stop();
  volume?.unmount();
  if (work) await rm(work, { recursive: true, force: true });
});

it('a chunk the full store cannot take is refused with 507 storage_full, nothing torn, and goes in once space is back', async () => {
  const id = randomUUID();
  const api = createHttpSessionApi(createClient({ server: url, token: async () => token }));
  await api.create({ id, target: 'db-prod', user: 'alice', grant: grantId, command: 'psql', width: 80, height: 24, recordInput: false, startedAt: new Date().toISOString() });

  // Incompressible 256 KiB chunks until the 2 MiB volume is full.
  const stored: Buffer[] = [];
  let prev = GENESIS_HASH;
  let refused: { seq: number; data: Buffer; answer: Awaited<ReturnType<typeof put>> } | undefined;
  for (let seq = 1; seq <= 20 && !refused; seq++) {
    const data = randomBytes(256 * 1024);
    const answer = await put(id, seq, data, prev);
    if (answer.status !== 200) {
      refused = { seq, data, answer };
      break;
    }
    stored.push(data);
    prev = chunkHash(prev, seq, data);
  }
  expect(refused, 'the 2 MiB volume never filled').toBeDefined();
  expect(stored.length).toBeGreaterThan(0);
  expect(refused!.answer).toEqual({
    status: 507,
    json: { error: expect.objectContaining({ code: 'storage_full', message: "The gate server's disk is full; the chunk was not stored. Retry once space is freed." }) },
  });
  // What was acknowledged is there, whole and verifiable; nothing of the refused chunk is.
  const verify = async () => (await request(`${url}/v1/sessions/${id}/verify`, { headers: { authorization: `Bearer ${token}` } })).body.json();
  expect(await verify()).toMatchObject({ ok: true, chunks: stored.length, missing: 0 });
  // A retry while still full changes nothing.
  expect((await put(id, refused!.seq, refused!.data, prev)).status).toBe(507);

  // Space is back (the table moves to a roomy volume): the same chunk and the next go in.
  await storeSql('ALTER TABLE recording_chunks SET TABLESPACE pg_default');
  expect((await put(id, refused!.seq, refused!.data, prev)).json).toEqual({ status: 'stored' });
  const next = Buffer.from('[9.9, "o", "after the disk was freed"]\n');
  expect((await put(id, refused!.seq + 1, next, chunkHash(prev, refused!.seq, refused!.data))).json).toEqual({ status: 'stored' });
  expect(await verify()).toMatchObject({ ok: true, chunks: stored.length + 2 });
  const cast = await request(`${url}/v1/sessions/${id}/recording`, { headers: { authorization: `Bearer ${token}` } });
  expect(Buffer.from(await cast.body.arrayBuffer()).equals(Buffer.concat([...stored, refused!.data, next]))).toBe(true);
});
