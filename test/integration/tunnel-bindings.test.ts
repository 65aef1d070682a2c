/**
 * Sessions belong to their caller, `recording: required` is the server's
 * rule, and one grant cannot exhaust a target (issue 13). A real gate server,
 * real tunnels to a TCP echo service, the built `gate connect`, raw sockets.
 */
import { randomUUID } from 'node:crypto';
import { connect as netConnect, createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dialTunnel } from '../../src/tunnel/dialer.js';
import { gateEnv, startGate } from '../helpers/gate-bin.js';
import { runCli } from '../helpers/stack.js';
import { startTokenStack, type TokenStack } from '../helpers/token-stack.js';

type Grant = { id: string; state: string };
type AuditEvent = { action: string; result: string; actor: string | null; session_id: string | null; details: Record<string, unknown> };

let echo: Server;
let stack: TokenStack;
let alice: string;
let bob: string;
let carol: string;

async function grantFor(token: string, target: string): Promise<string> {
  const r = await stack.api<{ grant: Grant }>(token, 'POST', '/v1/grants', { target });
  expect(r.body.grant.state).toBe('active');
  return r.body.grant.id;
}

async function createSession(token: string, grant: string, target: string): Promise<string> {
  const id = randomUUID();
  const r = await stack.api(token, 'POST', '/v1/sessions', {
    id,
    target,
    user: 'x',
    grant,
    command: 'psql',
    width: 80,
    height: 24,
    startedAt: new Date().toISOString(),
    recordInput: false,
  });
  expect(r.status).toBe(201);
  return id;
}

async function roundTrip(socket: Socket, text: string): Promise<string> {
  socket.write(text);
  return new Promise((resolve) => socket.once('data', (d: Buffer) => resolve(d.toString())));
}

async function audit(): Promise<AuditEvent[]> {
  await stack.server.ctx.audit.flush();
  return (await stack.api<{ events: AuditEvent[] }>(carol, 'GET', '/v1/audit?limit=10000')).body.events;
}

beforeAll(async () => {
  echo = createServer((s) => s.pipe(s));
  await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
  const address = `127.0.0.1:${(echo.address() as { port: number }).port}`;
  stack = await startTokenStack(`targets:
  echo:     { type: tcp, address: '${address}' }
  recorded: { type: tcp, address: '${address}', recording: required }
  small:    { type: tcp, address: '${address}' }
admins: [platform]
policies:
  - { name: eng, groups: [engineering], targets: [echo, recorded, small], roles: [default], max_duration: 1h, approval: auto }
limits:
  connections_per_grant: 2
  connections_per_target: 3
  tunnel_startup_timeout: 1s
  header_timeout: 1s
`);
  alice = await stack.human('alice', ['engineering']);
  bob = await stack.human('bob', ['engineering']);
  carol = await stack.human('carol', ['platform']);
});

afterAll(async () => {
  await stack?.close();
  echo?.close();
});

describe('sessions belong to their caller', () => {
  it("another user's tunnel carrying alice's session id is refused, and none of its events join her timeline", async () => {
    const aliceGrant = await grantFor(alice, 'echo');
    const sessionId = await createSession(alice, aliceGrant, 'echo');
    const bobGrant = await grantFor(bob, 'echo');

    await expect(dialTunnel({ server: stack.url, token: bob, grantId: bobGrant, sessionId })).rejects.toThrow(
      `Session ${sessionId} belongs to someone else: a tunnel can only join your own recorded session.`,
    );
    // Her own tunnel joins it.
    const own = await dialTunnel({ server: stack.url, token: alice, grantId: aliceGrant, sessionId });
    expect(await roundTrip(own, 'hello')).toBe('hello');
    own.destroy();

    const shown = await stack.api<{ events: AuditEvent[] }>(alice, 'GET', `/v1/sessions/${sessionId}`);
    const actors = new Set(shown.body.events.map((e) => e.actor));
    expect(actors).toEqual(new Set(['alice']));
    expect(shown.body.events.map((e) => e.action)).toContain('tunnel.open');
    // `gate sessions show` names the actor of every event it lists.
    const table = await runCli(['sessions', 'show', sessionId], { env: { GATE_TOKEN: alice, GATE_SERVER: stack.url } });
    expect(table.code).toBe(0);
    // Piped, the table is tab-separated with no header: time, actor, action, result, what.
    const rows = table.stdout.split('\n').filter((l) => /\ttunnel\.(open|close)\t/.test(l));
    expect(rows.length).toBeGreaterThan(0);
    for (const row of rows) expect(row.split('\t')[1]).toBe('alice');
    const refused = (await audit()).find((e) => e.action === 'tunnel.refused' && e.details.session_id === sessionId);
    expect(refused).toMatchObject({ actor: 'bob', result: 'denied', session_id: null });
  });
});

