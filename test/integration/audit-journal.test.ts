/**
 * Issue 19: the gateway's audit journal. Every gateway event is written to
 * the data dir before the answer it describes leaves; what a killed process
 * left is replayed at the next start without doubling what the store already
 * had; and when the journal cannot be written the gateway fails closed.
 * (The kill -9 itself, under load, is test/faults/replica-kill.test.ts.)
 */
import { appendFile, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { canonicalJson, encodeRow } from '../../src/server/audit/chain.js';
import { createAuditJournal } from '../../src/server/audit/journal.js';
import type { UnchainedRow } from '../../src/server/audit/spool.js';
import { buildServer, type GateServer } from '../../src/server/app.js';
import { createLogger } from '../../src/server/log.js';
import { issueGateToken } from '../../src/server/tokens.js';
import { dialTunnel } from '../../src/tunnel/dialer.js';
import { createTestPki, type TestPki } from '../helpers/certs.js';
import { type FakeKube, startFakeKube } from '../helpers/fake-kube.js';
import { type HttpUpstream, startHttpUpstream } from '../helpers/http-upstream.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { mountSmallVolume, type SmallVolume } from '../helpers/tmpfs.js';

let work: string;
let target: TestPostgres;
let pki: TestPki;
let api: HttpUpstream;
let kube: FakeKube;
/** A stand-in MCP server: answers every JSON-RPC request with an empty result and counts what reached it. */
let mcp: HttpServer;
const mcpSeen: string[] = [];
const API_TOKEN = 'journal-api-token-5d1e';
const KUBE_TOKEN = 'journal-kube-token-8b2c';

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'gate-audit-journal-'));
  pki = await createTestPki();
  [target, api, kube] = await Promise.all([startPostgres(), startHttpUpstream({ pki, bearer: API_TOKEN }), startFakeKube({ token: KUBE_TOKEN, pki })]);
  mcp = createHttpServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => {
      body += d.toString('utf8');
    });
    req.on('end', () => {
      mcpSeen.push(body);
      const id = (JSON.parse(body) as { id?: number }).id ?? null;
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ jsonrpc: '2.0', id, result: {} }));
    });
  });
  await new Promise<void>((r) => mcp.listen(0, '127.0.0.1', r));
}, 120_000);

afterAll(async () => {
  await Promise.all([target?.stop(), api?.close(), kube?.close()]);
  mcp?.close();
  await pki?.cleanup();
  if (work) await rm(work, { recursive: true, force: true });
});

const row = (id: string, statement = `select '${id}'`): UnchainedRow => ({
  id,
  time: new Date().toISOString(),
  actor: 'alice',
  actor_kind: 'user',
  action: 'pg.query',
  target: 'db',
  role: 'admin',
  grant_id: 'gr_1',
  session_id: null,
  correlation_id: null,
  ip: '127.0.0.1',
  result: 'ok',
  details: JSON.stringify({ statement }),
});

const segments = async (dataDir: string) => (await readdir(join(dataDir, 'audit-journal'))).filter((f) => f.endsWith('.jsonl')).sort();

