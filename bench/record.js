#!/usr/bin/env node
// Recording overhead as a user meets it: `seq 1 N` (about 100 MB of terminal
// output) spawned directly under node-pty, against the same command run as
// `gate exec bench -- seq 1 N` under node-pty, through a real `gate server`
// (its own process) with a tcp target and recording on. The gate wall time
// includes everything the user waits for: node start-up, the grant, the
// tunnel, the recorded run, and the upload of the recording's tail before
// gate exits. A third case, `gate exec bench -- true`, shows the fixed cost.
// Cases are interleaved per round; medians are printed.
//
//   npm run build && node bench/record.js
//   BENCH_N=2000000 BENCH_ROUNDS=5 node bench/record.js
//   BENCH_CASES=1 GATE_NODE_ARGS=--cpu-prof node bench/record.js   # only the gate case, the CLI profiled
//   GATE_SERVER_NODE_ARGS=--cpu-prof node bench/record.js           # the server profiled
import { execFile, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createWriteStream, existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { createServer as createTcpServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import pty from 'node-pty';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const GATE_BIN = join(root, 'bin', 'gate.js');
const N = Number(process.env.BENCH_N ?? 12_000_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const AUDIENCE = 'gate-bench';

const work = await mkdtemp(join(tmpdir(), 'gate-bench-record-'));
const cleanups = [];
process.on('exit', () => {
  for (const c of cleanups.reverse()) c();
});

// ---- a CI-style OIDC issuer so the bench can log in without a person ----------
const { privateKey, publicKey } = await generateKeyPair('RS256');
const kid = randomUUID();
const jwk = { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' };
const idp = createServer((req, res) => {
  const body =
    req.url === '/.well-known/openid-configuration'
      ? { issuer: issuerUrl, jwks_uri: `${issuerUrl}/jwks`, id_token_signing_alg_values_supported: ['RS256'] }
      : req.url === '/jwks'
        ? { keys: [jwk] }
        : null;
  res.writeHead(body ? 200 : 404, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body ?? {}));
});
await new Promise((r) => idp.listen(0, '127.0.0.1', r));
const issuerUrl = `http://127.0.0.1:${idp.address().port}`;

// The tcp target only has to exist: `seq` never connects to it.
const sink = createTcpServer((s) => s.destroy());
await new Promise((r) => sink.listen(0, '127.0.0.1', r));

// ---- the real gate server ----------------------------------------------------
const configFile = join(work, 'gate.yaml');
await writeFile(
  configFile,
  `identity:
  oidc: { issuer: '${issuerUrl}', client_id: gate-cli }
  workloads:
    - { name: bench, issuer: '${issuerUrl}', audience: ${AUDIENCE}, groups: [bench] }
targets:
  bench: { type: tcp, address: '127.0.0.1:${sink.address().port}', recording: required }
policies:
  - { name: bench, groups: [bench], targets: [bench], roles: [default], max_duration: 8h, approval: auto }
`,
);
const serverNodeArgs = (process.env.GATE_SERVER_NODE_ARGS ?? '').split(' ').filter(Boolean);
const server = spawn(process.execPath, [...serverNodeArgs, GATE_BIN, 'server', '--config', configFile, '--port', '0', '--data-dir', join(work, 'data')], {
  env: { PATH: process.env.PATH, HOME: work },
  stdio: ['ignore', 'ignore', 'pipe'],
});
cleanups.push(() => server.kill('SIGKILL'));
const serverUrl = await new Promise((resolve, reject) => {
  let log = '';
  const onData = (d) => {
    log += d;
    const m = /"url":"(http:[^"]+)"/.exec(log);
    if (m) {
      // Keep reading (and dropping) the log so the server never blocks on it.
      server.stderr.off('data', onData).resume();
      resolve(m[1]);
    }
  };
  server.stderr.on('data', onData);
  server.on('exit', () => reject(new Error(`gate server exited:\n${log}`)));
});

const env = {
  PATH: process.env.PATH,
  HOME: work,
  LANG: 'C.UTF-8',
  TERM: 'xterm-256color',
  NO_COLOR: '1',
  GATE_SERVER: serverUrl,
  GATE_CONFIG_DIR: join(work, 'config'),
  GATE_CREDENTIAL_STORE: 'file',
};

function gateOut(args, input) {
  return new Promise((resolve, reject) => {
    const child = execFile(process.execPath, [GATE_BIN, ...args], { env, maxBuffer: 1 << 26 }, (err, stdout, stderr) =>
      err ? reject(new Error(`gate ${args[0]} failed: ${stderr}`)) : resolve(stdout),
    );
    child.stdin.end(input ?? '');
  });
}

const idToken = await new SignJWT({ sub: 'bench', aud: AUDIENCE })
  .setProtectedHeader({ alg: 'RS256', kid })
  .setIssuer(issuerUrl)
  .setIssuedAt()
  .setExpirationTime('8h')
  .sign(privateKey);
env.GATE_TOKEN = (await gateOut(['login', '--id-token', '-', '--print-token'], idToken)).trim();

// ---- the cases -----------------------------------------------------------------

/** Runs argv under a pty the size of a terminal, its output into /dev/null with back-pressure, as a terminal takes it. */
function underPty(file, args) {
  const out = createWriteStream('/dev/null');
  let bytes = 0;
  return new Promise((resolve) => {
    const p = pty.spawn(file, args, { name: 'xterm-256color', cols: 120, rows: 40, env });
    p.onData((d) => {
      bytes += d.length;
      if (!out.write(d)) {
        p.pause();
        out.once('drain', () => p.resume());
      }
    });
    p.onExit(({ exitCode }) => {
      out.end();
      resolve({ bytes, exitCode });
    });
  });
}

const seqArgs = ['1', String(N)];
// GATE_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" profiles the gate under test (node refuses these in NODE_OPTIONS).
const gateArgv = [...(process.env.GATE_NODE_ARGS ?? '').split(' ').filter(Boolean), GATE_BIN];
const cases = [
  ['seq under node-pty (baseline)', () => underPty('seq', seqArgs)],
  ['gate exec -- seq, recorded and uploaded', () => underPty(process.execPath, [...gateArgv, 'exec', 'bench', '--', 'seq', ...seqArgs])],
  ['gate exec -- true (fixed cost)', () => underPty(process.execPath, [GATE_BIN, 'exec', 'bench', '--', 'true'])],
];
// The tool a user would pick instead (issue 18): Debian's asciinema recording the same command to a local file, under the same pty.
const ASCIINEMA = '/usr/bin/asciinema';
const ASCIINEMA_CASE = 'asciinema rec -c seq (local file)';
if (existsSync(ASCIINEMA)) {
  cases.splice(2, 0, [ASCIINEMA_CASE, () => underPty(ASCIINEMA, ['rec', '--quiet', '--overwrite', '-c', `seq ${seqArgs.join(' ')}`, join(work, 'asciinema.cast')])]);
} else console.error(`bench/record: ${ASCIINEMA} not found (apt-get install asciinema); skipping it`);
if (process.env.BENCH_CASES) {
  const keep = new Set(process.env.BENCH_CASES.split(',').map(Number));
  for (let i = cases.length - 1; i >= 0; i--) if (!keep.has(i)) cases.splice(i, 1);
}

// Warm-up: the first grant request and node's compile cache are not what a run costs.
await underPty(process.execPath, [GATE_BIN, 'exec', 'bench', '--', 'true']);

// CPU seconds from /proc (Linux): the tool and gate (children node-pty reaped in
// this process), the server, and this process (the pty reader). Steadier than
// wall time on a shared machine, so changes can be compared by it.
function cpuNow() {
  try {
    const fields = (pid) => readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ').map(Number);
    const self = fields('self');
    const srv = fields(server.pid);
    const hz = 100;
    return { tool: (self[13] + self[14]) / hz, reader: (self[11] + self[12]) / hz, server: (srv[11] + srv[12]) / hz };
  } catch {
    return undefined;
  }
}
const cpu = new Map(cases.map(([name]) => [name, []]));
const times = new Map(cases.map(([name]) => [name, []]));
const info = new Map();
for (let round = 0; round < ROUNDS; round++) {
  for (const [name, fn] of cases) {
    const c0 = cpuNow();
    const t0 = performance.now();
    const r = await fn();
    times.get(name).push(performance.now() - t0);
    const c1 = cpuNow();
    if (c0 && c1) cpu.get(name).push({ tool: c1.tool - c0.tool, reader: c1.reader - c0.reader, server: c1.server - c0.server });
    if (r.exitCode !== 0) throw new Error(`${name} exited ${r.exitCode}`);
    info.set(name, r);
  }
}

// The recordings really reached the server: the newest seq session, closed, with its bytes.
const { sessions } = JSON.parse(await gateOut(['sessions', '--target', 'bench', '--json']));
const seqSessions = sessions.filter((s) => s.command.startsWith('seq'));
const seqSession = seqSessions[0];

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const base = median(times.get(cases[0][0]));
const load = (await import('node:os')).loadavg().map((x) => x.toFixed(1)).join(' ');
console.log(`seq 1 ${N}, median of ${ROUNDS} interleaved rounds, node ${process.version}, load average ${load}\n`);
console.log('| case | wall (median) | runs | ratio | CPU: tool+gate / server / reader (median) | notes |');
console.log('| --- | --- | --- | --- | --- | --- |');
for (const [name] of cases) {
  const t = median(times.get(name));
  const runs = times.get(name).map((x) => (x / 1000).toFixed(2)).join(', ');
  let note = `${(info.get(name).bytes / 1e6).toFixed(1)} MB to the terminal`;
  if (name.startsWith('gate exec -- seq') && seqSession) {
    // duration_ms: from the tool's start to its exit, what the user waits for at the prompt; wall adds start-up and the upload's tail.
    const tool = median(seqSessions.map((x) => x.duration_ms ?? 0));
    note += `; the tool ran ${(tool / 1000).toFixed(2)} s (${(tool / base).toFixed(2)}); recording ${seqSession.closed ? 'closed' : 'NOT closed'}, ${seqSession.chunks} chunks, ${(seqSession.bytes / 1e6).toFixed(1)} MB on the server`;
  }
  const used = cpu.get(name);
  const cpuCell = used.length
    ? ['tool', 'server', 'reader'].map((k) => `${median(used.map((u) => u[k])).toFixed(2)} s`).join(' / ')
    : 'n/a';
  console.log(`| ${name} | ${(t / 1000).toFixed(2)} s | ${runs} | ${(t / base).toFixed(2)} | ${cpuCell} | ${note} |`);
}

// The target: what gate adds over the plain pty is at most half of what asciinema adds, in wall time and in CPU (all processes).
const gateCase = cases.find(([n]) => n.startsWith('gate exec -- seq'))?.[0];
if (gateCase && times.has(ASCIINEMA_CASE) && cpu.get(cases[0][0]).length) {
  const cpuTotal = (name) => median(cpu.get(name).map((u) => u.tool + u.server + u.reader));
  const wallAdd = (name) => median(times.get(name)) - base;
  const cpuAdd = (name) => cpuTotal(name) - cpuTotal(cases[0][0]);
  console.log(
    `\nadded over the plain pty: gate ${(wallAdd(gateCase) / 1000).toFixed(2)} s wall, ${cpuAdd(gateCase).toFixed(2)} CPU-s; ` +
      `asciinema ${(wallAdd(ASCIINEMA_CASE) / 1000).toFixed(2)} s wall, ${cpuAdd(ASCIINEMA_CASE).toFixed(2)} CPU-s; ` +
      `gate / asciinema: wall ${(wallAdd(gateCase) / wallAdd(ASCIINEMA_CASE)).toFixed(2)}, CPU ${(cpuAdd(gateCase) / cpuAdd(ASCIINEMA_CASE)).toFixed(2)} (target <= 0.50)`,
  );
}

server.kill('SIGTERM');
idp.close();
sink.close();
await new Promise((r) => server.once('exit', r));
await rm(work, { recursive: true, force: true });
process.exit(0);
