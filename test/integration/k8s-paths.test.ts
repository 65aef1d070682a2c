import { request } from 'node:http';
import { afterAll, afterEach, beforeAll, expect, test } from 'vitest';
import { type KubernetesTarget, kubernetesTarget } from '../../src/config/schema.js';
import { createTestPki, type TestPki } from '../helpers/certs.js';
import { type FakeKube, type KubeGateway, startFakeKube, startKubeGateway } from '../helpers/fake-kube.js';

// Encoded and dotted paths must not hide a request from the guardrails: the
// API server decodes %2F before routing, and a path-prefixed address
// (a Rancher-style proxy URL) must never be climbed out of. Each request is
// either refused with a 400 Status or classified and forwarded canonically.

const TOKEN = 'paths-role-token-5e1a';
let pki: TestPki;
let kube: FakeKube;
let gw: KubeGateway | undefined;

function target(prefix = ''): KubernetesTarget {
  return kubernetesTarget.parse({
    type: 'kubernetes',
    address: `${kube.url}${prefix}`,
    tls: { ca: 'env:CA' },
    roles: { admin: { token: 'env:TOKEN' } },
    guardrails: [
      { deny: { resources: ['secrets'] }, message: 'Secrets stay secret.' },
      { require_approval: { verbs: ['exec'] } },
    ],
  });
}

beforeAll(async () => {
  pki = await createTestPki();
  kube = await startFakeKube({ token: TOKEN, pki });
});
afterEach(async () => {
  await gw?.close();
  gw = undefined;
});
afterAll(async () => {
  await kube?.close();
  await pki?.cleanup();
});

/** Sends one request with the path exactly as given (node:http does not normalise it). */
function send(method: string, path: string, headers: Record<string, string> = {}): Promise<{ code: number; body: string }> {
  return new Promise((resolve, reject) => {
    const url = new URL(gw!.url);
    const req = request({ host: url.hostname, port: url.port, method, path, headers: { connection: 'close', ...headers } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        body += d;
      });
      res.on('end', () => resolve({ code: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

test.each([
  ['an encoded / hiding exec as a pod name', 'POST', '/api/v1/namespaces/default/pods/web-1%2Fexec?command=id'],
  ['an encoded / hiding secrets as a resource name', 'GET', '/api/v1/namespaces/default/secrets%2Fdb'],
  ['a lower-case %2f', 'GET', '/api/v1/namespaces/default/secrets%2fdb'],
  ['a double-encoded /', 'GET', '/api/v1/namespaces/default/secrets%252Fdb'],
])('%s is refused with a 400 Status and never reaches the API server', async (_what, method, path) => {
  gw = await startKubeGateway({ target: target(), env: { TOKEN, CA: pki.ca.cert } });
  const before = kube.seen.length;
  const res = await send(method, path);
  expect(res.code).toBe(400);
  expect(JSON.parse(res.body)).toMatchObject({ kind: 'Status', reason: 'BadRequest', code: 400, message: expect.stringMatching(/gate: refused the request path/) });
  expect(kube.seen.length).toBe(before);
  expect(gw.approvalRequests).toEqual([]);
  expect(gw.audits.at(-1)).toMatchObject({ action: 'k8s.request', result: 'denied', details: { status: 400, rule: 'canonical-path' } });
});

test('//api/… is classified as the resource request the API server sees: the secrets deny applies', async () => {
  gw = await startKubeGateway({ target: target(), env: { TOKEN, CA: pki.ca.cert } });
  const before = kube.seen.length;
  const res = await send('GET', '//api/v1/namespaces/default/secrets/db');
  expect(res.code).toBe(403);
  expect(JSON.parse(res.body)).toMatchObject({ kind: 'Status', reason: 'Forbidden', message: 'Secrets stay secret.' });
  expect(kube.seen.length).toBe(before);
});

test('an exec spelled //api/… is held for approval like any exec', async () => {
  gw = await startKubeGateway({ target: target(), env: { TOKEN, CA: pki.ca.cert } });
  const res = await send('POST', '//api/v1//namespaces/default/pods/web-1/exec?command=id');
  expect(res.code).toBe(403);
  expect(JSON.parse(res.body).message).toMatch(/needs approval/);
  expect(gw.approvalRequests.map((r) => r.text)).toEqual(['create pods/exec default/web-1 -- id']);
});

test.each([
  ['..', '/api/v1/../../../admin/secrets'],
  ['%2e%2e', '/api/v1/%2e%2e/%2E%2E/%2e%2e/admin/secrets'],
  ['.%2e', '/api/v1/.%2e/.%2e/.%2e/admin'],
])('%s cannot climb out of a path-prefixed API server address', async (_what, path) => {
  gw = await startKubeGateway({ target: target('/k8s/clusters/c-1'), env: { TOKEN, CA: pki.ca.cert } });
  const before = kube.seen.length;
  const res = await send('GET', path);
  expect(res.code).toBe(400);
  expect(JSON.parse(res.body)).toMatchObject({ kind: 'Status', code: 400, message: expect.stringMatching(/"\.\." segments/) });
  expect(kube.seen.length).toBe(before);
});

test('a harmless request is forwarded in canonical form under the address prefix', async () => {
  gw = await startKubeGateway({ target: target('/k8s/clusters/c-1'), env: { TOKEN, CA: pki.ca.cert } });
  await send('GET', '//api/v1/namespaces/%64efault/pods?limit=5');
  expect(kube.seen.at(-1)).toMatchObject({ url: '/k8s/clusters/c-1/api/v1/namespaces/default/pods?limit=5', auth: 'bearer' });
});
