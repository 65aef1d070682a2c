/**
 * However a `gate connect` tunnel ends a kubectl exchange (Ctrl-C or SIGTERM
 * of gate, the gate server gone, an expired token), the real kubectl prints a
 * Kubernetes Status from gate saying why instead of "EOF" or "connection
 * reset", and what ran upstream (a watch, a request still waiting for its
 * answer) is cancelled on the API server.
 */
import { spawn } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { createServer, type Server, type Socket, connect as tcpConnect } from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createTestPki, type TestPki } from '../helpers/certs.js';
import { type FakeKube, startFakeKube } from '../helpers/fake-kube.js';
import { gateEnv, type RunningGate, startGate } from '../helpers/gate-bin.js';
import { type Stack, startStack } from '../helpers/stack.js';

const TOKEN = 'k8s-role-token-tunnel-end-3b81d0';

let pki: TestPki;
let kube: FakeKube;
let stack: Stack;
let alice: string;
const dirs: string[] = [];
const running: RunningGate[] = [];

/** A loopback hop in front of the gate server that a test can cut, as a crash or a network failure would. */
interface Hop {
  url: string;
  /** Drops every relayed connection (RST) and refuses new ones until `resume`. */
  cut(): Promise<void>;
  resume(): Promise<void>;
  close(): Promise<void>;
}

async function startHop(target: URL): Promise<Hop> {
  const sockets = new Set<Socket>();
  let server: Server;
  let port = 0;
  const listen = () =>
    new Promise<void>((resolve) => {
      server = createServer((client) => {
        const upstream = tcpConnect(Number(target.port), target.hostname);
        for (const s of [client, upstream]) {
          sockets.add(s);
          s.on('close', () => sockets.delete(s));
          s.on('error', () => {});
        }
        client.pipe(upstream).pipe(client);
      });
      server.listen(port, '127.0.0.1', () => {
        port = (server.address() as { port: number }).port;
        resolve();
      });
    });
  const stop = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      for (const s of sockets) s.resetAndDestroy();
    });
  await listen();
  return { url: `http://127.0.0.1:${port}`, cut: stop, resume: listen, close: stop };
}

function kubectl(kubeconfig: string, args: string[]): { child: ReturnType<typeof spawn>; done: Promise<{ code: number | null; out: string }> } {
  const child = spawn('kubectl', ['--kubeconfig', kubeconfig, '--request-timeout=0', ...args], {
    env: { PATH: process.env.PATH, HOME: dirs[0] },
  });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  return { child, done: new Promise((resolve) => child.on('close', (code) => resolve({ code, out }))) };
}

async function until(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if (check()) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`timed out waiting for ${what}`);
}

async function connect(server: string, token = alice): Promise<{ gate: RunningGate; kubeconfig: string }> {
  const env = await gateEnv({ GATE_SERVER: server, GATE_TOKEN: token });
  dirs.push(env.GATE_CONFIG_DIR!);
  const gate = startGate(['connect', 'k8s', '--json'], { env });
  running.push(gate);
  const ready = JSON.parse(await gate.waitFor(/"event":"ready"/, 'stdout')) as { kubeconfig: string };
  return { gate, kubeconfig: ready.kubeconfig };
}

beforeAll(async () => {
  pki = await createTestPki();
  kube = await startFakeKube({ token: TOKEN, pki });
  process.env.E2E_END_K8S_TOKEN = TOKEN;
  process.env.E2E_END_K8S_CA = kube.caPem;
  stack = await startStack({
    configYaml: `
targets:
  k8s:
    type: kubernetes
    address: ${kube.url}
    tls: { ca: env:E2E_END_K8S_CA }
    roles:
      view: { token: env:E2E_END_K8S_TOKEN }
policies:
  - { name: eng-k8s, groups: [engineering], targets: [k8s], roles: [view], max_duration: 1h, approval: auto }
`,
  });
  alice = await stack.loginAs('alice');
  const home = await gateEnv();
  dirs.unshift(home.GATE_CONFIG_DIR!);
});

