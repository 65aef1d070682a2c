import { execFileSync } from 'node:child_process';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { type AddressInfo, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createTestPki, type TestPki } from '../helpers/certs.js';
import { type FakeKube, startFakeKube } from '../helpers/fake-kube.js';
import { gateEnv, type GateResult, runGate } from '../helpers/gate-bin.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { type Stack, startStack } from '../helpers/stack.js';

// Another user on the same machine can list every loopback port
// (/proc/net/tcp) and connect to it. The tunnels of `gate psql`, `gate exec`
// and `gate kubectl` must be useless to them: a 0700 socket directory, or a
// one-time local credential only the wrapped tool was given. Here the
// wrapped tool itself hands the listener's address to a second, real local
// user (created with useradd, run with runuser and an empty environment, so
// it knows only what /proc would tell it) and that user tries its luck.

const RO_PASSWORD = 'ro-Secret-local-users-51ac';
const K8S_TOKEN = 'k8s-role-token-local-users-7d21';
const MALLORY = `gmal${process.pid % 100000}`;

let pg: TestPostgres;
let pki: TestPki;
let kube: FakeKube;
let stack: Stack;
let env: NodeJS.ProcessEnv;
let bin: string;
let banner: Server;
const dirs: string[] = [];

/** Runs `cmd` as the other local user with nothing of ours in its environment. */
const asMallory = (cmd: string) => `runuser -u ${MALLORY} -- env -i PATH="$PATH" HOME=/tmp sh -c '${cmd}'`;

function gate(args: string[], extra: Record<string, string> = {}): Promise<GateResult> {
  return runGate(args, { env: { ...env, ...extra }, timeoutMs: 60_000 });
}

beforeAll(async () => {
  execFileSync('useradd', ['--no-create-home', '--shell', '/bin/sh', MALLORY]);
  pg = await startPostgres();
  await pg.query(`create role readonly login password '${RO_PASSWORD}'`);
  banner = createServer((s) => s.end('TARGET-BANNER\n'));
  await new Promise<void>((resolve) => banner.listen(0, '127.0.0.1', resolve));
  const bannerPort = (banner.address() as AddressInfo).port;
  pki = await createTestPki();
  kube = await startFakeKube({ token: K8S_TOKEN, pki });
  process.env.E2E_LU_PG_PASSWORD = RO_PASSWORD;
  process.env.E2E_LU_K8S_TOKEN = K8S_TOKEN;
  process.env.E2E_LU_K8S_CA = kube.caPem;
  stack = await startStack({
    configYaml: `
admins: [platform]
targets:
  db:
    type: postgres
    address: 127.0.0.1:${pg.port}
    database: postgres
    roles:
      read: { username: readonly, password: env:E2E_LU_PG_PASSWORD }
  k8s:
    type: kubernetes
    address: ${kube.url}
    tls: { ca: env:E2E_LU_K8S_CA }
    roles:
      view: { token: env:E2E_LU_K8S_TOKEN }
  echo:
    type: tcp
    address: 127.0.0.1:9
  banner:
    type: tcp
    address: 127.0.0.1:${bannerPort}
policies:
  - { name: eng, groups: [engineering], targets: [db, k8s], roles: [read, view], max_duration: 1h, approval: auto }
  - { name: eng-echo, groups: [engineering], targets: [echo, banner], roles: [default], max_duration: 1h, approval: auto }
`,
  });
  const token = await stack.loginAs('alice');
  env = await gateEnv({ GATE_SERVER: stack.url, GATE_TOKEN: token });
  dirs.push(env.GATE_CONFIG_DIR!);
  // A kubectl plugin is the wrapped tool's own child: `gate kubectl k8s -- ride` runs it.
  bin = await mkdtemp(join(tmpdir(), 'gate-lu-bin-'));
  dirs.push(bin);
  await writeFile(
    join(bin, 'kubectl-ride'),
    [
      '#!/bin/sh',
      'server=$(sed -n "s/^ *server: //p" "$KUBECONFIG")',
      `${asMallory('cat "$1" >/dev/null 2>&1 && echo "mallory read the kubeconfig" || echo "kubeconfig: unreadable"')} x "$KUBECONFIG"`,
      `${asMallory('curl -sk "$0/api/v1/namespaces/default/pods"')} "$server"; echo`,
      `${asMallory('curl -sk -H "Authorization: Bearer guessed" "$0/api/v1/namespaces/default/pods"')} "$server"; echo`,
      '',
    ].join('\n'),
  );
  await chmod(join(bin, 'kubectl-ride'), 0o755);
  // Reads what a TCP target says first, through the tunnel at port $1.
  await writeFile(join(bin, 'read-banner'), '#!/bin/bash\nout=$(timeout 10 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1 && head -c 13 <&3" 2>/dev/null)\necho "$2: [$out]"\n');
  await chmod(join(bin, 'read-banner'), 0o755);
  await chmod(bin, 0o755);
}, 120_000);

