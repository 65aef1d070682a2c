import { execFile, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { kubeconfigFor, writeKubeconfig } from '../../src/client/kubeconfig.js';
import { type KubernetesTarget, kubernetesTarget } from '../../src/config/schema.js';
import { createTestPki, type TestPki } from '../helpers/certs.js';
import { type FakeKube, type KubeGateway, startFakeKube, startKubeGateway } from '../helpers/fake-kube.js';

// The real kubectl talks plain HTTP to a local listener that hands every
// connection to handleKubernetes, which proxies to a fake HTTPS API server.

const TOKEN = 'k8s-role-token-7f3a9c1e55d0';
const CLIENT_TOKEN = 'client-own-token-should-never-arrive';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

let pki: TestPki;
let kube: FakeKube;
let gateway: KubeGateway | undefined;
const dirs: string[] = [];
/** Everything a user or the audit log could see, checked for secrets at the end. */
const visible: string[] = [];

function target(overrides: Partial<Record<string, unknown>> = {}): KubernetesTarget {
  return kubernetesTarget.parse({
    type: 'kubernetes',
    address: kube.url,
    tls: { ca: 'env:K8S_CA' },
    roles: { admin: { token: 'env:K8S_TOKEN' }, certs: { client_cert: 'env:K8S_CERT', client_key: 'env:K8S_KEY' } },
    guardrails: [
      { deny: { verbs: ['delete'], resources: ['namespaces'] }, message: 'Deleting namespaces is never allowed on prod-k8s.' },
      { require_approval: { verbs: ['exec'], namespaces: ['default'] } },
    ],
    ...overrides,
  });
}

function env(): Record<string, string> {
  return { K8S_TOKEN: TOKEN, K8S_CA: pki.ca.cert, K8S_CERT: pki.client.cert, K8S_KEY: pki.client.key };
}

/** A kubectl with its own kubeconfig and HOME (so no discovery cache is shared between tests). */
async function kubectlFor(gw: KubeGateway, namespace = 'default') {
  const home = await mkdtemp(join(tmpdir(), 'gate-kubectl-'));
  dirs.push(home);
  const kubeconfig = join(home, 'kubeconfig');
  const text = kubeconfigFor({ server: gw.url, target: 'prod-k8s', namespace });
  visible.push(text);
  await writeKubeconfig(kubeconfig, text);
  const envVars = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: home, KUBECONFIG: kubeconfig };
  const run = (args: string[]): Promise<Run> =>
    new Promise((resolve) => {
      execFile('kubectl', ['--request-timeout=20s', ...args], { env: envVars }, (err, stdout, stderr) => {
        visible.push(stdout, stderr);
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        resolve({ code, stdout, stderr });
      });
    });
  return { run, env: envVars, kubeconfig };
}

beforeAll(async () => {
  pki = await createTestPki();
  kube = await startFakeKube({ token: TOKEN, pki });
});

afterEach(async () => {
  if (gateway) visible.push(JSON.stringify(gateway.audits));
  await gateway?.close();
  gateway = undefined;
});