describe('the journal on disk', () => {
  it('holds an event from the moment it is synced until it is kept elsewhere, and stays small under steady use', async () => {
    const dataDir = join(work, 'unit-steady');
    const journal = createAuditJournal(dataDir, { segmentBytes: 2048 });
    const tickets = ['a', 'b', 'c'].map((id) => journal.add(encodeRow(row(id))));
    journal.sync();
    const [first] = await segments(dataDir);
    const lines = (await readFile(join(dataDir, 'audit-journal', first!), 'utf8')).trim().split('\n');
    expect(lines.map((l) => (JSON.parse(l) as UnchainedRow).id)).toEqual(['a', 'b', 'c']);
    // The store has them: the segment starts over instead of growing.
    journal.release(tickets);
    expect((await stat(join(dataDir, 'audit-journal', first!))).size).toBe(0);

    // Past the segment size a new segment starts; the old one goes once its last event is kept.
    const held = Array.from({ length: 20 }, (_, i) => journal.add(encodeRow(row(`r${i}`))));
    journal.sync();
    expect((await segments(dataDir)).length).toBe(1);
    const next = journal.add(encodeRow(row('next')));
    journal.sync();
    expect((await segments(dataDir)).length).toBe(2);
    journal.release(held);
    expect(await segments(dataDir)).not.toContain(first);
    journal.release([next]);
    journal.close();
    expect(await segments(dataDir)).toEqual([]);
  });

  it('gives back, in order, what a process that never closed it left, skipping a line a crash cut', async () => {
    const dataDir = join(work, 'unit-crash');
    const killed = createAuditJournal(dataDir);
    for (const id of ['k1', 'k2']) killed.add(encodeRow(row(id)));
    killed.sync();
    const [seg] = await segments(dataDir);
    // The crash: half a line, written while its answer had not left yet.
    await appendFile(join(dataDir, 'audit-journal', seg!), JSON.stringify(row('torn')).slice(0, 60));

    const restarted = createAuditJournal(dataDir);
    const { rows, discard } = restarted.recovered();
    expect(rows.map((r) => r.id)).toEqual(['k1', 'k2']);
    // New events go to a new segment, never into the one being replayed.
    restarted.add(encodeRow(row('n1')));
    restarted.sync();
    expect((await segments(dataDir)).length).toBe(2);
    discard();
    expect(await segments(dataDir)).not.toContain(seg);
    restarted.close();
  });

  it('gives back every field of an event as it was built, details text and all, and still reads a line an earlier build wrote', async () => {
    const dataDir = join(work, 'unit-fields');
    const killed = createAuditJournal(dataDir);
    const built = { ...row('f1'), details: canonicalJson({ statement: 'select "é"\n', tables: ['a', 'b'], rows: 3, nested: { z: null, a: [1] } }) };
    killed.add(encodeRow(built));
    killed.sync();
    const [seg] = await segments(dataDir);
    // An earlier build wrote the row with JSON.stringify: details as a string.
    const earlier = row('f0');
    await appendFile(join(dataDir, 'audit-journal', seg!), `${JSON.stringify(earlier)}\n`);

    const restarted = createAuditJournal(dataDir);
    expect(restarted.recovered().rows).toEqual([built, earlier]);
    restarted.close();
  });
});

