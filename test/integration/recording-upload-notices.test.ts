/**
 * Issue 19: "the CLI retries a failed upload … and says what it is doing".
 * A recorded `gate exec` whose chunk uploads keep failing (the server's route
 * answers 500 through a balancer-like proxy in front of it) tells its user
 * once, with the reason, that the recording is kept locally and retried, and
 * once that the upload resumed; the tool's output and exit code are its own,
 * and the recording arrives complete.
 */
import { createServer, request as httpRequest, type Server } from 'node:http';
import { connect } from 'node:net';
import { rm } from 'node:fs/promises';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { gateEnv, startGate } from '../helpers/gate-bin.js';
import { startTokenStack, type TokenStack } from '../helpers/token-stack.js';

let stack: TokenStack;
let proxy: Server;
let proxyUrl: string;
/** While set, every chunk upload is answered 500 by the proxy and never reaches the server. */
let failChunks = false;
let refusedChunks = 0;

beforeAll(async () => {
  stack = await startTokenStack(`targets:
  box: { type: tcp, address: '127.0.0.1:9', recording: required, record_output: full }
policies:
  - { name: eng, groups: [engineering], targets: [box], roles: [default], max_duration: 1h, approval: auto }
`);
  const backend = new URL(stack.url);
  proxy = createServer((req, res) => {
    if (failChunks && req.method === 'PUT' && /\/chunks\//.test(req.url ?? '')) {
      refusedChunks++;
      req.resume();
      res.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { code: 'internal', message: 'The server hit an internal error.' } }));
      return;
    }
    const up = httpRequest({ host: backend.hostname, port: backend.port, method: req.method, path: req.url, headers: req.headers }, (upRes) => {
      res.writeHead(upRes.statusCode ?? 502, upRes.headers);
      upRes.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  // Tunnels (HTTP Upgrade) pass through untouched.
  proxy.on('upgrade', (req, socket, head) => {
    const up = connect(Number(backend.port), backend.hostname, () => {
      const lines = [`${req.method} ${req.url} HTTP/1.1`];
      for (let i = 0; i < req.rawHeaders.length; i += 2) lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
      up.write(`${lines.join('\r\n')}\r\n\r\n`);
      up.write(head);
      up.pipe(socket).pipe(up);
    });
    up.on('error', () => socket.destroy());
    socket.on('error', () => up.destroy());
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
  proxyUrl = `http://127.0.0.1:${(proxy.address() as { port: number }).port}`;
}, 60_000);

afterAll(async () => {
  proxy?.close();
  await stack?.close();
});

it('a recorded gate exec says once that its uploads fail (and why), once that they resumed, and its recording arrives whole', async () => {
  const token = await stack.human('alice', ['engineering']);
  const env = await gateEnv({ GATE_TOKEN: token, GATE_SERVER: proxyUrl });
  failChunks = true;
  const run = startGate(['exec', 'box', '--', 'sh', '-c', 'i=0; while [ $i -lt 80 ]; do i=$((i+1)); echo "line $i"; sleep 0.1; done; exit 3'], { env });
  try {
    const failing = await run.waitFor(/cannot be uploaded right now/, 'stderr', 30_000);
    expect(failing).toMatch(/^gate: the recording of session [0-9a-f-]{36} cannot be uploaded right now \(.*internal error.*\); it is kept locally and gate keeps retrying\.$/);
    expect(refusedChunks).toBeGreaterThanOrEqual(2);
    failChunks = false;
    const resumed = await run.waitFor(/upload of session .* resumed/, 'stderr', 30_000);
    const sessionId = /session ([0-9a-f-]{36})/.exec(failing)![1]!;
    expect(resumed).toBe(`gate: the recording upload of session ${sessionId} resumed.`);
    expect(await run.exited).toBe(3);
    // Said once each, not per failed chunk.
    expect(run.lines.stderr.filter((l) => l.includes('cannot be uploaded right now'))).toHaveLength(1);
    expect(run.lines.stdout.at(-1)).toBe('line 80');

    const verified = await stack.api<{ ok: boolean; closed: boolean; incomplete: boolean; missing: number }>(token, 'GET', `/v1/sessions/${sessionId}/verify`);
    expect(verified.body).toMatchObject({ ok: true, closed: true, incomplete: false, missing: 0 });
    const cast = await fetch(`${stack.url}/v1/sessions/${sessionId}/recording`, { headers: { authorization: `Bearer ${token}` } });
    const text = await cast.text();
    // Every line the tool wrote, the ones whose chunks were refused included (escaped as the cast's JSON has them).
    for (let n = 1; n <= 80; n++) expect(text).toContain(`line ${n}\\n`);
  } finally {
    await run.stop();
    await rm(env.GATE_CONFIG_DIR!, { recursive: true, force: true });
  }
}, 60_000);
