import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createClient } from '../../src/api/client.js';
import { createHttpSessionApi } from '../../src/api/sessions-client.js';
import { sessionListResponse, sessionShowResponse } from '../../src/api/wire-sessions.js';
import { createContext } from '../../src/cli/context.js';
import { flushPendingRecordings } from '../../src/cli/pending-recordings.js';
import { parseConfig } from '../../src/config/load.js';
import { readCast } from '../../src/record/asciicast.js';
import { chunkHash, GENESIS_HASH } from '../../src/record/chain.js';
import { recordSession } from '../../src/record/session.js';
import { listPendingSpools } from '../../src/record/spool.js';
import type { SessionApi } from '../../src/record/types.js';
import { buildServer, type GateServer } from '../../src/server/app.js';
import { createLogger } from '../../src/server/log.js';
import { issueGateToken } from '../../src/server/tokens.js';
import { runCli } from '../helpers/stack.js';

const CONFIG = parseConfig(
  `
admins: [platform]
targets:
  db-prod:
    type: postgres
    address: 127.0.0.1:5432
    database: app
    roles:
      read:  { username: readonly, password: env:DB_PROD_RO_PASSWORD }
      write: { username: app_rw,   password: env:DB_PROD_RW_PASSWORD }
policies:
  - { name: eng-read,  groups: [engineering, marketing], targets: [db-prod], roles: [read], max_duration: 8h, approval: auto }
  - { name: eng-write, groups: [engineering], targets: [db-prod], roles: [write], max_duration: 1h, approval: { approvers: [dba-oncall] } }
`,
  '(sessions test)',
);

const USERS = {
  alice: { sub: 'alice', email: 'alice@example.com', groups: ['engineering'] },
  erin: { sub: 'erin', email: 'erin@example.com', groups: ['marketing'] },
  bob: { sub: 'bob', email: 'bob@example.com', groups: ['dba-oncall'] },
} as const;
type User = keyof typeof USERS;

let dataDir: string;
let work: string;
let server: GateServer;
let url: string;
let port: number;
const tokens = {} as Record<User, string>;
let grantId: string;

async function boot(): Promise<void> {
  server = await buildServer({ config: CONFIG, dataDir, logger: createLogger({ level: 'silent' }) });
  url = await server.listen({ host: '127.0.0.1', port });
  port = Number(new URL(url).port);
}

const clientFor = (user: User) => createClient({ server: url, token: async () => tokens[user] });
const apiFor = (user: User): SessionApi => createHttpSessionApi(createClient({ server: url, token: async () => tokens[user], timeoutMs: 5000 }));

async function http(user: User, method: string, path: string, opts: { json?: unknown; raw?: Buffer; headers?: Record<string, string> } = {}) {
  const headers: Record<string, string> = { authorization: `Bearer ${tokens[user]}`, ...opts.headers };
  let body: string | Buffer | undefined;
  if (opts.json !== undefined) {
    headers['content-type'] = 'application/json';
    body = JSON.stringify(opts.json);
  } else if (opts.raw) {
    headers['content-type'] = 'application/octet-stream';
    body = opts.raw;
  }
  const res = await request(`${url}${path}`, { method: method as 'GET', headers, body });
  const buf = Buffer.from(await res.body.arrayBuffer());
  return { status: res.statusCode, body: buf, json: () => JSON.parse(buf.toString('utf8')) };
}

function cliEnv(user: User, configDir: string) {
  return { GATE_SERVER: url, GATE_TOKEN: tokens[user], GATE_CONFIG_DIR: configDir };
}

/** A stdout stand-in that looks like a terminal and keeps what the tool printed. */
function terminal() {
  const out = Object.assign(new PassThrough(), { columns: 100, rows: 30 });
  let text = '';
  out.on('data', (c: Buffer) => {
    text += c.toString('utf8');
  });
  return { out, text: () => text };
}

const meta = (id?: string) => ({
  ...(id ? { id } : {}),
  target: 'db-prod',
  user: 'someone-else-claimed',
  grant: grantId,
  command: 'sh -c …',
  recordInput: false,
});

const toolEnv = { PATH: process.env.PATH ?? '/usr/bin:/bin', TERM: 'xterm-256color' };

