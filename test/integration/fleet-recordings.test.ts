/**
 * Recordings shared by replicas: with a PostgreSQL store a session's upload
 * started through replica A can be finished through replica B (the seq and
 * chain state live in the store, not in one process), and the recording
 * replays byte for byte from either, streamed in chunks.
 */
import { randomUUID } from 'node:crypto';
import { copyFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClient } from '../../src/api/client.js';
import { createHttpSessionApi } from '../../src/api/sessions-client.js';
import { parseConfig } from '../../src/config/load.js';
import type { PostgresStore } from '../../src/store/postgres/store.js';
import { createSpool, openSpool } from '../../src/record/spool.js';
import type { SessionApi } from '../../src/record/types.js';
import { drainSpool, MAX_CHUNK_BYTES } from '../../src/record/uploader.js';
import { buildServer, type GateServer } from '../../src/server/app.js';
import { createLogger } from '../../src/server/log.js';
import { issueGateToken } from '../../src/server/tokens.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';

let pg: TestPostgres;
let work: string;
const servers: GateServer[] = [];
const urls: string[] = [];
const env = { TEST_STORE_PASSWORD: '', DB_PASSWORD: 'unused' };

async function tokenFor(server: GateServer, sub: string, groups: string[]) {
  return (await issueGateToken(server.ctx.key, server.ctx.tokenIssuer, { sub, groups, kind: 'user' }, 600_000)).token;
}

