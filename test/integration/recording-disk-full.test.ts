import { execFile, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { promisify } from 'node:util';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createClient } from '../../src/api/client.js';
import { createHttpSessionApi } from '../../src/api/sessions-client.js';
import { isStorageFullError } from '../../src/cli/upload-notices.js';
import { parseConfig } from '../../src/config/load.js';
import { chunkHash, GENESIS_HASH } from '../../src/record/chain.js';
import { recordSession } from '../../src/record/session.js';
import { listPendingSpools, openSpool } from '../../src/record/spool.js';
import { buildServer, type GateServer } from '../../src/server/app.js';
import { createLogger } from '../../src/server/log.js';
import { createRecordingStore } from '../../src/server/recordings.js';
import { issueGateToken } from '../../src/server/tokens.js';
import { mountSmallVolume, type SmallVolume } from '../helpers/tmpfs.js';

// Issue 19: the server's recordings live on a real, small tmpfs that fills up.
const CONFIG = parseConfig(
  `
targets:
  db-prod:
    type: postgres
    address: 127.0.0.1:5432
    database: app
    roles:
      read:  { username: readonly, password: env:DB_PROD_RO_PASSWORD }
policies:
  - { name: eng-read, groups: [engineering], targets: [db-prod], roles: [read], max_duration: 8h, approval: auto }
`,
  '(disk-full test)',
);

const TMPFS_BYTES = 1024 * 1024;
let work: string;
let dataDir: string;
let recDir: string;
let volume: SmallVolume | undefined;
let server: GateServer;
let url: string;
let token: string;
let grantId: string;

async function put(id: string, seq: number, data: Buffer, prevHash: string, hash: string) {
  const res = await request(`${url}/v1/sessions/${id}/chunks/${seq}`, {
    method: 'PUT',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream', 'gate-prev-hash': prevHash, 'gate-hash': hash },
    body: data,
  });
  return { status: res.statusCode, json: (await res.body.json()) as { status?: string; error?: { code: string; message: string } } };
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'gate-disk-full-'));
  dataDir = join(work, 'data');
  recDir = join(dataDir, 'recordings');
  volume = await mountSmallVolume(recDir, String(TMPFS_BYTES));
  server = await buildServer({ config: CONFIG, dataDir, logger: createLogger({ level: 'silent' }) });
  url = await server.listen({ host: '127.0.0.1', port: 0 });
  token = (await issueGateToken(server.ctx.key, server.ctx.tokenIssuer, { sub: 'alice', email: 'alice@example.com', groups: ['engineering'], kind: 'user' }, 3_600_000))
    .token;
  const client = createClient({ server: url, token: async () => token });
  const { grant } = await client.call('POST', '/v1/grants', z.object({ grant: z.object({ id: z.string() }) }), { body: { target: 'db-prod', role: 'read' } });
  grantId = grant.id;
});

afterAll(async () => {
  await server?.close();
  volume?.unmount();
  await rm(work, { recursive: true, force: true });
});

const meta = { target: 'db-prod', user: 'alice', grant: '', command: 'sh -c …', recordInput: false };

