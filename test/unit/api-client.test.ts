import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, test } from 'vitest';
import { z } from 'zod';
import { createClient } from '../../src/api/client.js';
import { GateError } from '../../src/errors.js';

const servers: Server[] = [];
afterEach(async () => {
  // Kept-alive sockets would hold close() open until they time out.
  await Promise.all(
    servers.splice(0).map((s) => {
      const closed = new Promise((r) => s.close(r));
      s.closeAllConnections();
      return closed;
    }),
  );
});

async function serve(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ url: string; connections: () => number }> {
  let connections = 0;
  const server = createServer(handler);
  server.on('connection', () => connections++);
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, connections: () => connections };
}

const ok = z.object({ ok: z.boolean() });

describe('the CLI API client', () => {
  test('sends JSON with the bearer token, reads JSON back, and reuses one connection for many calls', async () => {
    const seen: { auth?: string; type?: string; length?: string; body: string }[] = [];
    const { url, connections } = await serve((req, res) => {
      let body = '';
      req.on('data', (piece) => {
        body += piece;
      });
      req.on('end', () => {
        seen.push({ auth: req.headers.authorization, type: req.headers['content-type'], length: req.headers['content-length'], body });
        res.setHeader('content-type', 'application/json');
        res.end('{"ok":true}');
      });
    });
    const client = createClient({ server: url, token: async () => 'tok' });
    for (let i = 0; i < 5; i++) expect(await client.call('POST', '/v1/x', ok, { body: { i } })).toEqual({ ok: true });
    expect(await client.call('POST', '/v1/empty', ok)).toEqual({ ok: true });
    expect(seen[0]).toEqual({ auth: 'Bearer tok', type: 'application/json', length: '7', body: '{"i":0}' });
    // A POST without a body says so with a length, not as a chunked stream.
    expect(seen[5]).toMatchObject({ length: '0', body: '' });
    expect(connections()).toBe(1);
  });

  test('an error answer becomes the GateError the server described', async () => {
    const { url } = await serve((_req, res) => {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { code: 'not_found', message: 'No target named db-x.' } }));
    });
    const err = await createClient({ server: url }).call('GET', '/v1/targets/db-x', ok).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(GateError);
    expect((err as GateError).code).toBe('GATE_ERR_NOT_FOUND');
    expect((err as GateError).message).toBe('No target named db-x.');
  });

  test('a server that stays silent is a timeout naming the server, not a hang', async () => {
    const { url } = await serve(() => {
      // never answers
    });
    const started = performance.now();
    const err = await createClient({ server: url, timeoutMs: 300 }).call('GET', '/v1/me', ok).catch((e: unknown) => e);
    expect((err as GateError).code).toBe('GATE_ERR_TIMEOUT');
    expect((err as GateError).message).toBe(`The gate server at ${url} did not answer in time.`);
    expect(performance.now() - started).toBeLessThan(5000);
  });

  test('a server that is not there, or that cuts the answer short, is a network error naming the server', async () => {
    const { url } = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': '100' });
      res.write('{"ok":');
      setTimeout(() => res.socket?.destroy(), 20);
    });
    const cut = await createClient({ server: url }).call('GET', '/v1/me', ok).catch((e: unknown) => e);
    expect((cut as GateError).code).toBe('GATE_ERR_NETWORK');
    expect((cut as GateError).message).toContain(url);

    const closed = await serve(() => {});
    const gone = closed.url;
    await new Promise((r) => servers.pop()!.close(r));
    const refused = await createClient({ server: gone }).call('GET', '/v1/me', ok).catch((e: unknown) => e);
    expect((refused as GateError).code).toBe('GATE_ERR_NETWORK');
    expect((refused as GateError).message).toBe(`Cannot reach the gate server at ${gone}: connection refused.`);
  });

  test('an aborted call is cancelled at once', async () => {
    const { url } = await serve(() => {});
    const controller = new AbortController();
    const pending = createClient({ server: url }).call('GET', '/v1/me', ok, { signal: controller.signal }).catch((e: unknown) => e);
    setTimeout(() => controller.abort(), 50);
    expect(((await pending) as GateError).code).toBe('GATE_ERR_CANCELLED');
  });
});