afterAll(async () => {
  await stack?.close();
  await new Promise<void>((resolve) => (banner ? banner.close(() => resolve()) : resolve()));
  await kube?.close();
  await pki?.cleanup?.();
  await pg?.stop();
  try {
    execFileSync('userdel', [MALLORY]);
  } catch {}
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe('a second local user', () => {
  test('cannot use the tunnel of gate psql: it is a Unix socket in a 0700 directory', async () => {
    const sql = `\\! ${asMallory('psql -X -w -h "$0" -p "$1" -U readonly -d postgres -c "select 1 as rode_in" 2>&1; echo "mallory exit=$?"')} "$PGHOST" "$PGPORT"`;
    const r = await gate(['psql', 'db', '--', '-X', '-c', sql]);
    expect(r.stdout).not.toContain('rode_in');
    expect(r.stdout).toMatch(/Permission denied/);
    expect(r.stdout).toMatch(/mallory exit=2/);
    // psql itself still works through it.
    const own = await gate(['psql', 'db', '--', '-X', '-c', 'select 40 + 2 as mine']);
    expect(own.stdout).toMatch(/mine\s*\n-+\s*\n\s*42/);
  });

  test('cannot use the tunnel of gate exec: the gateway asks for a one-time password only the child has', async () => {
    const script = [
      `${asMallory('PGPASSWORD=guessed psql -X -h "$0" -p "$1" -U readonly -d postgres -c "select 1 as rode_in" 2>&1; echo "mallory exit=$?"')} "$GATE_TARGET_HOST" "$GATE_TARGET_PORT"`,
      'psql -X -c "select 42 as mine"',
    ].join('; ');
    const r = await gate(['exec', 'db', '--', 'sh', '-c', script]);
    expect(r.code).toBe(0);
    expect(r.stdout).not.toContain('rode_in');
    expect(r.stdout).toContain('gate: password authentication failed: wrong local password for this gate tunnel');
    expect(r.stdout).toMatch(/mallory exit=2/);
    expect(r.stdout).toMatch(/mine\s*\n-+\s*\n\s*42/);
    expect(r.stdout).not.toContain(RO_PASSWORD);
  });

  test('cannot use the tunnel of gate kubectl: the kubeconfig is unreadable and requests without its one-time token get 401', async () => {
    const before = kube.seen.length;
    const r = await gate(['kubectl', 'k8s', '--', 'ride'], { PATH: `${bin}:${process.env.PATH}` });
    expect(r.stdout).toContain('kubeconfig: unreadable');
    expect(r.stdout).not.toContain('web-1');
    const statuses = r.stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
    expect(statuses).toHaveLength(2);
    for (const s of statuses) {
      expect(s).toMatchObject({ kind: 'Status', code: 401, reason: 'Unauthorized', message: expect.stringMatching(/one-time local token/) });
    }
    expect(kube.seen.length).toBe(before);
    // kubectl itself, with gate's kubeconfig, still gets through.
    const own = await gate(['kubectl', 'k8s', '--', 'get', 'pods']);
    expect(own.code, own.stderr).toBe(0);
    expect(own.stdout).toContain('web-1');
  });

  test('gate connect --local-password is refused for a TCP target, pointing to --socket, before any grant', async () => {
    const r = await gate(['connect', 'echo', '--local-password']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('--local-password does not work for tcp target "echo": gate cannot ask a tcp client for a password.');
    expect(r.stderr).toContain('gate connect echo --socket');
    const grants = await gate(['grants', '--json']);
    expect(grants.stdout).not.toContain('"echo"');
  });

  test('cannot use the tunnel of gate exec on a TCP target: connections of other users are dropped (uid from /proc/net/tcp)', async () => {
    const script = `runuser -u ${MALLORY} -- env -i PATH="$PATH" ${bin}/read-banner "$GATE_TARGET_PORT" mallory; ${bin}/read-banner "$GATE_TARGET_PORT" own`;
    const r = await gate(['exec', 'banner', '--', 'sh', '-c', script]);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines.find((l) => l.startsWith('mallory:'))).toBe('mallory: []');
    expect(lines.find((l) => l.startsWith('own:'))).toBe('own: [TARGET-BANNER]');
    expect(r.stderr).toMatch(/a connection from another local user \(uid \d+\) was refused/);
  });
});