describe('a full server disk', () => {
  it('refuses a chunk with 507 storage_full, leaves no torn chunk, and takes the same chunk once space is back', async () => {
    const api = createHttpSessionApi(createClient({ server: url, token: async () => token, timeoutMs: 5000 }));
    const id = randomUUID();
    await api.create({ ...meta, grant: grantId, id, width: 80, height: 24, startedAt: new Date().toISOString() });
    const chunks = Array.from({ length: 6 }, (_, i) => Buffer.from(`[${i}.0, "o", "${String(i).repeat(40_000)}"]\n`));
    const hashes: string[] = [];
    let prev = GENESIS_HASH;
    for (const [i, c] of chunks.entries()) {
      prev = chunkHash(prev, i + 1, c);
      hashes.push(prev);
    }
    const prevOf = (seq: number) => (seq === 1 ? GENESIS_HASH : hashes[seq - 2]!);
    // Room for two chunks (and the index's page), not three.
    await volume!.fill(100_000);
    let seq = 1;
    let refused: Awaited<ReturnType<typeof put>> | undefined;
    for (; seq <= chunks.length; seq++) {
      const res = await put(id, seq, chunks[seq - 1]!, prevOf(seq), hashes[seq - 1]!);
      if (res.status !== 200) {
        refused = res;
        break;
      }
    }
    expect(seq).toBeGreaterThan(1);
    expect(seq).toBeLessThanOrEqual(chunks.length);
    expect(refused?.status).toBe(507);
    expect(refused?.json.error?.code).toBe('storage_full');
    expect(refused?.json.error?.message).toMatch(/the gate server's disk is full; the chunk was not stored/i);
    // No torn chunk: the .cast holds exactly the stored chunks, the index exactly their records.
    const stored = Buffer.concat(chunks.slice(0, seq - 1));
    expect((await stat(join(recDir, `${id}.cast`))).size).toBe(stored.length);
    expect((await stat(join(recDir, `${id}.idx`))).size).toBe((seq - 1) * 103);
    // Still full: the retry is refused the same way, and changes nothing.
    expect((await put(id, seq, chunks[seq - 1]!, prevOf(seq), hashes[seq - 1]!)).status).toBe(507);
    expect((await stat(join(recDir, `${id}.cast`))).size).toBe(stored.length);

    await volume!.release();
    for (; seq <= chunks.length; seq++) {
      expect((await put(id, seq, chunks[seq - 1]!, prevOf(seq), hashes[seq - 1]!)).json).toEqual({ status: 'stored' });
    }
    const store = createRecordingStore(recDir);
    expect(await store.verify(id)).toEqual({ ok: true, chunks: chunks.length });
    const res = await request(`${url}/v1/sessions/${id}/recording`, { headers: { authorization: `Bearer ${token}` } });
    expect(Buffer.from(await res.body.arrayBuffer()).equals(Buffer.concat(chunks))).toBe(true);
  });

  it('the CLI keeps the recording in its spool while the disk is full and uploads it once space is back', async () => {
    const configDir = join(work, 'cli');
    await mkdir(configDir, { recursive: true });
    const api = createHttpSessionApi(createClient({ server: url, token: async () => token, timeoutMs: 5000 }));
    const errors: unknown[] = [];
    // The session's create row fits in SQLite (on the ordinary disk); its chunks do not fit on the tmpfs.
    await volume!.fill(8 * 1024);
    const out = new PassThrough();
    out.resume();
    const result = await recordSession({
      configDir,
      api,
      meta: { ...meta, grant: grantId },
      run: {
        file: 'sh',
        args: ['-c', 'i=0; while [ $i -lt 4000 ]; do i=$((i+1)); echo "line $i of the output that fills the server disk"; done; echo done-marker; exit 7'],
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
        stdin: new PassThrough(),
        stdout: out,
        tty: false,
      },
      upload: { intervalMs: 50, backoff: { initialMs: 50, maxMs: 200 }, onError: (err) => errors.push(err) },
      finishTimeoutMs: 1500,
    });
    expect(result.exitCode).toBe(7);
    expect(result.upload.status).toBe('pending');
    expect(errors.length).toBeGreaterThan(0);
    expect(errors.every(isStorageFullError)).toBe(true);
    expect((await listPendingSpools(configDir)).map((p) => p.id)).toContain(result.sessionId);

    await volume!.release();
    // The gate run that recorded it has ended (its writer pid is a process that has exited), so the next gate command resumes it.
    const dead = spawnSync('true').pid;
    await (await openSpool(configDir, result.sessionId)).update({ pid: dead });
    // The next gate command (the built CLI, as a user runs it) uploads what is pending; async: this process serves it.
    const next = await promisify(execFile)(process.execPath, ['bin/gate.js', 'sessions', '--json'], {
      env: { PATH: process.env.PATH, HOME: work, GATE_SERVER: url, GATE_TOKEN: token, GATE_CONFIG_DIR: configDir, GATE_CREDENTIAL_STORE: 'file' },
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(next.stdout).toContain(result.sessionId);
    expect(await listPendingSpools(configDir)).toHaveLength(0);
    expect(await createRecordingStore(recDir).verify(result.sessionId)).toMatchObject({ ok: true });
    const res = await request(`${url}/v1/sessions/${result.sessionId}/recording`, { headers: { authorization: `Bearer ${token}` } });
    const cast = Buffer.from(await res.body.arrayBuffer()).toString('utf8');
    expect(cast).toContain('line 4000 of the output');
    expect(cast).toContain('done-marker');
  });
});