beforeAll(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'gate-sessions-data-'));
  work = await mkdtemp(join(tmpdir(), 'gate-sessions-work-'));
  port = 0;
  await boot();
  for (const [name, who] of Object.entries(USERS)) {
    tokens[name as User] = (await issueGateToken(server.ctx.key, server.ctx.tokenIssuer, { ...who, groups: [...who.groups], kind: 'user' }, 3_600_000)).token;
  }
  const { grant } = await clientFor('alice').call('POST', '/v1/grants', z.object({ grant: z.object({ id: z.string(), state: z.string() }) }), {
    body: { target: 'db-prod', role: 'read' },
  });
  expect(grant.state).toBe('active');
  grantId = grant.id;
});

afterAll(async () => {
  await server?.close();
  await rm(dataDir, { recursive: true, force: true });
  await rm(work, { recursive: true, force: true });
});

describe('a recorded session through the HTTP API', () => {
  let sessionId: string;
  let configDir: string;

  it('uploads a real command under a pty, and `gate sessions export` gives asciicast that asciinema plays', async () => {
    configDir = join(work, 'cfg-basic');
    const term = terminal();
    const result = await recordSession({
      configDir,
      api: apiFor('alice'),
      meta: meta(),
      run: { file: 'sh', args: ['-c', 'echo hello; exit 3'], env: toolEnv, stdin: new PassThrough(), stdout: term.out, tty: true },
      finishTimeoutMs: 20_000,
    });
    sessionId = result.sessionId;
    expect(result.exitCode).toBe(3);
    expect(result.upload.status).toBe('complete');
    expect(term.text()).toContain('hello');

    const exported = await runCli(['sessions', 'export', sessionId], { env: cliEnv('alice', configDir) });
    expect(exported.code).toBe(0);
    const cast = readCast(exported.stdout);
    expect(cast.header.version).toBe(2);
    expect(cast.header.gate?.session_id).toBe(sessionId);
    expect(cast.truncated).toBe(false);
    const file = join(work, 'basic.cast');
    await writeFile(file, exported.stdout);
    expect(await asciinemaCat(file)).toContain('hello');
  });

  it('lists and shows the session with its exit code, owner and lifecycle events', async () => {
    const listed = await runCli(['sessions', '--json'], { env: cliEnv('alice', configDir) });
    expect(listed.code).toBe(0);
    const { sessions } = sessionListResponse.parse(JSON.parse(listed.stdout));
    const s = sessions.find((x) => x.id === sessionId)!;
    // The server stores the caller, not what the client claimed.
    expect(s).toMatchObject({ user: 'alice', target: 'db-prod', grant_id: grantId, exit_code: 3, closed: true, incomplete: false });
    expect(s.bytes).toBeGreaterThan(0);

    const table = await runCli(['sessions'], { env: cliEnv('alice', configDir) });
    expect(table.stdout.split('\n')[0]!.split('\t')[0]).toBe(sessionId);

    const shown = await runCli(['sessions', 'show', sessionId, '--json'], { env: cliEnv('alice', configDir) });
    const { events } = sessionShowResponse.parse(JSON.parse(shown.stdout));
    expect(events.map((e) => e.action)).toEqual(['session.started', 'session.closed']);
    expect(events.every((e) => e.session_id === sessionId && e.grant_id === grantId)).toBe(true);
  });

  it('shows the gateway events that carry the session id', async () => {
    await server.ctx.audit.append({
      action: 'pg.query',
      actor: 'alice',
      target: 'db-prod',
      grantId,
      sessionId,
      details: { statement: 'select 42', protocol: 'simple' },
    });
    await server.ctx.audit.append({ action: 'pg.query', actor: 'alice', target: 'db-prod', grantId, details: { statement: 'select 1' } });
    const shown = await runCli(['sessions', 'show', sessionId], { env: cliEnv('alice', configDir) });
    expect(shown.code).toBe(0);
    expect(shown.stdout).toContain('select 42');
    expect(shown.stdout).not.toContain('select 1\n');
    expect(shown.stdout).toMatch(/exit\s+3/);
  });

  it('hides a session from another user, for reading and writing alike (404)', async () => {
    for (const path of [`/v1/sessions/${sessionId}`, `/v1/sessions/${sessionId}/recording`]) {
      expect((await http('erin', 'GET', path)).status).toBe(404);
    }
    const data = Buffer.from('[9.0, "o", "injected"]\n');
    const put = await http('erin', 'PUT', `/v1/sessions/${sessionId}/chunks/99`, {
      raw: data,
      headers: { 'gate-prev-hash': GENESIS_HASH, 'gate-hash': chunkHash(GENESIS_HASH, 99, data) },
    });
    expect(put.status).toBe(404);
    expect((await http('erin', 'POST', `/v1/sessions/${sessionId}/close`, { json: { exitCode: 0, durationMs: 1, incomplete: false } })).status).toBe(404);
    const { sessions } = await clientFor('erin').call('GET', '/v1/sessions', sessionListResponse);
    expect(sessions.map((s) => s.id)).not.toContain(sessionId);
    // Nor can anyone record under alice's grant: erin cannot see it, bob (an approver) does not own it.
    const foreign = { ...meta(crypto.randomUUID()), width: 80, height: 24, startedAt: new Date().toISOString() };
    expect((await http('erin', 'POST', '/v1/sessions', { json: foreign })).status).toBe(404);
    expect((await http('bob', 'POST', '/v1/sessions', { json: foreign })).status).toBe(403);
  });

  it('lets an approver of the target read it', async () => {
    const shown = await clientFor('bob').call('GET', `/v1/sessions/${sessionId}`, sessionShowResponse);
    expect(shown.session.user).toBe('alice');
    const cast = await http('bob', 'GET', `/v1/sessions/${sessionId}/recording`);
    expect(cast.status).toBe(200);
    expect(cast.body.toString('utf8')).toContain('hello');
    const { sessions } = await clientFor('bob').call('GET', '/v1/sessions', sessionListResponse, { query: { target: 'db-prod' } });
    expect(sessions.map((s) => s.id)).toContain(sessionId);
  });
});

