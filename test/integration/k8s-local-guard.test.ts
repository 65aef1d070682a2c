import { connect, type Socket } from 'node:net';
import { afterAll, afterEach, beforeAll, expect, test } from 'vitest';
import { type KubernetesTarget, kubernetesTarget } from '../../src/config/schema.js';
import { createTestPki, type TestPki } from '../helpers/certs.js';
import { type FakeKube, type KubeGateway, startFakeKube, startKubeGateway } from '../helpers/fake-kube.js';

// The local listener is reachable by any process on the machine, and by any
// web page through the browser: it answers only loopback Host names, refuses
// any browser Origin (a cross-origin WebSocket exec), and, with a one-time
// local token, only requests that carry it.

const TOKEN = 'guard-role-token-77c2';
const LOCAL = 'one-time-local-token-3f9a';
let pki: TestPki;
let kube: FakeKube;
let gw: KubeGateway | undefined;

function target(): KubernetesTarget {
  return kubernetesTarget.parse({
    type: 'kubernetes',
    address: kube.url,
    tls: { ca: 'env:CA' },
    roles: { admin: { token: 'env:TOKEN' } },
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

/** Writes one raw request and returns the whole answer once the gateway closes the connection. */
async function raw(request: string): Promise<{ head: string; body: string }> {
  const port = Number(new URL(gw!.url).port);
  const socket = await new Promise<Socket>((resolve) => {
    const s = connect(port, '127.0.0.1', () => resolve(s));
  });
  let received = '';
  socket.setEncoding('utf8');
  socket.on('data', (d: string) => {
    received += d;
  });
  const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
  socket.write(request);
  await closed;
  const at = received.indexOf('\r\n\r\n');
  return { head: received.slice(0, at), body: received.slice(at + 4) };
}

const wsExec = (headers: string) =>
  'GET /api/v1/namespaces/default/pods/web-1/exec?command=sh&stdin=true&stdout=true HTTP/1.1\r\n' +
  `${headers}Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n` +
  'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: v5.channel.k8s.io\r\n\r\n';

test('a cross-origin WebSocket exec from a web page is refused with a Status and never reaches the API server', async () => {
  gw = await startKubeGateway({ target: target(), env: { TOKEN, CA: pki.ca.cert } });
  const before = kube.seen.length;
  const { head, body } = await raw(wsExec('Host: 127.0.0.1:8001\r\nOrigin: http://evil.example\r\n'));
  expect(head).toMatch(/^HTTP\/1\.1 403 Forbidden/);
  expect(JSON.parse(body)).toMatchObject({ kind: 'Status', code: 403, message: expect.stringMatching(/refuses requests with an Origin header/) });
  expect(kube.seen.length).toBe(before);
  expect(gw.audits.at(-1)).toMatchObject({ action: 'k8s.request', result: 'denied', details: { rule: 'local-listener' } });
});

test('a DNS-rebound Host name is refused; loopback names are answered', async () => {
  gw = await startKubeGateway({ target: target(), env: { TOKEN, CA: pki.ca.cert } });
  const before = kube.seen.length;
  const refused = await raw('GET /api/v1/namespaces/default/pods HTTP/1.1\r\nHost: rebind.evil.example:8001\r\nConnection: close\r\n\r\n');
  expect(refused.head).toMatch(/^HTTP\/1\.1 403/);
  expect(JSON.parse(refused.body).message).toMatch(/only answers requests for localhost, 127\.0\.0\.1 or \[::1\]/);
  expect(kube.seen.length).toBe(before);
  for (const host of ['localhost:8001', '127.0.0.1', '[::1]:8001']) {
    const ok = await raw(`GET /api/v1/namespaces/default/pods HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
    expect(ok.head).toMatch(/^HTTP\/1\.1 200/);
  }
});

test('with a one-time local token, a request without it gets 401 and one with it reaches the API server with the role token only', async () => {
  gw = await startKubeGateway({ target: target(), env: { TOKEN, CA: pki.ca.cert }, localPassword: LOCAL });
  const before = kube.seen.length;
  for (const auth of ['', 'Authorization: Bearer wrong\r\n', `Authorization: Basic ${LOCAL}\r\n`]) {
    const res = await raw(`GET /api/v1/namespaces/default/pods HTTP/1.1\r\nHost: 127.0.0.1\r\n${auth}Connection: close\r\n\r\n`);
    expect(res.head).toMatch(/^HTTP\/1\.1 401/);
    expect(JSON.parse(res.body)).toMatchObject({ kind: 'Status', reason: 'Unauthorized', message: expect.stringMatching(/one-time local token/) });
  }
  const upgrade = await raw(wsExec('Host: 127.0.0.1\r\n'));
  expect(upgrade.head).toMatch(/^HTTP\/1\.1 401/);
  expect(kube.seen.length).toBe(before);

  const ok = await raw(`GET /api/v1/namespaces/default/pods HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${LOCAL}\r\nConnection: close\r\n\r\n`);
  expect(ok.head).toMatch(/^HTTP\/1\.1 200/);
  expect(kube.seen.at(-1)).toMatchObject({ auth: 'bearer', authorization: `Bearer ${TOKEN}` });
  expect(JSON.stringify(gw.audits)).not.toContain(LOCAL);
});