describe('recording: required is enforced by the server', () => {
  it('a raw tunnel with no session is refused with a message naming the recorded commands', async () => {
    const grantId = await grantFor(alice, 'recorded');
    await expect(dialTunnel({ server: stack.url, token: alice, grantId })).rejects.toThrow(
      /Target recorded requires a recorded session \(recording: required\), and this tunnel is not part of one: use `gate exec`/,
    );
    // Bound to her live recorded session under that grant, it opens.
    const sessionId = await createSession(alice, grantId, 'recorded');
    const socket = await dialTunnel({ server: stack.url, token: alice, grantId, sessionId });
    expect(await roundTrip(socket, 'rec')).toBe('rec');
    socket.destroy();
  });

  it('gate connect is refused, and says to use a recording command', async () => {
    const env = await gateEnv({ GATE_TOKEN: alice, GATE_SERVER: stack.url });
    const gate = startGate(['connect', 'recorded', '--json'], { env });
    try {
      const ready = JSON.parse(await gate.waitFor(/"event":"ready"/, 'stdout')) as { port: number };
      const client = netConnect(ready.port, '127.0.0.1');
      client.on('error', () => {});
      const line = await gate.waitFor(/"event":"connection_error"/, 'stdout');
      expect(JSON.parse(line).message).toMatch(/requires a recorded session \(recording: required\).*`gate exec`/);
      client.destroy();
    } finally {
      await gate.stop('SIGINT');
    }
  });
});

describe('bounded resources', () => {
  it('one grant holds at most connections_per_grant tunnels; the next is refused and audited', async () => {
    const grantId = await grantFor(alice, 'small');
    const held = [await dialTunnel({ server: stack.url, token: alice, grantId }), await dialTunnel({ server: stack.url, token: alice, grantId })];
    for (const s of held) expect(await roundTrip(s, 'x')).toBe('x');
    await expect(dialTunnel({ server: stack.url, token: alice, grantId })).rejects.toThrow(
      `Grant ${grantId} already has 2 open connections, the most one grant may hold (limits.connections_per_grant); close one first.`,
    );
    // A closed tunnel gives its slot back.
    const closed = new Promise((r) => held[0]!.once('close', r));
    held[0]!.destroy();
    await closed;
    let again: Socket | undefined;
    for (let i = 0; i < 100 && !again; i++) {
      again = await dialTunnel({ server: stack.url, token: alice, grantId }).catch(() => undefined);
      if (!again) await new Promise((r) => setTimeout(r, 20));
    }
    expect(await roundTrip(again!, 'y')).toBe('y');

    // The target as a whole: bob's grant gets one more, then the target is full.
    const bobGrant = await grantFor(bob, 'small');
    const third = await dialTunnel({ server: stack.url, token: bob, grantId: bobGrant });
    await expect(dialTunnel({ server: stack.url, token: bob, grantId: bobGrant })).rejects.toThrow(
      'Target small already has 3 open connections through gate, the most it takes (limits.connections_per_target); try again later.',
    );
    const limits = (await audit()).filter((e) => e.action === 'tunnel.limit');
    expect(limits.map((e) => e.details.limit)).toEqual(expect.arrayContaining(['connections_per_grant', 'connections_per_target']));
    for (const s of [held[1]!, again!, third]) s.destroy();
  });

  it('a tunnel whose client never speaks is closed after the startup timeout, and that is audited', async () => {
    const grantId = await grantFor(bob, 'echo');
    const silent = await dialTunnel({ server: stack.url, token: bob, grantId });
    await new Promise((r) => silent.once('close', r));
    const cut = (await audit()).find((e) => e.action === 'tunnel.limit' && e.details.limit === 'tunnel_startup_timeout');
    expect(cut).toMatchObject({ actor: 'bob', result: 'denied' });
    const closed = (await audit()).filter((e) => e.action === 'tunnel.close' && e.details.reason === 'startup_timeout');
    expect(closed.length).toBeGreaterThan(0);
  });

  it('a slowloris upgrade request is answered 408 after the header timeout, with a JSON reason', async () => {
    const { hostname, port } = new URL(stack.url);
    const answer = await new Promise<string>((resolve) => {
      let text = '';
      const s = netConnect(Number(port), hostname, () => s.write('GET /v1/tunnel HTTP/1.1\r\nHost: gate\r\nUpgrade: gate-tunnel/1\r\n'));
      s.setEncoding('utf8');
      s.on('data', (d) => {
        text += d;
      });
      s.on('error', () => {});
      s.on('close', () => resolve(text));
    });
    expect(answer).toMatch(/^HTTP\/1\.1 408 Request Timeout/);
    expect(answer).toContain(`"code":"request_timeout"`);
    expect(answer).toContain('limits.header_timeout');
    expect((await audit()).some((e) => e.action === 'http.limit' && e.details.limit === 'header_timeout')).toBe(true);
  });

  it('a request body over the cap is refused with 413 and a clear message', async () => {
    const r = await stack.api<{ error: { code: string; message: string } }>(alice, 'POST', '/v1/grants', { target: 'echo', reason: 'x'.repeat(5 * 1024 * 1024) });
    expect(r.status).toBe(413);
    expect(r.body.error.message).toMatch(/larger than the \d+ bytes this endpoint accepts \(limits.max_request_bytes\)/);
    expect((await audit()).some((e) => e.action === 'http.limit' && e.details.limit === 'max_request_bytes')).toBe(true);
  });
});