afterAll(async () => {
  for (const g of running) await g.stop('SIGKILL');
  await stack?.close();
  await kube?.close();
  await pki?.cleanup?.();
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe('gate connect stopped while kubectl works', () => {
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    test(`${signal} during a watch: kubectl prints gate's Status and the watch is closed upstream`, async () => {
      const { gate, kubeconfig } = await connect(stack.url);
      const watch = kubectl(kubeconfig, ['get', 'pods', '-n', 'prod', '--watch']);
      await until(() => kube.openWatches() === 1, 'the watch to reach the API server');
      gate.child.kill(signal);
      const { out } = await watch.done;
      expect(out).toContain('gate: gate was stopped (Ctrl-C or SIGTERM), so the tunnel closed');
      expect(out).not.toMatch(/unexpected EOF|connection reset/);
      await until(() => kube.openWatches() === 0, 'the watch to be closed upstream');
      expect(await gate.exited).toBe(2);
    });
  }

  test('SIGINT while a request waits for its answer: kubectl gets the Status, the request is cancelled upstream', async () => {
    const { gate, kubeconfig } = await connect(stack.url);
    const get = kubectl(kubeconfig, ['get', 'pods', '-n', 'hang']);
    await until(() => kube.openHangs() === 1, 'the request to reach the API server');
    gate.child.kill('SIGINT');
    const { code, out } = await get.done;
    expect(code).not.toBe(0);
    expect(out).toContain('Error from server (ServiceUnavailable): gate: gate was stopped (Ctrl-C or SIGTERM), so the tunnel closed');
    await until(() => kube.openHangs() === 0, 'the request to be cancelled upstream');
    expect(await gate.exited).toBe(2);
  });

  test('the same answer on the wire is a v1 Status naming the cause', async () => {
    const env = await gateEnv({ GATE_SERVER: stack.url, GATE_TOKEN: alice });
    dirs.push(env.GATE_CONFIG_DIR!);
    const gate = startGate(['connect', 'k8s', '--json'], { env });
    running.push(gate);
    const { url } = JSON.parse(await gate.waitFor(/"event":"ready"/, 'stdout')) as { url: string };
    const curl = spawn('curl', ['-s', '-w', '\n%{http_code}', `${url}/api/v1/namespaces/hang/pods`]);
    let out = '';
    curl.stdout.on('data', (d) => (out += d));
    const done = new Promise((r) => curl.on('close', r));
    await until(() => kube.openHangs() === 1, 'the request to reach the API server');
    gate.child.kill('SIGTERM');
    await done;
    const [body, code] = [out.slice(0, out.lastIndexOf('\n')), out.slice(out.lastIndexOf('\n') + 1)];
    expect(code).toBe('503');
    expect(JSON.parse(body)).toMatchObject({
      kind: 'Status',
      apiVersion: 'v1',
      status: 'Failure',
      reason: 'ServiceUnavailable',
      code: 503,
      message: 'gate: gate was stopped (Ctrl-C or SIGTERM), so the tunnel closed',
    });
    await gate.exited;
  });
});

describe('the gate server goes away under an open tunnel', () => {
  test('a watch ends with gate saying the server connection was lost; new requests say it cannot be reached', async () => {
    const hop = await startHop(new URL(stack.url));
    try {
      const { gate, kubeconfig } = await connect(hop.url);
      const watch = kubectl(kubeconfig, ['get', 'pods', '-n', 'prod', '--watch']);
      await until(() => kube.openWatches() === 1, 'the watch to reach the API server');
      await hop.cut();
      const { out } = await watch.done;
      expect(out).toContain('gate: the connection to the gate server was lost');
      await until(() => kube.openWatches() === 0, 'the watch to be closed upstream');

      const later = await kubectl(kubeconfig, ['get', 'pods', '-n', 'prod']).done;
      expect(later.code).not.toBe(0);
      expect(later.out).toMatch(/gate: Cannot reach the gate server at .*connection refused/);
      await gate.stop('SIGINT');
    } finally {
      await hop.close();
    }
  });
});

describe('a token that expired while the tunnel was open', () => {
  test('new requests get a Status that names the token and what to do', async () => {
    const { gate, kubeconfig } = await connect(stack.url);
    stack.shiftClock(2 * 60 * 60_000);
    try {
      const r = await kubectl(kubeconfig, ['get', 'pods', '-n', 'prod']).done;
      expect(r.code).not.toBe(0);
      expect(r.out).toMatch(/gate: .*(expired|token)/i);
      expect(r.out).toContain('GATE_TOKEN is set');
    } finally {
      stack.shiftClock(-2 * 60 * 60_000);
    }
    await gate.stop('SIGINT');
  });
});