describe('chunks', () => {
  const id = crypto.randomUUID();
  const one = Buffer.from('{"version": 2, "width": 80, "height": 24, "timestamp": 0}\n');
  const two = Buffer.from('[0.1, "o", "secret-free output\\r\\n"]\n');
  const h1 = chunkHash(GENESIS_HASH, 1, one);
  const h2 = chunkHash(h1, 2, two);

  beforeAll(async () => {
    await apiFor('alice').create({ ...meta(id), id, width: 80, height: 24, startedAt: new Date().toISOString() });
  });

  it('stores a replayed chunk once', async () => {
    const api = apiFor('alice');
    await api.putChunk(id, { seq: 1, data: one, prevHash: GENESIS_HASH, hash: h1 });
    await api.putChunk(id, { seq: 1, data: one, prevHash: GENESIS_HASH, hash: h1 });
    const again = await http('alice', 'PUT', `/v1/sessions/${id}/chunks/1`, {
      raw: one,
      headers: { 'gate-prev-hash': GENESIS_HASH, 'gate-hash': h1 },
    });
    expect(again.json()).toEqual({ status: 'duplicate' });
    await api.putChunk(id, { seq: 2, data: two, prevHash: h1, hash: h2 });
    const cast = await http('alice', 'GET', `/v1/sessions/${id}/recording`);
    expect(cast.body.equals(Buffer.concat([one, two]))).toBe(true);
  });

  it('rejects a tampered chunk with 422 and leaves the recording as it was', async () => {
    const before = (await http('alice', 'GET', `/v1/sessions/${id}/recording`)).body;
    const three = Buffer.from('[0.2, "o", "what the user saw"]\n');
    const h3 = chunkHash(h2, 3, three);
    const tampered = Buffer.from('[0.2, "o", "what an attacker wants"]\n');
    const res = await http('alice', 'PUT', `/v1/sessions/${id}/chunks/3`, { raw: tampered, headers: { 'gate-prev-hash': h2, 'gate-hash': h3 } });
    expect(res.status).toBe(422);
    expect(res.json().error.code).toBe('bad_hash');
    // Through the client the refusal is marked permanent, so the uploader does not retry it forever.
    const err = await apiFor('alice')
      .putChunk(id, { seq: 3, data: tampered, prevHash: h2, hash: h3 })
      .catch((e: unknown) => e);
    expect((err as { permanent?: boolean }).permanent).toBe(true);
    // A different chunk under a stored seq is a conflict, also permanent.
    const conflict = await http('alice', 'PUT', `/v1/sessions/${id}/chunks/2`, {
      raw: three,
      headers: { 'gate-prev-hash': h1, 'gate-hash': chunkHash(h1, 2, three) },
    });
    expect(conflict.status).toBe(409);
    expect(conflict.json().error.code).toBe('seq_conflict');
    const after = (await http('alice', 'GET', `/v1/sessions/${id}/recording`)).body;
    expect(after.equals(before)).toBe(true);
    expect(await server.ctx.store.sessions.get(id)).toMatchObject({ chunks: 2, bytes: before.length });
  });

  it('takes a chunk larger than fastify’s default 1 MiB body limit', async () => {
    const big = Buffer.alloc(1024 * 1024, 0x61);
    const bigId = crypto.randomUUID();
    const api = apiFor('alice');
    await api.create({ ...meta(bigId), id: bigId, width: 80, height: 24, startedAt: new Date().toISOString() });
    await api.putChunk(bigId, { seq: 1, data: big, prevHash: GENESIS_HASH, hash: chunkHash(GENESIS_HASH, 1, big) });
    expect((await server.ctx.store.sessions.get(bigId))?.bytes).toBe(big.length);
  });

  it('streams a recording of several chunks out byte for byte, with its length, through `gate sessions export`', async () => {
    const longId = crypto.randomUUID();
    const api = apiFor('alice');
    await api.create({ ...meta(longId), id: longId, width: 80, height: 24, startedAt: new Date().toISOString() });
    const chunks = Array.from({ length: 5 }, (_, i) => Buffer.alloc(1024 * 1024 - i * 1000, String.fromCharCode(0x61 + i)));
    let prev = GENESIS_HASH;
    for (const [i, data] of chunks.entries()) {
      const hash = chunkHash(prev, i + 1, data);
      await api.putChunk(longId, { seq: i + 1, data, prevHash: prev, hash });
      prev = hash;
    }
    const whole = Buffer.concat(chunks);
    const res = await request(`${url}/v1/sessions/${longId}/recording`, { headers: { authorization: `Bearer ${tokens.alice}` } });
    expect(res.statusCode).toBe(200);
    expect(Number(res.headers['content-length'])).toBe(whole.length);
    expect(Buffer.from(await res.body.arrayBuffer()).equals(whole)).toBe(true);

    const configDir = await mkdtemp(join(work, 'cfg-export-'));
    const exported = await runCli(['sessions', 'export', longId], { env: cliEnv('alice', configDir) });
    expect(exported.code).toBe(0);
    expect(exported.stdout.length).toBe(whole.length);
    expect(exported.stdout === whole.toString('latin1')).toBe(true);
    // Another user's (or a missing) session: a clear error on stderr, nothing on stdout.
    const hidden = await runCli(['sessions', 'export', longId], { env: cliEnv('erin', configDir) });
    expect(hidden.code).not.toBe(0);
    expect(hidden.stdout).toBe('');
    expect(hidden.stderr).toMatch(/not found|no session/i);
  });

  it('`gate sessions verify` proves a stored recording intact, and names the chunk an edit on the server broke', async () => {
    const vid = crypto.randomUUID();
    const api = apiFor('alice');
    await api.create({ ...meta(vid), id: vid, width: 80, height: 24, startedAt: new Date().toISOString() });
    const chunks = ['[0.1, "o", "first"]\n', '[0.2, "o", "DELETE FROM orders"]\n', '[0.3, "o", "third"]\n'].map((t) => Buffer.from(t));
    let prev = GENESIS_HASH;
    for (const [i, data] of chunks.entries()) {
      const hash = chunkHash(prev, i + 1, data);
      await api.putChunk(vid, { seq: i + 1, data, prevHash: prev, hash });
      prev = hash;
    }
    const configDir = await mkdtemp(join(work, 'cfg-verify-'));
    const env = cliEnv('alice', configDir);
    const intact = await runCli(['sessions', 'verify', vid], { env });
    expect(intact.code).toBe(0);
    expect(intact.stderr).toContain(`Recording of session ${vid} intact: 3 chunks verified (still running).`);

    // Someone with the server's disk rewrites what the user ran, keeping every length.
    const castFile = join(dataDir, 'recordings', `${vid}.cast`);
    const cast = await readFile(castFile, 'utf8');
    await writeFile(castFile, cast.replace('DELETE FROM orders', 'SELECT 1 FROM ord'));
    // The recording still streams out as if nothing happened: only the chain shows it.
    expect((await runCli(['sessions', 'export', vid], { env })).stdout).toContain('SELECT 1 FROM ord');
    const broken = await runCli(['sessions', 'verify', vid, '--json'], { env });
    expect(broken.code).toBe(1);
    expect(JSON.parse(broken.stdout)).toEqual({ session_id: vid, ok: false, chunks: 3, broken_at_seq: 2, missing: 0, closed: false, incomplete: false });
    const told = await runCli(['sessions', 'verify', vid], { env });
    expect(told.code).toBe(1);
    expect(told.stderr).toContain('broken at chunk 2 of 3');

    // Cutting the last chunks off (index and bytes alike) leaves a chain that verifies: the acknowledged count does not.
    await writeFile(castFile, cast.replace('DELETE FROM orders', 'SELECT 1 FROM ord'));
    const idxFile = join(dataDir, 'recordings', `${vid}.idx`);
    const idx = await readFile(idxFile);
    await writeFile(idxFile, idx.subarray(0, idx.length / 3));
    const cut = await runCli(['sessions', 'verify', vid, '--json'], { env });
    expect(cut.code).toBe(1);
    expect(JSON.parse(cut.stdout)).toMatchObject({ ok: false, chunks: 1, broken_at_seq: null, missing: 2 });

    // Another user learns nothing about it.
    const hidden = await runCli(['sessions', 'verify', vid], { env: cliEnv('erin', configDir) });
    expect(hidden.code).not.toBe(0);
    expect(hidden.stderr).toMatch(/no session/i);
  });

  it('closes idempotently and takes no new chunks afterwards', async () => {
    const api = apiFor('alice');
    await api.close(id, { exitCode: 0, durationMs: 1500, incomplete: false });
    await api.close(id, { exitCode: 0, durationMs: 1500, incomplete: false });
    const rows = await server.ctx.audit.list({ sessionId: id });
    expect(rows.filter((r) => r.action === 'session.closed')).toHaveLength(1);
    await api.putChunk(id, { seq: 2, data: two, prevHash: h1, hash: h2 });
    const three = Buffer.from('[0.3, "o", "late"]\n');
    const late = await http('alice', 'PUT', `/v1/sessions/${id}/chunks/3`, { raw: three, headers: { 'gate-prev-hash': h2, 'gate-hash': chunkHash(h2, 3, three) } });
    expect(late.status).toBe(409);
  });
});

