import { request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { afterAll, afterEach, beforeAll, expect, test } from 'vitest';
import { type KubernetesTarget, kubernetesTarget } from '../../src/config/schema.js';
import { createTestPki, type TestPki } from '../helpers/certs.js';
import { type FakeKube, type KubeGateway, startFakeKube, startKubeGateway } from '../helpers/fake-kube.js';

// Upgrade pass-through (what kubectl exec/attach/port-forward rely on) and
// watch streaming, driven with raw sockets so every byte is visible.

const TOKEN = 'upgrade-role-token-91bd';
let pki: TestPki;
let kube: FakeKube;
let gw: KubeGateway | undefined;

function target(): KubernetesTarget {
  return kubernetesTarget.parse({
    type: 'kubernetes',
    address: kube.url,
    tls: { ca: 'env:CA' },
    roles: { admin: { token: 'env:TOKEN' } },
    guardrails: [{ deny: { verbs: ['portforward'] }, message: 'Port forwarding is disabled on prod-k8s.' }],
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

async function start() {
  gw = await startKubeGateway({ target: target(), env: { TOKEN, CA: pki.ca.cert } });
  const port = Number(new URL(gw.url).port);
  const socket = await new Promise<Socket>((resolve) => {
    const s = connect(port, '127.0.0.1', () => resolve(s));
  });
  let received = Buffer.alloc(0);
  socket.on('data', (d: Buffer) => {
    received = Buffer.concat([received, d]);
  });
  const closed = new Promise<void>((resolve) => socket.on('close', () => resolve()));
  return { gw, socket, text: () => received.toString(), closed };
}

test('an Upgrade request passes through with the role token, and bytes flow both ways until the grant ends', async () => {
  const { gw, socket, text, closed } = await start();
  socket.write(
    'POST /api/v1/namespaces/default/pods/web-1/exec?command=sh&stdin=true HTTP/1.1\r\n' +
      'Host: 127.0.0.1\r\nAuthorization: Bearer client-own\r\nImpersonate-User: root\r\n' +
      'Connection: Upgrade\r\nUpgrade: echo\r\nContent-Length: 0\r\n\r\n',
  );
  await expect.poll(text, { timeout: 10_000 }).toMatch(/^HTTP\/1\.1 101 Switching Protocols\r\n[\s\S]*\r\n\r\n$/);
  const headerEnd = text().length;
  socket.write('ping from the client');
  await expect.poll(() => text().slice(headerEnd), { timeout: 10_000 }).toBe('ping from the client');

  const seen = kube.seen.at(-1)!;
  expect(seen).toMatchObject({ method: 'POST', auth: 'bearer', authorization: `Bearer ${TOKEN}`, impersonation: [] });
  expect(seen.upgrade).toBe('echo');
  expect(gw.audits.at(-1)).toMatchObject({
    action: 'k8s.request',
    result: 'ok',
    details: { verb: 'create', action: 'exec', resource: 'pods', subresource: 'exec', namespace: 'default', name: 'web-1', status: 101, command: ['sh'] },
  });

  gw.controller.abort({ reason: 'revoked', message: 'revoked' });
  await closed;
});

test('a denied Upgrade gets a Kubernetes Status and never reaches the API server', async () => {
  const { socket, text, closed } = await start();
  const before = kube.seen.length;
  socket.write(
    'POST /api/v1/namespaces/default/pods/web-1/portforward HTTP/1.1\r\nHost: 127.0.0.1\r\n' +
      'Connection: Upgrade\r\nUpgrade: SPDY/3.1\r\nContent-Length: 0\r\n\r\n',
  );
  await closed;
  const [head, body] = text().split('\r\n\r\n');
  expect(head).toMatch(/^HTTP\/1\.1 403 Forbidden/);
  expect(JSON.parse(body!)).toMatchObject({
    kind: 'Status',
    apiVersion: 'v1',
    status: 'Failure',
    reason: 'Forbidden',
    code: 403,
    message: 'Port forwarding is disabled on prod-k8s.',
    details: { name: 'web-1', kind: 'pods' },
  });
  expect(kube.seen.length).toBe(before);
});

test('watch events stream as they happen and end with an ERROR event naming why access ended', async () => {
  gw = await startKubeGateway({ target: target(), env: { TOKEN, CA: pki.ca.cert } });
  const lines: string[] = [];
  let buffer = '';
  const ended = new Promise<void>((resolve, reject) => {
    const req = request(`${gw!.url}/api/v1/namespaces/default/pods?watch=1&resourceVersion=100`, (res) => {
      expect(res.statusCode).toBe(200);
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        buffer += d;
        const parts = buffer.split('\n');
        buffer = parts.pop()!;
        lines.push(...parts);
      });
      res.on('end', () => resolve());
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
  await expect.poll(() => kube.openWatches(), { timeout: 10_000 }).toBe(1);
  kube.emitPodEvent('MODIFIED', { name: 'web-1', namespace: 'default', phase: 'Pending' });
  await expect.poll(() => lines.length, { timeout: 10_000 }).toBe(1);
  expect(JSON.parse(lines[0]!)).toMatchObject({ type: 'MODIFIED', object: { kind: 'Pod', metadata: { name: 'web-1' } } });

  gw.controller.abort({ reason: 'expired', message: 'the grant expired' });
  await ended;
  expect(JSON.parse(lines.at(-1)!)).toMatchObject({
    type: 'ERROR',
    object: { kind: 'Status', code: 403, message: 'gate: access to target "prod-k8s" has ended: the grant expired' },
  });
  await expect.poll(() => kube.openWatches(), { timeout: 10_000 }).toBe(0);
});
