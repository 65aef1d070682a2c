import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFile, rm, stat } from 'node:fs/promises';
import { WebSocket } from 'undici';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createTestPki, type TestPki } from '../helpers/certs.js';
import { gateEnv, type GateResult, type RunningGate, runGate, startGate } from '../helpers/gate-bin.js';
import { type HttpUpstream, startHttpUpstream } from '../helpers/http-upstream.js';
import { filesIn } from '../helpers/secret-scan.js';
import { type Stack, startStack } from '../helpers/stack.js';

// The built CLI and the real curl, through a real gate server's gateway, to a
// real HTTPS API in its own process (CA made here) that accepts only the
// roles' credentials.

const TOKEN = 'billing-ro-token-e2e-5f1c0a93d2';
const API_KEY = 'billing-admin-key-e2e-77ab10ce';
const PASSWORD = 'billing-ops-password-e2e-4e2d';
const SECRETS = [TOKEN, API_KEY, PASSWORD, Buffer.from(`ops:${PASSWORD}`).toString('base64')];

let pki: TestPki;
let up: HttpUpstream;
let stack: Stack;
let alice: string;
let carol: string;
let env: NodeJS.ProcessEnv;
let carolEnv: NodeJS.ProcessEnv;
let tunnel: RunningGate;
let base: string;
const dirs: string[] = [];
/** Everything a user could see (CLI output, curl output, env), checked for secrets at the end. */
const visible: string[] = [];

interface Curl {
  code: number;
  status: number;
  body: string;
  stderr: string;
}

/** Runs the real curl; `status` is the HTTP status it got (0 when none). */
function curl(args: string[], options: { encoding?: 'utf8' } = {}): Promise<Curl> {
  return new Promise((resolve) => {
    execFile(
      'curl',
      ['-sS', '--max-time', '60', '-w', '\n%{http_code}', ...args],
      { env: { PATH: process.env.PATH }, maxBuffer: 64 * 1024 * 1024, encoding: options.encoding ?? 'utf8' },
      (err, stdout, stderr) => {
        const cut = stdout.lastIndexOf('\n');
        const body = stdout.slice(0, cut);
        visible.push(body, stderr);
        resolve({ code: err ? Number(err.code ?? 1) : 0, status: Number(stdout.slice(cut + 1)) || 0, body, stderr });
      },
    );
  });
}

async function gate(args: string[], e = env): Promise<GateResult> {
  const r = await runGate(args, { env: e });
  visible.push(r.stdout, r.stderr);
  return r;
}

