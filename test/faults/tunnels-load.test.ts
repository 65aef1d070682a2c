/**
 * 500 concurrent tunnels through the balancer to two replicas for a bounded
 * time, each echoing a message a second through a `type: tcp` target: no
 * tunnel fails or garbles a byte, and the replicas' memory stays flat once
 * every tunnel is open.
 */
import { type AddressInfo, createServer, connect as netConnect, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { RunningGate } from '../helpers/gate-bin.js';
import { recordFigures } from './harness/figures.js';
import { type Fleet, startFleet } from './harness/fleet.js';

const TUNNELS = Number(process.env.GATE_FAULTS_TUNNELS ?? 500);
// A few minutes, as the issue asks: long enough for a leak per tunnel or per message to show in the RSS.
const SECONDS = Number(process.env.GATE_FAULTS_LOAD_SECONDS ?? 180);
const CLIS = 4;
let fleet: Fleet;
let echo: Server;
const gates: RunningGate[] = [];

beforeAll(async () => {
  echo = createServer((s) => {
    s.on('error', () => {});
    s.pipe(s);
  });
  await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
  fleet = await startFleet({
    yaml: `limits: { connections_per_grant: ${TUNNELS * 2}, connections_per_target: ${TUNNELS * 2} }
targets:
  echo:
    type: tcp
    address: 127.0.0.1:${(echo.address() as AddressInfo).port}
policies:
  - { name: eng, groups: [engineering], targets: [echo], roles: [default], max_duration: 1h, approval: auto }
`,
  });
});

afterAll(async () => {
  await Promise.all(gates.map((g) => g.stop('SIGTERM').catch(() => {})));
  await fleet?.close();
  await new Promise<void>((r) => echo?.close(() => r()));
});

interface Line {
  socket: Socket;
  got: string;
  sent: number;
  errors: string[];
}

it(`${TUNNELS} concurrent tunnels for ${SECONDS} s: no error, flat server memory after warm-up`, async () => {
  const token = await fleet.token('alice', ['engineering']);
  const env = await fleet.cliEnv(token);
  const { startConnect } = await import('./harness/clients.js');
  // Unix sockets in 0700 dirs, as `gate connect --help` recommends for tcp targets: on loopback TCP the CLI looks up
  // each connection's owner in /proc, which with hundreds of sockets open is what a run would measure.
  const first = await startConnect(env, 'echo', 'default', ['--socket']);
  const others = await Promise.all(Array.from({ length: CLIS - 1 }, () => startConnect(env, 'echo', 'default', ['--socket'])));
  const paths = [first, ...others].map((c) => c.socket!);
  gates.push(...[first, ...others].map((c) => c.gate));

  const lines: Line[] = [];
  const open = (i: number) =>
    new Promise<void>((resolve) => {
      const line: Line = { socket: netConnect({ path: paths[i % CLIS]! }), got: '', sent: 0, errors: [] };
      line.socket.setEncoding('utf8');
      line.socket.on('data', (d: string) => {
        line.got += d;
      });
      line.socket.on('error', (e) => line.errors.push(e.message));
      line.socket.on('close', () => line.errors.push('closed'));
      line.socket.once('connect', () => resolve());
      lines.push(line);
    });
  // Opened in batches, as clients arrive, not one SYN storm.
  for (let i = 0; i < TUNNELS; i += 50) await Promise.all(Array.from({ length: Math.min(50, TUNNELS - i) }, (_, k) => open(i + k)));
  const say = (l: Line, i: number) => {
    l.sent += 1;
    l.socket.write(`t${i}:${l.sent};`);
  };
  const expected = (i: number, n: number) => Array.from({ length: n }, (_, k) => `t${i}:${k + 1};`).join('');
  const echoed = () => lines.every((l, i) => l.got === expected(i, l.sent));
  const waitEchoed = async (ms: number) => {
    const end = Date.now() + ms;
    while (!echoed() && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
  };
  lines.forEach(say);
  await waitEchoed(90_000);
  const unanswered = lines.filter((l, i) => l.got !== expected(i, l.sent));
  if (unanswered.length > 0) {
    const sample = unanswered.slice(0, 3).map((l) => ({ got: l.got, errors: l.errors }));
    throw new Error(`${unanswered.length} of ${TUNNELS} tunnels never echoed; open per replica ${fleet.lb.open()}; ${JSON.stringify(sample)}; cli: ${gates.map((g) => g.lines.stdout.slice(-3).join(' ')).join(' | ').slice(0, 1500)}`);
  }
  const perReplica = fleet.lb.open();

  // Warm-up: a few rounds, then the baseline.
  const round = async () => {
    lines.forEach(say);
    await waitEchoed(20_000);
  };
  for (let r = 0; r < 5; r++) {
    await round();
    await new Promise((res) => setTimeout(res, 1_000));
  }
  const warm = await Promise.all(fleet.replicas.map((_, i) => fleet.rssKiB(i)));
  const samples: number[][] = [];
  const started = Date.now();
  while (Date.now() - started < SECONDS * 1000) {
    await round();
    samples.push(await Promise.all(fleet.replicas.map((_, i) => fleet.rssKiB(i))));
    await new Promise((res) => setTimeout(res, 1_000));
  }
  const final = samples.at(-1)!;
  const errors = lines.flatMap((l) => l.errors);
  const garbled = lines.filter((l, i) => l.got !== expected(i, l.sent)).length;
  const messages = lines.reduce((n, l) => n + l.sent, 0);
  for (const l of lines) l.socket.destroy();
  await recordFigures('tunnels_load', {
    tunnels: TUNNELS,
    seconds: SECONDS,
    cli_processes: CLIS,
    tunnels_per_replica: perReplica,
    messages_echoed: messages,
    errors: errors.length,
    garbled,
    rss_mib_after_warmup: warm.map((k) => Math.round(k / 1024)),
    rss_mib_end: final.map((k) => Math.round(k / 1024)),
    rss_mib_peak: fleet.replicas.map((_, i) => Math.round(Math.max(...samples.map((s) => s[i]!)) / 1024)),
  });
  expect(errors).toEqual([]);
  expect(garbled).toBe(0);
  // Flat: no replica grew by more than a quarter (plus 32 MiB of allocator slack) over the run.
  for (let i = 0; i < warm.length; i++) expect(final[i]!).toBeLessThan(warm[i]! * 1.25 + 32 * 1024);
  expect(fleet.replicas.flatMap((r) => r.errors())).toEqual([]);
}, (SECONDS + 150) * 1000);
