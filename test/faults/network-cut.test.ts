/**
 * A network cut between the CLI and the server: the balancer resets every
 * connection it carries (as a failed link or a balancer restart does).
 * Tunnels end with a message that says so, a new connection works as soon
 * as the path is back, and a recording whose upload was cut goes up with
 * the next gate command. Then a black hole (bytes dropped, sockets left
 * open): with the tunnel heartbeat a client hears gate's message within
 * interval + timeout, without it (GATE_TUNNEL_PING_INTERVAL=0) it waits;
 * an agent's `gate_sql` call through `gate mcp` fails the same way.
 */
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { GATE_BIN, runGate, type RunningGate } from '../helpers/gate-bin.js';
import { loopOverTunnel, psqlSession, startConnect } from './harness/clients.js';
import { recordFigures } from './harness/figures.js';
import { type Fleet, startReadFleet } from './harness/fleet.js';
import { until } from './harness/wait.js';

let fleet: Fleet;
const gates: RunningGate[] = [];

/** Short heartbeat settings for the replicas and the CLIs of this file (defaults: 5 s and 15 s). */
const HEARTBEAT = { GATE_TUNNEL_PING_INTERVAL: '1s', GATE_TUNNEL_PING_TIMEOUT: '3s' };
const HEARTBEAT_BOUND_MS = 1_000 + 3_000 + 5_000;

beforeAll(async () => {
  fleet = await startReadFleet({ recordOutput: true, serverEnv: HEARTBEAT });
});

/** Resolves with `p`, or with 'timeout' after `ms`: cleanup after a black hole must not hang the file. */
const bounded = <T>(p: Promise<T>, ms: number) => Promise.race([p, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), ms))]);

afterAll(async () => {
  await Promise.all(gates.map((g) => g.stop('SIGTERM').catch(() => {})));
  await fleet?.close();
});


it('a cut ends tunnels with a clear message, the next connection works, and the recording goes up with the next gate command', async () => {
  const token = await fleet.token('alice', ['engineering']);
  const env = await fleet.cliEnv(token);
  const connect = await startConnect(env, 'db', 'read');
  gates.push(connect.gate);
  const loop = loopOverTunnel('c0', connect.port, 'app_ro', 100);
  const psqlEnv = await fleet.cliEnv(token);
  const session = psqlSession(psqlEnv, 'p0', 'db', 'read', 150);
  await until('both clients reach the target', async () =>
    Number((await fleet.target.query<{ n: string }>(`SELECT count(*) AS n FROM pg_stat_activity WHERE usename = 'app_ro'`))[0]!.n) >= 2);
  await until('the tunnel client has answers', () => loop.acked.length >= 3);

  const cutAt = performance.now();
  fleet.lb.cut();
  await until('the tunnel client hears of the cut', () => loop.errors.length > 0);
  expect(loop.errors[0]!.message).toMatch(/^gate: the connection to the gate server was lost/);
  // The path is back at once: the next connection through the same `gate connect` works.
  await until('the tunnel client is answered again', () => loop.ackedAt.some((t) => t > loop.errors[0]!.at));
  const recovery = Math.round(loop.ackedAt.find((t) => t > loop.errors[0]!.at)! - cutAt);
  await loop.stop();

  const code = await session.exited;
  expect(code).not.toBe(0);
  expect(session.stderr()).toContain('FATAL:  gate: the connection to the gate server was lost');
  const sessionId = /session ([0-9a-f-]{36})/.exec(session.stderr())?.[1];
  // Whether its upload got through or waits in the spool, the next gate command leaves it on the server.
  const listed = await runGate(['sessions', '--json', '--target', 'db'], { env: psqlEnv });
  expect(listed.code).toBe(0);
  const sessions = JSON.parse(listed.stdout) as { sessions?: { id: string }[] } | { id: string }[];
  const ids = (Array.isArray(sessions) ? sessions : (sessions.sessions ?? [])).map((s) => s.id);
  const psqlSessionId = sessionId ?? ids[0]!;
  expect(ids).toContain(psqlSessionId);
  const exported = await runGate(['sessions', 'export', psqlSessionId], { env: psqlEnv });
  expect(exported.code).toBe(0);
  // The recording holds what the user saw, to the end: gate's message about the cut included.
  expect(exported.stdout).toContain('gate: the connection to the gate server was lost');
  expect(exported.stdout.split('\n')[0]).toContain(`"session_id":"${psqlSessionId}"`);
  await recordFigures('network_cut', {
    connections_cut: 'all (balancer reset)',
    tunnel_statements_answered: loop.acked.length,
    recording_uploaded_after: sessionId ? 'next gate command (kept in spool)' : 'the session end',
    recovery_ms: recovery,
  });
});