describe('a gate server on the journal', () => {
  let server: GateServer | undefined;
  let proxy: Server | undefined;
  let volume: SmallVolume | undefined;
  afterEach(async () => {
    proxy?.close();
    await server?.close().catch(() => {});
    volume?.unmount();
    server = proxy = volume = undefined;
  });

  const env = () => ({ TARGET_PW: target.password, CA: pki.ca.cert, API_TOKEN, KUBE_TOKEN });
  const config = () =>
    parseConfig(`
admins: [platform]
targets:
  db:
    type: postgres
    address: 127.0.0.1:${target.port}
    database: postgres
    roles:
      admin: { username: postgres, password: env:TARGET_PW }
  api:
    type: http
    address: ${api.origin}/api
    tls: { ca: env:CA }
    roles:
      admin: { bearer: env:API_TOKEN }
  k8s:
    type: kubernetes
    address: ${kube.url}
    tls: { ca: env:CA }
    roles:
      admin: { token: env:KUBE_TOKEN }
  tickets:
    type: mcp
    address: http://127.0.0.1:${(mcp.address() as { port: number }).port}/mcp
    roles:
      admin: {}
policies:
  - { name: eng, groups: [engineering], targets: [db, api, k8s, tickets], roles: [admin], max_duration: 1h }
`);

  async function start(dataDir: string): Promise<{ url: string; admin: string }> {
    server = await buildServer({ config: config(), dataDir, env: env(), logger: createLogger({ level: 'silent' }), auditRetryMs: 100 });
    const url = await server.listen({ port: 0 });
    const admin = (await issueGateToken(server.ctx.key, server.ctx.tokenIssuer, { sub: 'carol', groups: ['platform'], kind: 'user' }, 600_000)).token;
    return { url, admin };
  }

  async function grant(url: string, name: string): Promise<{ token: string; grantId: string }> {
    const token = (await issueGateToken(server!.ctx.key, server!.ctx.tokenIssuer, { sub: 'alice', groups: ['engineering'], kind: 'user' }, 600_000)).token;
    const res = await fetch(`${url}/v1/grants`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ target: name, role: 'admin', reason: 'journal test' }),
    });
    return { token, grantId: ((await res.json()) as { grant: { id: string } }).grant.id };
  }

  /** What `gate connect` does, in-process, for one grant: a local port whose connections are tunnels. */
  async function tunnelPort(url: string): Promise<number> {
    const { token, grantId } = await grant(url, 'db');
    proxy = createServer(async (local) => {
      local.on('error', () => {});
      try {
        const remote = await dialTunnel({ server: url, token, grantId });
        remote.on('error', () => local.destroy());
        local.pipe(remote).pipe(local);
      } catch {
        local.destroy();
      }
    });
    await new Promise<void>((r) => proxy!.listen(0, '127.0.0.1', r));
    return (proxy.address() as { port: number }).port;
  }

  async function statements(url: string, admin: string): Promise<string[]> {
    const res = await fetch(`${url}/v1/audit?action=pg.query&limit=10000`, { headers: { authorization: `Bearer ${admin}` } });
    return ((await res.json()) as { events: { details: { statement?: string } }[] }).events.map((e) => e.details.statement ?? '');
  }

  it('replays what a killed server journaled at the next start, once: ids the store already has are not doubled', async () => {
    const dataDir = join(work, 'server-replay');
    let { url, admin } = await start(dataDir);
    const port = await tunnelPort(url);
    const c = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', password: 'unused-local', database: 'postgres' });
    await c.connect();
    await c.query(`select 'stored' as m`);
    await c.end();
    await server!.ctx.audit.flush();
    const [stored] = (await server!.ctx.store.audit.list({ actions: ['pg.query'] })).map(({ prev_hash: _p, hash: _h, ...r }) => r);
    expect(stored!.details).toContain('stored');
    await server!.close();
    server = undefined;
    proxy?.close();

    // What a server killed right after answering leaves: a segment with an event the store took before the kill and one it never got.
    await writeFile(join(dataDir, 'audit-journal', 'segment-99999999.jsonl'), `${JSON.stringify(stored)}\n${JSON.stringify(row('ev_journaled_only', "select 'journaled only'"))}\n`);
    ({ url, admin } = await start(dataDir));
    await vi.waitFor(async () => expect(await statements(url, admin)).toContain("select 'journaled only'"), { timeout: 10_000, interval: 100 });
    expect((await statements(url, admin)).filter((s) => s === `select 'stored' as m`)).toHaveLength(1);
    expect(await segments(dataDir)).not.toContain('segment-99999999.jsonl');
    const verify = (await (await fetch(`${url}/v1/audit/verify`, { headers: { authorization: `Bearer ${admin}` } })).json()) as { ok: boolean };
    expect(verify.ok).toBe(true);
  }, 60_000);

  it('fails closed when the journal cannot be written: the next statement gets an ErrorResponse naming it, and flows again once the disk has room', async () => {
    const dataDir = join(work, 'server-full');
    volume = await mountSmallVolume(join(dataDir, 'audit-journal'), '64k');
    const { url, admin } = await start(dataDir);
    const port = await tunnelPort(url);
    const c = new pg.Client({ host: '127.0.0.1', port, user: 'postgres', password: 'unused-local', database: 'postgres' });
    c.on('error', () => {});
    await c.connect();
    expect((await c.query(`select 'before' as x`)).rows[0].x).toBe('before');
    await server!.ctx.audit.flush();
    await volume.fill(0);
    // Its answer comes back (the statement ran; its event still goes to the store), but the journal could not take it.
    expect((await c.query(`select 'unjournaled' as x`)).rows[0].x).toBe('unjournaled');
    expect(server!.ctx.audit.unavailable()).toMatch(/local audit journal cannot be written \(ENOSPC\)/);
    const err = await c.query(`select 'refused' as x`).then(
      () => undefined,
      (e: Error & { code?: string }) => e,
    );
    expect(err?.code).toBe('58030');
    expect(err?.message).toMatch(/audit journal cannot be written \(ENOSPC\); statements are not forwarded to db/);
    await volume.release();
    await vi.waitFor(() => expect(server!.ctx.audit.unavailable()).toBeUndefined(), { timeout: 10_000, interval: 100 });
    expect((await c.query(`select 'after' as x`)).rows[0].x).toBe('after');
    await c.end();
    await server!.ctx.audit.flush();
    const kept = await statements(url, admin);
    expect(kept).toEqual(expect.arrayContaining([`select 'before' as x`, `select 'unjournaled' as x`, `select 'after' as x`]));
    expect(kept).not.toContain(`select 'refused' as x`);
  }, 60_000);

  it('fails closed on every kind of target: open HTTP, Kubernetes and MCP tunnels answer 503 naming audit and forward nothing, and no new tunnel opens', async () => {
    const dataDir = join(work, 'server-full-all');
    volume = await mountSmallVolume(join(dataDir, 'audit-journal'), '64k');
    const { url } = await start(dataDir);
    const apiGrant = await grant(url, 'api');
    const kubeGrant = await grant(url, 'k8s');
    const dbGrant = await grant(url, 'db');
    const apiTunnel = await dialTunnel({ server: url, token: apiGrant.token, grantId: apiGrant.grantId });
    const kubeTunnel = await dialTunnel({ server: url, token: kubeGrant.token, grantId: kubeGrant.grantId });
    const mcpGrant = await grant(url, 'tickets');
    const mcpTunnel = await dialTunnel({ server: url, token: mcpGrant.token, grantId: mcpGrant.grantId });
    /** One HTTP/1.1 request on an open tunnel (a JSON-RPC POST when `rpc` is given); the answer's status and JSON body. */
    const ask = (tunnel: typeof apiTunnel, path: string, rpc?: string) =>
      new Promise<{ status: number; body: Record<string, unknown> }>((resolve, reject) => {
        let text = '';
        const onData = (d: Buffer) => {
          text += d.toString('utf8');
          const at = text.indexOf('\r\n\r\n');
          const length = Number(/content-length: (\d+)/i.exec(text)?.[1] ?? -1);
          if (at >= 0 && length >= 0 && Buffer.byteLength(text.slice(at + 4)) >= length) {
            tunnel.off('data', onData);
            resolve({ status: Number(text.slice(9, 12)), body: JSON.parse(text.slice(at + 4)) as Record<string, unknown> });
          }
        };
        tunnel.on('data', onData);
        tunnel.once('error', reject);
        if (rpc === undefined) tunnel.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
        else {
          const body = JSON.stringify({ jsonrpc: '2.0', id: 1, method: rpc, params: {} });
          tunnel.write(
            `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
          );
        }
      });
    expect((await ask(apiTunnel, '/v1/customers')).status).toBe(200);
    expect((await ask(kubeTunnel, '/api/v1/namespaces/default/pods')).status).toBe(200);
    expect((await ask(mcpTunnel, '/mcp', 'tools/list')).status).toBe(200);
    await server!.ctx.audit.flush();
    const apiSeen = api.seen.length;
    const kubeSeen = kube.seen.length;

    // The disk fills; the next event cannot be journaled.
    await volume.fill(0);
    expect((await ask(apiTunnel, '/v1/customers?one-more')).status).toBe(200);
    await vi.waitFor(() => expect(server!.ctx.audit.unavailable()).toMatch(/local audit journal cannot be written \(ENOSPC\)/), { timeout: 5_000, interval: 20 });

    const refusedApi = await ask(apiTunnel, '/v1/customers?refused');
    expect(refusedApi.status).toBe(503);
    expect(refusedApi.body).toMatchObject({ error: { code: 'audit_unavailable', message: expect.stringMatching(/audit journal cannot be written \(ENOSPC\); requests are not forwarded to api until/) } });
    const refusedKube = await ask(kubeTunnel, '/api/v1/namespaces/default/pods?refused');
    expect(refusedKube.status).toBe(503);
    expect(refusedKube.body).toMatchObject({ kind: 'Status', code: 503, reason: 'ServiceUnavailable', message: expect.stringMatching(/requests are not forwarded to k8s until/) });
    const refusedMcp = await ask(mcpTunnel, '/mcp', 'ping');
    expect(refusedMcp.status).toBe(503);
    expect(refusedMcp.body).toMatchObject({ jsonrpc: '2.0', error: { message: expect.stringMatching(/calls are not forwarded to tickets until/) } });
    expect(mcpSeen.filter((b) => b.includes('ping'))).toEqual([]);
    expect(api.seen.filter((r) => r.url.includes('refused'))).toEqual([]);
    expect(kube.seen.filter((r) => r.url.includes('refused'))).toEqual([]);
    // No new tunnel, to any target, while its events could not be kept.
    await expect(dialTunnel({ server: url, token: dbGrant.token, grantId: dbGrant.grantId })).rejects.toThrow(/cannot keep audit events right now/);

    await volume.release();
    await vi.waitFor(() => expect(server!.ctx.audit.unavailable()).toBeUndefined(), { timeout: 10_000, interval: 100 });
    expect((await ask(apiTunnel, '/v1/customers?after')).status).toBe(200);
    expect((await ask(kubeTunnel, '/api/v1/namespaces/default/pods?after')).status).toBe(200);
    expect((await ask(mcpTunnel, '/mcp', 'ping')).status).toBe(200);
    expect(mcpSeen.filter((b) => b.includes('ping'))).toHaveLength(1);
    expect(api.seen.length).toBe(apiSeen + 2);
    expect(kube.seen.length).toBe(kubeSeen + 1);
    const db = await dialTunnel({ server: url, token: dbGrant.token, grantId: dbGrant.grantId });
    db.destroy();
    apiTunnel.destroy();
    kubeTunnel.destroy();
    mcpTunnel.destroy();
  }, 60_000);
});
