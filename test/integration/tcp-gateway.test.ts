/**
 * TCP targets end to end: a real gate server, the built CLI's `gate connect
 * --json`, a plain socket client, and an echo service upstream. Bytes pass
 * untouched, connect and disconnect are audited with byte counts, and the
 * tunnel is cut within a second of revocation and of expiry.
 */
import { createServer, connect as netConnect, type Server, type Socket } from 'node:net';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { gateEnv, type RunningGate, startGate } from '../helpers/gate-bin.js';
import { runCli, type Stack, startStack } from '../helpers/stack.js';

let echo: Server;
let echoPort: number;
let stack: Stack;
let alice: string;
let carol: string;
const running: RunningGate[] = [];
const upstreamSockets = new Set<Socket>();

beforeAll(async () => {
  echo = createServer((s) => {
    upstreamSockets.add(s);
    s.on('close', () => upstreamSockets.delete(s));
    s.on('error', () => {});
    s.pipe(s);
  });
  await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
  echoPort = (echo.address() as { port: number }).port;
  stack = await startStack({
    configYaml: `
admins: [platform]
targets:
  echo:
    type: tcp
    address: 127.0.0.1:${echoPort}
  nothing:
    type: tcp
    address: 127.0.0.1:9
policies:
  - { name: eng-echo, groups: [engineering], targets: [echo, nothing], roles: [default], max_duration: 10m, approval: auto }
`,
  });
  alice = await stack.loginAs('alice');
  carol = await stack.loginAs('carol');
});

afterAll(async () => {
  for (const g of running) await g.stop('SIGKILL');
  await stack?.close();
  for (const s of upstreamSockets) s.destroy();
  await new Promise((r) => echo?.close(r));
});

async function connectTcp(target: string): Promise<{ gate: RunningGate; port: number; grantId: string; expiresAt: string }> {
  const gate = startGate(['connect', target, '--json'], { env: await gateEnv({ GATE_TOKEN: alice, GATE_SERVER: stack.url }) });
  running.push(gate);
  const ready = JSON.parse(await gate.waitFor(/"event":"ready"/, 'stdout'));
  expect(ready).toMatchObject({ target, url: `tcp://127.0.0.1:${ready.port}` });
  return { gate, port: Number(ready.port), grantId: String(ready.grant_id), expiresAt: String(ready.expires_at) };
}

/** A client socket through the tunnel, with everything it receives and a promise of its close. */
async function client(port: number) {
  const socket = netConnect(port, '127.0.0.1');
  socket.on('error', () => {});
  await new Promise<void>((r, j) => socket.once('connect', () => r()).once('error', j));
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  const closed = new Promise<void>((r) => socket.once('close', () => r()));
  return { socket, received: () => Buffer.concat(chunks), closed };
}

async function until(check: () => boolean | Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function auditOf(grantId: string) {
  await stack.server.ctx.audit.flush();
  return (await stack.server.ctx.audit.list({ targets: ['echo', 'nothing'], limit: 1000 })).filter((r) => r.grant_id === grantId);
}

describe('tcp targets', () => {
  test('bytes pass both ways untouched, and connect/disconnect are audited with the byte counts', async () => {
    const { gate, port, grantId } = await connectTcp('echo');
    const c = await client(port);
    const payload = Buffer.concat([Buffer.from('hello through gate\n'), Buffer.from([0, 1, 2, 255, 254, 13, 10])]);
    c.socket.write(payload);
    await until(() => c.received().length >= payload.length, 'the echo');
    expect(c.received().equals(payload)).toBe(true);
    c.socket.end();
    await c.closed;
    await until(async () => (await auditOf(grantId)).some((r) => r.action === 'tcp.disconnect'), 'the tcp.disconnect audit row');
    const rows = await auditOf(grantId);
    expect(rows.find((r) => r.action === 'tcp.connect')).toMatchObject({ result: 'ok', actor: 'alice' });
    const disconnect = JSON.parse(rows.find((r) => r.action === 'tcp.disconnect')!.details);
    expect(disconnect).toMatchObject({ bytes_from_client: payload.length, bytes_to_client: payload.length });
    await gate.stop('SIGINT');
  });

  test('revocation cuts an open connection within a second; gate connect says so and exits 5', async () => {
    const { gate, port, grantId } = await connectTcp('echo');
    const c = await client(port);
    c.socket.write('ping');
    await until(() => c.received().toString() === 'ping', 'the first echo');
    const started = performance.now();
    const revoke = await runCli(['revoke', grantId], { env: { GATE_TOKEN: carol, GATE_SERVER: stack.url } });
    expect(revoke.code, revoke.stderr).toBe(0);
    await c.closed;
    expect(performance.now() - started, 'cut more than a second after the revocation').toBeLessThan(1_000);
    expect(await gate.exited).toBe(5);
    expect(gate.lines.stdout.map((l) => JSON.parse(l)).at(-1)).toMatchObject({ event: 'closed', reason: 'revoked' });
    // Upstream, the service's end is closed too.
    await until(() => upstreamSockets.size === 0, 'the upstream socket to close');
  });

  test('expiry cuts an open connection within a second; gate connect exits 0', async () => {
    const { gate, port, grantId, expiresAt } = await connectTcp('echo');
    const c = await client(port);
    c.socket.write('ping');
    await until(() => c.received().toString() === 'ping', 'the first echo');
    const started = performance.now();
    await stack.advanceClock(Date.parse(expiresAt) - Date.now() + 1_000);
    await c.closed;
    expect(performance.now() - started, 'cut more than a second after the expiry').toBeLessThan(1_000);
    expect(await gate.exited).toBe(0);
    expect(gate.lines.stdout.map((l) => JSON.parse(l)).at(-1)).toMatchObject({ event: 'closed', reason: 'expired' });
    const res = await request(`${stack.url}/v1/grants/${grantId}`, { headers: { authorization: `Bearer ${alice}` } });
    expect(((await res.body.json()) as { grant: { state: string } }).grant.state).toBe('expired');
  });

  test('an upstream that refuses: the client is closed, the failure is audited, gate connect keeps serving', async () => {
    const { gate, port, grantId } = await connectTcp('nothing');
    const c = await client(port);
    await c.closed;
    expect(c.received().length).toBe(0);
    await until(async () => (await auditOf(grantId)).some((r) => r.action === 'tcp.connect'), 'the tcp.connect audit row');
    const row = (await auditOf(grantId)).find((r) => r.action === 'tcp.connect')!;
    expect(row.result).toBe('error');
    expect(JSON.parse(row.details)).toMatchObject({ address: '127.0.0.1:9', error: 'ECONNREFUSED' });
    expect(gate.child.exitCode).toBeNull();
    await gate.stop('SIGINT');
  });
});