afterAll(async () => {
  await kube?.close();
  await pki?.cleanup();
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

async function gatewayFor(role: 'admin' | 'certs', t: KubernetesTarget = target()) {
  gateway = await startKubeGateway({ target: t, role, env: env() });
  return gateway;
}

describe('kubectl through the kubernetes handler', () => {
  test('kubectl get pods lists the pods with the role token injected and the client credential dropped', async () => {
    const gw = await gatewayFor('admin');
    const { run } = await kubectlFor(gw);
    kube.seen.length = 0;
    const r = await run(['get', 'pods', `--token=${CLIENT_TOKEN}`, '--as=system:admin', '--as-group=system:masters']);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^NAME\s+READY\s+STATUS/);
    expect(r.stdout).toMatch(/web-1\s+1\/1\s+Running/);
    expect(kube.seen.length).toBeGreaterThan(0);
    for (const seen of kube.seen) {
      expect(seen.auth).toBe('bearer');
      expect(seen.authorization).toBe(`Bearer ${TOKEN}`);
      expect(seen.impersonation).toEqual([]);
    }
    // One audit event per request kubectl made, each classified.
    const k8s = gw.audits.filter((a) => a.action === 'k8s.request');
    expect(k8s.map((a) => a.details.path)).toEqual(kube.seen.map((s) => s.path));
    expect(k8s.at(-1)).toMatchObject({
      result: 'ok',
      details: { verb: 'list', resource: 'pods', namespace: 'default', name: '', apiGroup: '', status: 200 },
    });
    expect(k8s.some((a) => a.details.path === '/api' && a.details.verb === 'get' && a.details.resource === '')).toBe(true);
  });

  test('kubectl get pod NAME -o json returns the object', async () => {
    const gw = await gatewayFor('admin');
    const { run } = await kubectlFor(gw);
    const r = await run(['get', 'pod', 'web-1', '-o', 'json']);
    expect(r.code).toBe(0);
    const pod = JSON.parse(r.stdout);
    expect(pod).toMatchObject({ kind: 'Pod', metadata: { name: 'web-1', namespace: 'default' } });
    expect(gw.audits.at(-1)?.details).toMatchObject({ verb: 'get', resource: 'pods', namespace: 'default', name: 'web-1', status: 200 });
  });

  test('a missing pod shows the API server’s NotFound', async () => {
    const gw = await gatewayFor('admin');
    const { run } = await kubectlFor(gw);
    const r = await run(['get', 'pod', 'nope']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('Error from server (NotFound): pods "nope" not found');
    expect(gw.audits.at(-1)).toMatchObject({ result: 'error', details: { verb: 'get', name: 'nope', status: 404 } });
  });

  test('a client-certificate role authenticates upstream with the certificate', async () => {
    const gw = await gatewayFor('certs');
    const { run } = await kubectlFor(gw, 'prod');
    kube.seen.length = 0;
    const r = await run(['get', 'pods', `--token=${CLIENT_TOKEN}`]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/db-0\s+1\/1\s+Running/);
    expect(kube.seen.length).toBeGreaterThan(0);
    for (const seen of kube.seen) {
      expect(seen.auth).toBe('cert');
      expect(seen.authorization).toBeUndefined();
    }
  });

  test('a deny guardrail stops `kubectl delete namespace` with the rule message', async () => {
    const gw = await gatewayFor('admin');
    const { run } = await kubectlFor(gw);
    kube.seen.length = 0;
    const r = await run(['delete', 'namespace', 'prod']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('Error from server (Forbidden): Deleting namespaces is never allowed on prod-k8s.');
    expect(kube.seen.some((s) => s.method === 'DELETE')).toBe(false);
    expect(kube.namespaces).toContain('prod');
    expect(gw.audits.at(-1)).toMatchObject({
      result: 'denied',
      details: { verb: 'delete', resource: 'namespaces', name: 'prod', status: 403 },
    });
  });

  test('a held exec names the approval request, and after approval it reaches the API server', async () => {
    const gw = await gatewayFor('admin');
    const { run } = await kubectlFor(gw);
    kube.seen.length = 0;
    const held = await run(['exec', 'web-1', '--', 'ls', '/']);
    expect(held.code).not.toBe(0);
    expect(held.stderr).toMatch(/Error from server \(Forbidden\): .*approval request apr-1 is pending\. Run `gate approve apr-1`.*then retry/);
    expect(kube.seen.some((s) => s.path.endsWith('/exec'))).toBe(false);
    expect(gw.approvalRequests[0]).toMatchObject({ rule: 'require_approval verbs=exec namespaces=default' });
    expect(gw.approvalRequests[0]!.text).toMatch(/^(create|get) pods\/exec default\/web-1 -- ls \/$/);
    expect(gw.audits.filter((a) => a.result === 'held').at(-1)?.details).toMatchObject({
      action: 'exec',
      resource: 'pods',
      subresource: 'exec',
      namespace: 'default',
      name: 'web-1',
      command: ['ls', '/'],
      approval: 'apr-1',
    });

    for (const r of gw.approvalRequests) gw.approvals.set(r.text, 'approved');
    const approved = await run(['exec', 'web-1', '--', 'ls', '/']);
    // The fake has no container runtime: its refusal proves the request was forwarded.
    expect(approved.stderr).toContain('fake API server: exec streams are not supported here');
    expect(kube.seen.some((s) => s.path === '/api/v1/namespaces/default/pods/web-1/exec' && s.auth === 'bearer')).toBe(true);
  });

  test('kubectl get pods --watch streams events and ends when the grant ends', async () => {
    const gw = await gatewayFor('admin');
    const { env: envVars } = await kubectlFor(gw);
    const child = spawn('kubectl', ['--request-timeout=0', 'get', 'pods', '--watch'], { env: envVars });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    await expect.poll(() => kube.openWatches(), { timeout: 20_000 }).toBe(1);
    await expect.poll(() => stdout, { timeout: 20_000 }).toMatch(/web-2/);
    kube.emitPodEvent('MODIFIED', { name: 'web-1', namespace: 'default', phase: 'CrashLoopBackOff' });
    // The event arrives while the watch is still open: nothing is buffered.
    await expect.poll(() => stdout, { timeout: 20_000 }).toMatch(/web-1\s+1\/1\s+CrashLoopBackOff/);
    gw.controller.abort({ reason: 'revoked', message: 'the grant was revoked by an admin' });
    await exited;
    visible.push(stdout, stderr);
    expect(`${stdout}${stderr}`).toContain('access to target "prod-k8s" has ended: the grant was revoked by an admin');
    await expect.poll(() => kube.openWatches(), { timeout: 20_000 }).toBe(0);
    expect(gw.audits.some((a) => a.details.verb === 'watch' && a.details.resource === 'pods' && a.details.status === 200)).toBe(true);
  });

  test('after the grant ends, new requests on a tunnel are refused', async () => {
    const gw = await gatewayFor('admin');
    const { run } = await kubectlFor(gw);
    gw.controller.abort({ reason: 'expired', message: 'the grant expired' });
    const r = await run(['get', 'pods']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('gate: access to target "prod-k8s" has ended: the grant expired');
  });

  test('an unreachable API server gives a readable error naming the target', async () => {
    const gw = await gatewayFor('admin', target({ address: 'https://127.0.0.1:1' }));
    const { run } = await kubectlFor(gw);
    const r = await run(['get', 'pods']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('cannot reach the Kubernetes API server of target \\"prod-k8s\\" (https://127.0.0.1:1): connection refused');
    // Discovery (`/api`) is the first request to fail; see the handler for why that is a 502.
    expect(gw.audits.at(-1)).toMatchObject({ result: 'error', details: { path: '/api', status: 502 } });
  });

  test('an API server whose certificate the CA does not vouch for is refused with a TLS message', async () => {
    const other = await createTestPki();
    try {
      gateway = await startKubeGateway({ target: target(), role: 'admin', env: { ...env(), K8S_CA: other.ca.cert } });
      const { run } = await kubectlFor(gateway);
      kube.seen.length = 0;
      const r = await run(['get', 'pods']);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain('TLS verification of the Kubernetes API server of target');
      expect(kube.seen).toEqual([]);
    } finally {
      await other.cleanup();
    }
  });

  test('no credential appears in a kubeconfig, an audit event or anything kubectl printed', async () => {
    const gw = await gatewayFor('admin');
    const { run, kubeconfig } = await kubectlFor(gw);
    kube.seen.length = 0;
    // -v=9 makes kubectl print every request and response, headers and bodies: the scan below reads them.
    const verbose = await run(['get', 'pods', '-v=9']);
    expect(verbose.code, verbose.stderr.slice(-2000)).toBe(0);
    expect(verbose.stdout).toContain('web-1');
    expect(verbose.stderr).toContain(`GET ${gw.url}/api/v1/namespaces/default/pods`);
    expect(verbose.stderr).toMatch(/Response Body|Response:/);
    // The gateway did inject the token upstream, so there was a secret to leak.
    expect(kube.seen.some((r) => r.authorization === `Bearer ${TOKEN}`)).toBe(true);
    expect(gw.audits.length).toBeGreaterThan(0);
    visible.push(await readFile(kubeconfig, 'utf8'));
    const secrets = [TOKEN, pki.client.key.split('\n')[1]!];
    for (const text of visible) for (const s of secrets) expect(text).not.toContain(s);
    // Audit events of every earlier test were added to `visible` as each test ended.
    for (const s of secrets) expect(JSON.stringify(gw.audits)).not.toContain(s);
  });
});
