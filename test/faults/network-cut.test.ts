/**
 * A network cut between the CLI and the server: the balancer resets every
 * connection it carries (as a failed link or a balancer restart does).
 * Tunnels end with a message that says so, a new connection works as soon
 * as the path is back, and a recording whose upload was cut goes up with
 * the next gate command.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runGate, type RunningGate } from '../helpers/gate-bin.js';
import { loopOverTunnel, psqlSession, startConnect } from './harness/clients.js';
import { recordFigures } from './harness/figures.js';
import { type Fleet, startReadFleet } from './harness/fleet.js';
import { until } from './harness/wait.js';

let fleet: Fleet;
const gates: RunningGate[] = [];

beforeAll(async () => {
  fleet = await startReadFleet({ recordOutput: true });
});

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