it('a black hole: with the heartbeat the tunnel ends with gate\'s FATAL within seconds and the server audits link_lost; without it the client waits', async () => {
  const token = await fleet.token('alice', ['engineering']);
  const off = await startConnect(await fleet.cliEnv(token, { GATE_TUNNEL_PING_INTERVAL: '0' }), 'db', 'read');
  const on = await startConnect(await fleet.cliEnv(token, HEARTBEAT), 'db', 'read');
  gates.push(off.gate, on.gate);
  const loopOff = loopOverTunnel('h0', off.port, 'app_ro', 100);
  const loopOn = loopOverTunnel('h1', on.port, 'app_ro', 100);
  const psqlEnv = await fleet.cliEnv(token, HEARTBEAT);
  const session = psqlSession(psqlEnv, 'hp', 'db', 'read', 150);
  await until('every client has answers', () => loopOff.acked.length >= 3 && loopOn.acked.length >= 3 && session.acked.length >= 3);
  const linkLost = async () =>
    Number(
      (
        await fleet.store.query<{ n: string }>(
          `SELECT count(*) AS n FROM audit_events WHERE action = 'tunnel.close' AND details::text LIKE '%link_lost%'`,
          [],
          'gate_fleet',
        )
      )[0]!.n,
    );
  expect(await linkLost()).toBe(0);

  const cutAt = performance.now();
  fleet.lb.blackhole(true);
  let detectedMs = 0;
  try {
    await until('the heartbeat client hears of the black hole', () => loopOn.errors.length > 0, HEARTBEAT_BOUND_MS);
    detectedMs = Math.round(loopOn.errors[0]!.at - cutAt);
    expect(loopOn.errors[0]!.message).toBe('gate: lost the gate server: no answer for 3 s');
    await until('gate psql shows gate\'s FATAL', () => session.stderr().includes('FATAL:  gate: lost the gate server: no answer for 3 s'), HEARTBEAT_BOUND_MS);
    expect(session.stderr()).toContain('HINT:  The network between this machine and the gate server stopped carrying packets');
    // Without the heartbeat, the same bound passes in silence: that client waits for TCP.
    expect(loopOff.errors).toEqual([]);
    await until(
      'the server audits tunnel.close with link_lost',
      async () => (await linkLost()) > 0,
      HEARTBEAT_BOUND_MS,
    );
    expect(loopOff.errors).toEqual([]);
  } finally {
    fleet.lb.blackhole(false);
  }
  expect(await bounded(session.exited, 60_000)).not.toBe(0);
  await bounded(on.gate.stop('SIGTERM'), 15_000);
  await bounded(off.gate.stop('SIGTERM'), 15_000);
  await bounded(Promise.all([loopOn.stop(), loopOff.stop()]), 30_000);
  await recordFigures('network_black_hole', {
    heartbeat: '1s interval, 3s timeout',
    detected_ms: detectedMs,
    bound_ms: HEARTBEAT_BOUND_MS,
    without_heartbeat: `no error within ${HEARTBEAT_BOUND_MS} ms`,
  });
});

it("a black hole under an agent's gate_sql call: the call fails within the heartbeat's bound saying the link is lost, and the next call works", async () => {
  const token = await fleet.token('alice', ['engineering']);
  const env = await fleet.cliEnv(token, HEARTBEAT);
  const transport = new StdioClientTransport({ command: process.execPath, args: [GATE_BIN, 'mcp'], env: env as Record<string, string>, stderr: 'pipe' });
  const agent = new Client({ name: 'faults-agent', version: '1.0.0' });
  await agent.connect(transport);
  let agentLog = '';
  transport.stderr?.on('data', (c: Buffer) => {
    agentLog += c.toString();
  });
  type ToolResult = { isError?: boolean; content: { type: string; text?: string }[]; structuredContent?: Record<string, unknown> };
  const sql = (q: string) => agent.callTool({ name: 'gate_sql', arguments: { target: 'db', sql: q } }) as Promise<ToolResult>;
  const text = (r: ToolResult) => r.content.map((c) => c.text ?? '').join('\n');
  try {
    const first = await sql(`SELECT 'before' AS m`);
    expect(first.isError ?? false).toBe(false);
    const running = sql('SELECT pg_sleep(6)');
    await until('the agent statement runs', async () =>
      Number((await fleet.target.query<{ n: string }>(`SELECT count(*) AS n FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(6)'`))[0]!.n) === 1);
    fleet.lb.blackhole(true);
    let lost: ToolResult | 'timeout';
    try {
      // The heartbeat's bound, plus the 5 s the answer waits at most for the server to take the call's audit record.
      lost = await bounded(running, HEARTBEAT_BOUND_MS + 5_000);
    } finally {
      fleet.lb.blackhole(false);
    }
    // Without the heartbeat the answer, dropped in the hole, never comes: the call would wait forever.
    expect(lost, agentLog).not.toBe('timeout');
    const result = lost as ToolResult;
    expect(result.isError).toBe(true);
    expect(text(result)).toBe('gate: lost the gate server: no answer for 3 s. Whether the statement ran on db is unknown: check before running it again.');
    const after = await sql(`SELECT 'after' AS m`);
    expect(after.isError ?? false).toBe(false);
    expect(text(after)).toContain('after');
  } finally {
    await bounded(agent.close(), 10_000);
  }
});