/** Waits until the audit log holds an event matching `pred` (the gateway writes in batches). */
async function auditEvent(pred: (e: { action: string; result: string; details: Record<string, unknown>; session_id: string | null }) => boolean) {
  for (;;) {
    await stack.server.ctx.audit.flush();
    const rows = await stack.server.ctx.audit.list({ targets: ['billing', 'billing-short', 'billing-bodies'], limit: 10_000 });
    const found = rows.map((r) => ({ ...r, details: JSON.parse(String(r.details)) })).find((r) => pred(r as never));
    if (found) return found as unknown as { action: string; result: string; actor: string; grant_id: string; session_id: string | null; correlation_id: string | null; details: Record<string, unknown> };
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function connect(target: string, extra: string[] = []): Promise<{ gate: RunningGate; url: string; ready: Record<string, unknown> }> {
  const g = startGate(['connect', target, '--json', ...extra], { env });
  const line = await g.waitFor(/"event":"ready"/, 'stdout');
  const ready = JSON.parse(line) as Record<string, unknown>;
  return { gate: g, url: String(ready.url), ready };
}

const target = (name: string) => `
  ${name}:
    type: http
    address: __ORIGIN__/api
    tls: { ca: env:E2E_HTTP_CA }
    roles:
      read:  { bearer: env:E2E_HTTP_TOKEN }
      admin: { headers: { X-Api-Key: env:E2E_HTTP_KEY } }
      ops:   { basic: { username: ops, password: env:E2E_HTTP_PASSWORD } }
    guardrails:
      - { deny: { methods: [DELETE], paths: ['/v1/customers/**'] }, message: 'customers are not deleted through the API' }
      - { require_approval: { methods: [POST], paths: ['/v1/refunds'] }, message: 'refunds need approval' }
    masking: { json_fields: [card.number, '**.ssn', customers.*.email], detectors: [email, credit_card], max_body_bytes: 65536 }
    audit:
      redact_query: [token, signature]`;

beforeAll(async () => {
  pki = await createTestPki();
  up = await startHttpUpstream({ pki, bearer: TOKEN, apiKey: API_KEY, basic: `ops:${PASSWORD}` });
  process.env.E2E_HTTP_CA = pki.ca.cert;
  process.env.E2E_HTTP_TOKEN = TOKEN;
  process.env.E2E_HTTP_KEY = API_KEY;
  process.env.E2E_HTTP_PASSWORD = PASSWORD;
  const yaml = `
admins: [platform]
targets:${target('billing')}${target('billing-short')}${target('billing-bodies')}
      bodies: true
      body_limit_bytes: 60
policies:
  - { name: eng-billing, groups: [engineering], targets: [billing], roles: [read, admin, ops], max_duration: 1h, approval: auto }
  - { name: eng-billing-bodies, groups: [engineering], targets: [billing-bodies], roles: [read], max_duration: 1h, approval: auto }
  - { name: eng-billing-short, groups: [engineering], targets: [billing-short], roles: [read], max_duration: 6s, approval: auto }
`.replaceAll('__ORIGIN__', up.origin);
  stack = await startStack({ configYaml: yaml });
  alice = await stack.loginAs('alice');
  carol = await stack.loginAs('carol');
  env = await gateEnv({ GATE_SERVER: stack.url, GATE_TOKEN: alice });
  carolEnv = await gateEnv({ GATE_SERVER: stack.url, GATE_TOKEN: carol });
  dirs.push(env.GATE_CONFIG_DIR!, carolEnv.GATE_CONFIG_DIR!);
  const c = await connect('billing', ['--role', 'read']);
  tunnel = c.gate;
  base = c.url;
});

afterAll(async () => {
  await tunnel?.stop('SIGINT');
  await stack?.close();
  await up?.close();
  await pki?.cleanup?.();
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe('gate connect to an HTTP target', () => {
  test('prints GATE_TARGET_URL on loopback and a curl example', async () => {
    expect(base).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const g = startGate(['connect', 'billing', '--role', 'read'], { env });
    try {
      const line = await g.waitFor(/GATE_TARGET_URL=http:\/\/127\.0\.0\.1:\d+/, 'stdout');
      const url = /GATE_TARGET_URL=(\S+)/.exec(line)![1]!;
      await g.waitFor(/curl .*http:\/\/127\.0\.0\.1:\d+/, 'stdout');
      const r = await curl([`${url}/v1/invoices`]);
      expect(r.status).toBe(200);
    } finally {
      await g.stop('SIGINT');
      visible.push(...g.lines.stdout, ...g.lines.stderr);
    }
  });

  test('GET reaches the API with the role credential in place of the client one, under the base path', async () => {
    const before = up.seen.length;
    const r = await curl(['-H', 'Authorization: Bearer users-own-token', '-H', 'Cookie: session=users-cookie', `${base}/v1/invoices?limit=5`]);
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body)).toEqual({ invoices: [{ id: 'in_1', amount: 4200 }] });
    const seen = up.seen.slice(before);
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({ method: 'GET', url: '/api/v1/invoices?limit=5', authorization: `Bearer ${TOKEN}`, cookie: null });
    expect(seen[0]!.host).toBe(new URL(up.origin).host);
  });

  test('POST streams its body to the API and the answer back', async () => {
    const body = JSON.stringify({ customer: 'c_1', amount: 1999 });
    const r = await curl(['-X', 'POST', '-H', 'content-type: application/json', '--data-binary', body, `${base}/v1/invoices`]);
    expect(r.status).toBe(201);
    expect(JSON.parse(r.body)).toEqual({ received: body, content_type: 'application/json' });
  });

  test('the API-key and basic roles inject their own credential', async () => {
    for (const [role, check] of [
      ['admin', (s: (typeof up.seen)[number]) => expect(s.x_api_key).toBe(API_KEY)],
      ['ops', (s: (typeof up.seen)[number]) => expect(s.authorization).toBe(`Basic ${Buffer.from(`ops:${PASSWORD}`).toString('base64')}`)],
    ] as const) {
      const c = await connect('billing', ['--role', role]);
      try {
        const before = up.seen.length;
        const r = await curl(['-H', 'X-Api-Key: users-own-key', `${c.url}/v1/invoices`]);
        expect(r.status).toBe(200);
        check(up.seen[before]!);
      } finally {
        await c.gate.stop('SIGINT');
      }
    }
  });

  test('a 50 MB download streams through without the gateway holding it', async () => {
    const size = 50 * 1024 * 1024;
    const baseline = process.memoryUsage().rss;
    let peak = baseline;
    const sampler = setInterval(() => {
      peak = Math.max(peak, process.memoryUsage().rss);
    }, 20);
    const r = await new Promise<{ code: number; out: string }>((resolve) => {
      execFile('sh', ['-c', `curl -sS --max-time 120 "${base}/v1/download?size=${size}" | sha256sum; echo "$?"`], (err, stdout) =>
        resolve({ code: err ? 1 : 0, out: stdout }),
      );
    });
    clearInterval(sampler);
    const expected = createHash('sha256');
    const chunk = Buffer.alloc(64 * 1024, 'gate-download-');
    for (let sent = 0; sent < size; sent += chunk.length) expected.update(chunk.subarray(0, Math.min(chunk.length, size - sent)));
    expect(r.out.split(/\s+/)[0]).toBe(expected.digest('hex'));
    // The whole body held in memory would add at least its size.
    // Holding the body would add at least its size; streaming costs a constant (measured: ~24 MB of GC slack for 50 and for 200 MB).
    expect(peak - baseline).toBeLessThan(size * 0.9);
  });

  test('server-sent events arrive as they are sent, detectors applied line by line', async () => {
    const r = await curl(['-N', '--max-time', '3', `${base}/v1/events`]);
    // --max-time ends the stream (exit 28) after some events arrived.
    expect(r.code).toBe(28);
    expect(r.body).toContain('event: tick');
    expect(r.body).toContain('"contact":"o***@example.com"');
    expect(r.body).not.toContain('ops@example.com');
  });

  test('a WebSocket upgrade passes through with the role credential, frames echo', async () => {
    const before = up.seen.length;
    const ws = new WebSocket(`${base.replace('http:', 'ws:')}/v1/ws`);
    const reply = await new Promise<string>((resolve, reject) => {
      ws.addEventListener('open', () => ws.send('hello'));
      ws.addEventListener('message', (e) => resolve(String(e.data)));
      ws.addEventListener('error', () => reject(new Error('websocket failed')));
    });
    ws.close();
    expect(reply).toBe('echo: hello');
    expect(up.seen[before]).toMatchObject({ method: 'GET', url: '/api/v1/ws', upgrade: 'websocket', authorization: `Bearer ${TOKEN}` });
  });
});

describe('rules', () => {
  test('a denied DELETE gets 403 with the rule message and never reaches the API', async () => {
    const before = up.seen.length;
    const r = await curl(['-X', 'DELETE', `${base}/v1/customers/42`]);
    expect(r.status).toBe(403);
    expect(JSON.parse(r.body).error).toMatchObject({ code: 'guardrail_denied', message: 'customers are not deleted through the API' });
    expect(up.seen.slice(before)).toEqual([]);
  });

  test.each([
    ['/v1/customers/%34%32', 403],
    ['/V1/Customers/42', 403],
    ['/v1//customers/42', 403],
    ['/v1/customers;x=1/42', 403],
    ['/v1/%63ustomers/42', 403],
    ['/v1/invoices/../customers/42', 400],
    ['/v1/invoices/%2e%2e/customers/42', 400],
    ['/v1/invoices%2F..%2Fcustomers/42', 400],
    ['/v1/customers%2F42', 400],
  ])('the path trick %s does not get a DELETE past the rule', async (path, status) => {
    const before = up.seen.length;
    const r = await curl(['--path-as-is', '-X', 'DELETE', `${base}${path}`]);
    expect(r.status).toBe(status);
    expect(JSON.parse(r.body).error.message).toMatch(status === 403 ? /customers are not deleted/ : /gate: refused/);
    expect(up.seen.slice(before)).toEqual([]);
  });

  test('a held POST names its approval; after gate approve the same request passes once', async () => {
    const body = '{"invoice":"in_1","amount":500}';
    const post = (data: string) => curl(['-X', 'POST', '-H', 'content-type: application/json', '--data-binary', data, `${base}/v1/refunds`]);
    const before = up.seen.length;
    const held = await post(body);
    expect(held.status).toBe(403);
    const err = JSON.parse(held.body).error;
    expect(err.code).toBe('approval_required');
    expect(err.approval_id).toMatch(/^a_/);
    expect(err.message).toContain('refunds need approval');
    expect(err.message).toContain(`gate approve ${err.approval_id}`);
    expect(up.seen.slice(before)).toEqual([]);

    const approved = await gate(['approve', err.approval_id], carolEnv);
    expect(approved.code).toBe(0);

    // Another body is another request: the approval does not cover it.
    const other = await post('{"invoice":"in_1","amount":50000}');
    expect(other.status).toBe(403);
    expect(JSON.parse(other.body).error.approval_id).not.toBe(err.approval_id);

    const passed = await post(body);
    expect(passed.status).toBe(201);
    expect(JSON.parse(passed.body)).toEqual({ refund: 'rf_1', body });
    const reached = up.seen.slice(before);
    expect(reached).toHaveLength(1);
    expect(reached[0]!.body_sha256).toBe(createHash('sha256').update(body).digest('hex'));

    const again = await post(body);
    expect(again.status).toBe(403);
    expect(JSON.parse(again.body).error.code).toBe('approval_required');
    expect(up.seen.slice(before)).toHaveLength(1);
  });
});

describe('masking', () => {
  test('named JSON fields (nested, arrays, any depth) and detectors in JSON strings', async () => {
    const r = await curl([`${base}/v1/customers`]);
    expect(r.status).toBe(200);
    const doc = JSON.parse(r.body);
    expect(doc.card).toEqual({ number: '****', brand: 'mastercard' });
    expect(doc.ssn).toBe('****');
    expect(doc.customers.map((c: { email: string }) => c.email)).toEqual(['****', '****']);
    expect(doc.customers.map((c: { profile: { ssn: string } }) => c.profile.ssn)).toEqual(['****', '****']);
    expect(doc.customers[0].profile.note).toBe('call a***@example.org');
    expect(doc.customers[1].profile.note).toBe('card **** **** **** 1111 on file');
    expect(r.body).not.toMatch(/ann@example|078-05-1120|5555555555554444|4111 1111 1111 1111/);
  });

  test('a text body passes the detectors as text', async () => {
    const r = await curl([`${base}/v1/note`]);
    expect(r.status).toBe(200);
    expect(r.body).toBe('Reach me at j***@example.com, card ****-****-****-1111.\n');
  });

  test('a body larger than the masking bound is refused, never passed unmasked', async () => {
    const r = await curl([`${base}/v1/big`]);
    expect(r.status).toBe(502);
    const err = JSON.parse(r.body).error;
    expect(err.code).toBe('masked_body_too_large');
    expect(err.message).toContain('masking.max_body_bytes');
    expect(r.body).not.toContain('user1@example.com');
  });
});

describe('the local listener', () => {
  test('answers only loopback Host names and refuses browser Origins', async () => {
    const before = up.seen.length;
    const host = await curl(['-H', 'Host: evil.example', `${base}/v1/invoices`]);
    const fetchSite = await curl(['-H', 'Sec-Fetch-Site: cross-site', `${base}/v1/invoices`]);
    expect(fetchSite.status).toBe(403);
    expect(host.status).toBe(421);
    expect(JSON.parse(host.body).error.code).toBe('host_not_allowed');
    const origin = await curl(['-H', 'Origin: https://evil.example', `${base}/v1/invoices`]);
    expect(origin.status).toBe(403);
    expect(JSON.parse(origin.body).error.code).toBe('browser_origin_refused');
    expect(up.seen.slice(before)).toEqual([]);
    const localhost = await curl([`${base.replace('127.0.0.1', 'localhost')}/v1/invoices`]);
    expect(localhost.status).toBe(200);
  });

  test('--local-password prints a one-time bearer once, requires it, and strips it', async () => {
    const g = startGate(['connect', 'billing', '--role', 'read', '--local-password'], { env });
    try {
      const line = await g.waitFor(/GATE_LOCAL_BEARER=/, 'stdout');
      await g.waitFor(/curl /, 'stdout');
      const bearer = /GATE_LOCAL_BEARER=(\S+)/.exec(line)![1]!;
      const url = /GATE_TARGET_URL=(\S+)/.exec(g.lines.stdout.join('\n'))![1]!;
      expect(g.lines.stdout.join('\n').split(bearer)).toHaveLength(2);
      const before = up.seen.length;
      const none = await curl([`${url}/v1/invoices`]);
      expect(none.status).toBe(401);
      expect(JSON.parse(none.body).error.code).toBe('local_password_required');
      const wrong = await curl(['-H', 'Authorization: Bearer nope', `${url}/v1/invoices`]);
      expect(wrong.status).toBe(401);
      expect(up.seen.slice(before)).toEqual([]);
      const ok = await curl(['-H', `Authorization: Bearer ${bearer}`, `${url}/v1/invoices`]);
      expect(ok.status).toBe(200);
      expect(up.seen[before]!.authorization).toBe(`Bearer ${TOKEN}`);
    } finally {
      await g.stop('SIGINT');
    }
  });
});

describe('gate exec', () => {
  test('sets GATE_TARGET_URL without proxy variables; curl works; recorded with the session id in the audit', async () => {
    const e = { ...env, HTTP_PROXY: 'http://127.0.0.1:9', http_proxy: 'http://127.0.0.1:9', HTTPS_PROXY: 'http://127.0.0.1:9' };
    const r = await gate(['exec', 'billing', '--role', 'read', '--', 'sh', '-c', 'curl -sS "$GATE_TARGET_URL/v1/invoices?token=abc&page=2"; echo; env'], e);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('"invoices"');
    expect(r.stdout).toMatch(/GATE_TARGET_URL=http:\/\/127\.0\.0\.1:\d+/);
    expect(r.stdout).not.toMatch(/HTTP_PROXY|http_proxy|HTTPS_PROXY/);
    const sessionId = /GATE_SESSION_ID=(\S+)/.exec(r.stdout)![1]!;
    const event = await auditEvent((x) => x.action === 'http.request' && x.session_id === sessionId);
    expect(event.details).toMatchObject({ method: 'GET', path: '/v1/invoices', query: 'page=2', status: 200 });
    expect(event.actor).toBeTruthy();
    expect(event.grant_id).toMatch(/^g_/);
  });
});

describe('audit', () => {
  test('each request is an http.request event with method, path, redacted query, status, bytes and duration', async () => {
    const r = await curl(['-X', 'POST', '--data-binary', 'abc', `${base}/v1/invoices?signature=s3cr3t&x=1&Token=t`]);
    expect(r.status).toBe(201);
    const e = await auditEvent((x) => x.action === 'http.request' && x.details.method === 'POST' && x.details.query === 'x=1');
    expect(e.result).toBe('ok');
    expect(e.details).toMatchObject({ path: '/v1/invoices', status: 201, bytes_in: 3 });
    expect(e.details.bytes_out).toBeGreaterThan(0);
    expect(typeof e.details.duration_ms).toBe('number');
    expect(JSON.stringify(e.details)).not.toContain('s3cr3t');
    expect(e.details).not.toHaveProperty('request_body');
    const denied = await auditEvent((x) => x.action === 'http.request' && x.result === 'denied' && x.details.method === 'DELETE');
    expect(denied.details).toMatchObject({ status: 403, code: 'guardrail_denied' });
  });
});

describe('audit.bodies', () => {
  test('stores the request and response bodies masked and capped, only when the target asks', async () => {
    const c = await connect('billing-bodies', ['--role', 'read']);
    try {
      const body = JSON.stringify({ card: { number: '4111111111111111' }, to: 'ann@example.com', pad: 'x'.repeat(80) });
      const r = await curl(['-X', 'POST', '-H', 'content-type: application/json', '--data-binary', body, `${c.url}/v1/invoices?bodies=1`]);
      expect(r.status).toBe(201);
      const e = await auditEvent((x) => x.action === 'http.request' && x.details.query === 'bodies=1');
      const reqBody = String(e.details.request_body);
      const resBody = String(e.details.response_body);
      expect(reqBody.length).toBeLessThanOrEqual(60);
      expect(reqBody).toContain('{"card":{"number":"************1111"');
      expect(reqBody).not.toContain('4111111111111111');
      expect(resBody.length).toBeLessThanOrEqual(60);
      expect(resBody).not.toContain('4111111111111111');
      expect(resBody).not.toContain('ann@example.com');
    } finally {
      await c.gate.stop('SIGINT');
    }
  });
});

describe('the end of the grant', () => {
  test('expiry closes an open event stream; the client is told why', async () => {
    const c = await connect('billing-short', ['--role', 'read']);
    try {
      const closed = up.notes.length;
      const r = await curl(['-N', `${c.url}/v1/events`]);
      expect(r.body).toContain('event: tick');
      expect(r.body).toContain('event: gate-error');
      expect(r.body).toMatch(/"code":"grant_expired"/);
      expect(r.body).toMatch(/has ended: gate grant g_\w+ expired/);
      // The upstream stream was closed too.
      await up.waitForNote((n, i = up.notes.indexOf(n)) => i >= closed && n.event_stream_closed === true);
    } finally {
      await c.gate.stop('SIGINT');
    }
  });
});

describe('gate targets', () => {
  test('shows HTTP targets with their rules, also as JSON', async () => {
    const t = await gate(['targets']);
    expect(t.code).toBe(0);
    expect(t.stdout).toMatch(/billing\tdeny\tDELETE \/v1\/customers\/\*\*\tcustomers are not deleted through the API/);
    expect(t.stdout).toMatch(/billing\tapproval\tPOST \/v1\/refunds\trefunds need approval/);
    const j = await gate(['targets', '--json']);
    const billing = JSON.parse(j.stdout).targets.find((x: { name: string }) => x.name === 'billing');
    expect(billing.type).toBe('http');
    expect(billing.rules).toEqual([
      { kind: 'deny', methods: ['DELETE'], paths: ['/v1/customers/**'], message: 'customers are not deleted through the API' },
      { kind: 'require_approval', methods: ['POST'], paths: ['/v1/refunds'], message: 'refunds need approval' },
    ]);
    expect(j.stdout).not.toContain(up.origin);
    expect(j.stdout).not.toContain('env:E2E');
  });
});

describe('the credential', () => {
  test('never reaches the client: not in output, environment, files or recordings', async () => {
    visible.push(...tunnel.lines.stdout, ...tunnel.lines.stderr);
    await stack.server.ctx.audit.flush();
    // Regular files only (the server's data dir also holds its lock, a socket).
    const files: string[] = [];
    for (const d of [...dirs, stack.dataDir]) {
      for (const f of await filesIn(d)) if ((await stat(f)).size < 64 * 1024 * 1024) files.push(f);
    }
    const recordings = files.filter((f) => f.includes('recordings'));
    expect(recordings.length).toBeGreaterThan(0);
    const contents = await Promise.all(files.map((f) => readFile(f)));
    for (const secret of SECRETS) {
      for (const text of visible) expect(text).not.toContain(secret);
      for (const [i, c] of contents.entries()) expect(c.includes(secret), files[i]).toBe(false);
    }
  });
});

describe('revocation', () => {
  test('revoking the grant closes an open WebSocket with the reason', async () => {
    const c = await connect('billing', ['--role', 'ops']);
    try {
      const ws = new WebSocket(`${c.url.replace('http:', 'ws:')}/v1/ws`);
      await new Promise<void>((resolve, reject) => {
        ws.addEventListener('open', () => ws.send('ping'));
        ws.addEventListener('message', () => resolve());
        ws.addEventListener('error', () => reject(new Error('websocket failed')));
      });
      const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.addEventListener('close', (e) => resolve({ code: e.code, reason: e.reason })));
      const revoked = await gate(['revoke', String(c.ready.grant_id)]);
      expect(revoked.code).toBe(0);
      const e = await closed;
      expect(e.code).toBe(1008);
      expect(e.reason).toMatch(/has ended: gate grant g_\w+ was revoked/);
      expect(await c.gate.exited).toBe(5);
    } finally {
      await c.gate.stop('SIGINT');
    }
  });
});