beforeAll(async () => {
  pg = await startPostgres();
  await pg.query('CREATE DATABASE gate_fleet_rec');
  env.TEST_STORE_PASSWORD = pg.password;
  work = await mkdtemp(join(tmpdir(), 'gate-fleet-rec-'));
  const config = parseConfig(`
store:
  url: postgres://${pg.user}@${pg.host}:${pg.port}/gate_fleet_rec
  password: env:TEST_STORE_PASSWORD
admins: [platform]
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
  const logger = createLogger({ level: 'error', write: () => {} });
  for (let i = 0; i < 2; i++) {
    const dataDir = join(work, `replica-${i}`);
    if (i === 1) {
      await import('node:fs/promises').then((fs) => fs.mkdir(dataDir, { recursive: true }));
      await copyFile(join(work, 'replica-0', 'signing-key.jwk.json'), join(dataDir, 'signing-key.jwk.json'));
    }
    const server = await buildServer({ config, dataDir, env, logger });
    servers.push(server);
    urls.push(await server.listen({ port: 0 }));
  }
});

afterAll(async () => {
  for (const s of servers) await s.close().catch(() => {});
  await pg?.stop();
  if (work) await rm(work, { recursive: true, force: true });
});

/** A SessionApi that sends through A until `switchAfter` chunks are stored, then through B (A "went away"). */
function splitApi(a: SessionApi, b: SessionApi, switchAfter: number): SessionApi & { through: string[] } {
  const through: string[] = [];
  let stored = 0;
  return {
    through,
    create: (meta, o) => a.create(meta, o),
    async putChunk(id, chunk, o) {
      const useA = stored < switchAfter;
      await (useA ? a : b).putChunk(id, chunk, o);
      through.push(useA ? 'A' : 'B');
      stored++;
    },
    close: (id, end, o) => b.close(id, end, o),
  };
}

describe('recordings in the PostgreSQL store', () => {
  it('an upload begun through A and finished through B replays byte-identically from both, in chunks', async () => {
    const a = servers[0]!;
    const alice = await tokenFor(a, 'alice', ['engineering']);
    const clientOf = (url: string) => createClient({ server: url, token: async () => alice });
    const grant = await clientOf(urls[0]!).raw('POST', '/v1/grants', {
      rawBody: JSON.stringify({ target: 'db-prod', role: 'read', reason: 'rec' }),
      contentType: 'application/json',
    });
    expect(grant.status).toBe(201);
    const grantId = JSON.parse(grant.body.toString()).grant.id as string;

    // A multi-MB recording with bytes that are not UTF-8 and CRLFs, as a terminal makes them.
    const configDir = join(work, 'cli');
    const id = randomUUID();
    const spool = await createSpool(configDir, {
      id, target: 'db-prod', user: 'alice', grant: grantId, command: 'psql', width: 80, height: 24,
      startedAt: new Date().toISOString(), recordInput: false,
    });
    for (let i = 0; i < 60_000; i++) spool.append(`[${i / 10}, "o", "row ${i} \\u00e9 ${'x'.repeat(i % 50)}\\r\\n"]\n`);
    spool.append(Buffer.from([0x5b, 0x31, 0x2c, 0x20, 0x22, 0x6f, 0x22, 0x2c, 0x20, 0x22, 0xff, 0xfe, 0x22, 0x5d, 0x0a]));
    await spool.end();
    const original = await readFile(spool.castPath);
    expect(original.length).toBeGreaterThan(3 * MAX_CHUNK_BYTES);

    const api = splitApi(createHttpSessionApi(clientOf(urls[0]!)), createHttpSessionApi(clientOf(urls[1]!)), 2);
    // The first drain stops after A took two chunks (A goes away); the spool resumes against B.
    const failing: SessionApi = {
      ...api,
      async putChunk(sid, chunk, o) {
        if (api.through.length === 2) throw new Error('replica A is gone');
        await api.putChunk(sid, chunk, o);
      },
    };
    await expect(drainSpool(spool, failing, { final: true })).rejects.toThrow('replica A is gone');
    const resumed = await openSpool(configDir, id);
    await drainSpool(resumed, api, { final: true });
    expect(api.through[0]).toBe('A');
    expect(api.through.at(-1)).toBe('B');
    expect(api.through.filter((x) => x === 'B').length).toBeGreaterThan(1);

    // Stored as several rows in the shared database, not one value nor a replica's file.
    const { rows } = await (servers[0]!.ctx.store as PostgresStore).pool.query<{ n: string; largest: number }>(
      'SELECT count(*)::text AS n, max(octet_length(data)) AS largest FROM recording_chunks WHERE session_id = $1',
      [id],
    );
    expect(Number(rows[0]!.n)).toBeGreaterThan(3);
    expect(rows[0]!.largest).toBeLessThanOrEqual(MAX_CHUNK_BYTES);
    const counted = await servers[0]!.ctx.store.recordings!.verify(id);
    expect(counted).toMatchObject({ ok: true });
    expect(counted.chunks).toBeGreaterThan(1);

    // Replayed from each replica over HTTP: byte-identical to the spool.
    const admin = await tokenFor(a, 'carol', ['platform']);
    for (const url of urls) {
      const res = await fetch(`${url}/v1/sessions/${id}/recording`, { headers: { authorization: `Bearer ${admin}` } });
      expect(res.status).toBe(200);
      expect(Number(res.headers.get('content-length'))).toBe(original.length);
      expect(Buffer.from(await res.arrayBuffer()).equals(original)).toBe(true);
    }
    // Streamed out: no piece the store hands the response is larger than one uploaded chunk.
    for (const server of servers) {
      const { bytes, stream } = await server.ctx.store.recordings!.openRead(id);
      expect(bytes).toBe(original.length);
      let pieces = 0;
      let largest = 0;
      for await (const piece of stream) {
        pieces++;
        largest = Math.max(largest, (piece as Buffer).length);
      }
      expect(pieces).toBeGreaterThan(1);
      expect(largest).toBeLessThanOrEqual(MAX_CHUNK_BYTES);
    }
    // The session's progress, kept in the store, says the same on both.
    for (const server of servers) {
      const s = await server.ctx.store.sessions.get(id);
      expect(s).toMatchObject({ chunks: counted.chunks, bytes: original.length });
    }
  }, 120_000);
});