describe('resilience', () => {
  it('delivers a complete recording when the server is down mid-session and comes back on the same port', async () => {
    const configDir = join(work, 'cfg-restart');
    const term = terminal();
    let phase: 'up' | 'down' | 'back' = 'up';
    let restarted: Promise<void> | undefined;
    term.out.on('data', () => {
      if (phase === 'up' && term.text().includes('before')) {
        phase = 'down';
        void server.close();
      } else if (phase === 'down' && term.text().includes('after')) {
        phase = 'back';
        restarted = new Promise((resolve) => setTimeout(resolve, 200)).then(boot);
      }
    });
    const result = await recordSession({
      configDir,
      api: apiFor('alice'),
      meta: meta(),
      run: {
        file: 'sh',
        args: ['-c', 'echo before; sleep 1; echo middle; sleep 1; echo after; sleep 0.5; exit 0'],
        env: toolEnv,
        stdin: new PassThrough(),
        stdout: term.out,
        tty: false,
      },
      upload: { intervalMs: 50, backoff: { initialMs: 50, maxMs: 300 } },
      finishTimeoutMs: 30_000,
    });
    await restarted;
    expect(phase).toBe('back');
    expect(result.upload.status).toBe('complete');
    const cast = await http('alice', 'GET', `/v1/sessions/${result.sessionId}/recording`);
    const text = cast.body.toString('utf8');
    for (const word of ['before', 'middle', 'after']) expect(text).toContain(word);
    expect(readCast(text).truncated).toBe(false);
    const s = await server.ctx.store.sessions.get(result.sessionId);
    expect(s).toMatchObject({ closed: true, exitCode: 0, incomplete: false });
  });

  describe('a gate process killed mid-session', () => {
    let child: ChildProcess | undefined;
    const configDir = () => join(work, 'cfg-killed');

    afterAll(() => {
      try {
        if (child?.pid) process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    });

    it('leaves a spool the next flushPendingRecordings uploads, marked incomplete, with no token anywhere', async () => {
      const script = await bundleChildScript();
      child = spawn(process.execPath, [script], {
        detached: true,
        stdio: ['ignore', 'pipe', 'inherit'],
        env: { ...toolEnv, CHILD_SERVER: url, CHILD_TOKEN: tokens.alice, CHILD_CONFIG_DIR: configDir(), CHILD_GRANT: grantId },
      });
      let out = '';
      await new Promise<void>((resolve, reject) => {
        child!.stdout!.on('data', (c: Buffer) => {
          out += c.toString('utf8');
          if (out.includes('tick 8')) resolve();
        });
        child!.once('exit', (code) => reject(new Error(`child exited early (${code}): ${out}`)));
      });
      // kill -9 the whole group: gate and the tool it runs.
      process.kill(-child.pid!, 'SIGKILL');
      await new Promise((resolve) => child!.once('exit', resolve));
      child.removeAllListeners('exit');

      const pending = await listPendingSpools(configDir());
      expect(pending).toHaveLength(1);
      expect(pending[0]!.live).toBe(false);
      const id = pending[0]!.id;
      const spoolFiles = await readdir(join(configDir(), 'spool'));
      for (const f of spoolFiles) {
        const text = await readFile(join(configDir(), 'spool', f), 'utf8');
        expect(text).not.toContain(tokens.alice);
        expect(text).not.toContain('eyJ');
      }

      const ctx = createContext({ env: { GATE_CONFIG_DIR: configDir(), GATE_TOKEN: tokens.alice, HOME: work } });
      const flushed = await flushPendingRecordings(ctx, url, { timeoutMs: 10_000 });
      expect(flushed.uploaded).toEqual([id]);
      expect(await listPendingSpools(configDir())).toHaveLength(0);

      const listed = await runCli(['sessions', '--json'], { env: cliEnv('alice', configDir()) });
      const s = sessionListResponse.parse(JSON.parse(listed.stdout)).sessions.find((x) => x.id === id);
      expect(s).toMatchObject({ closed: true, incomplete: true, exit_code: null });
      const cast = (await http('alice', 'GET', `/v1/sessions/${id}/recording`)).body.toString('utf8');
      // What reached the spool before the kill (the last few ms may not have).
      expect(cast).toContain('tick 5');
      expect(readCast(cast).truncated).toBe(false);
      expect(cast).not.toContain(tokens.alice);
      expect(cast).not.toContain('eyJ');
      // Nor does anything the server keeps in its recordings directory.
      for (const f of await readdir(join(dataDir, 'recordings'))) {
        const text = await readFile(join(dataDir, 'recordings', f), 'latin1');
        expect(text).not.toContain(tokens.alice);
        expect(text).not.toContain('eyJ');
      }
    });
  });
});

/**
 * A plain-node program that records a never-ending tool through the HTTP API,
 * as `gate exec` would; bundled with esbuild because a child node cannot load
 * TypeScript. It lives under node_modules/ so that its imports resolve.
 */
async function bundleChildScript(): Promise<string> {
  const root = join(import.meta.dirname, '..', '..');
  const dir = join(root, 'node_modules', '.cache', 'gate-sessions-test');
  await mkdir(dir, { recursive: true });
  const entry = join(dir, `child-${process.pid}.ts`);
  await writeFile(
    entry,
    `import { PassThrough } from 'node:stream';
import { createClient } from ${JSON.stringify(join(root, 'src/api/client.ts'))};
import { createHttpSessionApi } from ${JSON.stringify(join(root, 'src/api/sessions-client.ts'))};
import { recordSession } from ${JSON.stringify(join(root, 'src/record/session.ts'))};
const e = process.env;
const api = createHttpSessionApi(createClient({ server: e.CHILD_SERVER!, token: async () => e.CHILD_TOKEN }));
await recordSession({
  configDir: e.CHILD_CONFIG_DIR!,
  api,
  meta: { target: 'db-prod', user: 'alice', grant: e.CHILD_GRANT!, command: 'ticker', recordInput: false },
  run: { file: 'sh', args: ['-c', 'i=0; while true; do i=$((i+1)); echo tick $i; sleep 0.1; done'],
         env: { PATH: e.PATH! }, stdin: new PassThrough(), stdout: process.stdout, tty: false },
  upload: { intervalMs: 50 },
});
`,
  );
  const out = join(dir, `child-${process.pid}.mjs`);
  const esbuild = await import('esbuild');
  await esbuild.build({ entryPoints: [entry], outfile: out, bundle: true, platform: 'node', format: 'esm', target: 'node20', packages: 'external', logLevel: 'warning' });
  return out;
}

/** `asciinema cat` insists on a controlling terminal: run it under a pty and keep what it prints. */
async function asciinemaCat(file: string): Promise<string> {
  const pty = await import('node-pty');
  return new Promise((resolve) => {
    let out = '';
    const p = pty.spawn('asciinema', ['cat', file], { cols: 100, rows: 30, env: { PATH: toolEnv.PATH, TERM: 'xterm-256color', HOME: work } });
    p.onData((d) => {
      out += d;
    });
    p.onExit(() => resolve(out));
  });
}
