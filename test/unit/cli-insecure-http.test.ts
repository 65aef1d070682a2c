import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { networkInterfaces } from 'node:os';
import { describe, expect, test } from 'vitest';
import { checkServerTransport, isLoopbackHost } from '../../src/cli/server-url.js';
import { ENVIRONMENT } from '../../src/env.js';
import { runCliWith } from '../helpers/cli-run.js';

// A gate token sent over plain http:// to a host on the network can be read
// and replayed by anyone on the path: the CLI refuses unless told otherwise.
describe('plain http:// server URLs', () => {
  test('a non-loopback http:// server is refused before anything is sent, naming https and --insecure', async () => {
    const r = await runCliWith(['targets', '--server', 'http://gate.example.com'], { env: { GATE_TOKEN: 'gt_x' } });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/Refusing to use the gate server http:\/\/gate\.example\.com over plain http:\/\//);
    expect(r.stderr).toMatch(/--insecure \(or set GATE_INSECURE_HTTP=1\)/);
  });

  test('GATE_SERVER and a saved server are checked too', async () => {
    const r = await runCliWith(['whoami'], { env: { GATE_SERVER: 'http://10.1.2.3:4180', GATE_TOKEN: 'gt_x' } });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/Refusing to use the gate server http:\/\/10\.1\.2\.3:4180/);
  });

  test.each([['--insecure'], ['GATE_INSECURE_HTTP']])('with %s the request goes out, with a warning', async (how) => {
    // This machine's own non-loopback address: the traffic never leaves the host.
    const ip = Object.values(networkInterfaces()).flat().find((a) => a && a.family === 'IPv4' && !a.internal)?.address;
    expect(ip, 'a non-loopback IPv4 address on this machine').toBeDefined();
    const seen: string[] = [];
    const server = createServer((req, res) => {
      seen.push(req.url ?? '');
      res.writeHead(401, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { code: 'unauthenticated', message: 'no' } }));
    });
    await new Promise<void>((resolve) => server.listen(0, ip, resolve));
    try {
      const url = `http://${ip}:${(server.address() as AddressInfo).port}`;
      const args = ['targets', '--server', url, ...(how === '--insecure' ? ['--insecure'] : [])];
      const env = { GATE_TOKEN: 'gt_x', ...(how === 'GATE_INSECURE_HTTP' ? { GATE_INSECURE_HTTP: '1' } : {}) };
      const r = await runCliWith(args, { env });
      expect(r.stderr).toContain(`gate: warning: using ${url} over plain http://`);
      expect(seen).toEqual(['/v1/targets']);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  test('loopback http:// needs no flag and prints no warning', () => {
    const warnings: string[] = [];
    for (const url of ['http://127.0.0.1:4180', 'http://localhost:4180', 'http://[::1]:4180', 'http://127.8.9.10', 'http://gate.localhost']) {
      checkServerTransport(url, false, (m) => warnings.push(m));
    }
    expect(warnings).toEqual([]);
    expect(isLoopbackHost('127.0.0.1.example.com')).toBe(false);
    expect(isLoopbackHost('localhost.example.com')).toBe(false);
    expect(() => checkServerTransport('https://gate.example.com', false, () => {})).not.toThrow();
  });

  test('the variable is listed in gate help environment', () => {
    expect(ENVIRONMENT.map(([name]) => name)).toContain('GATE_INSECURE_HTTP');
  });
});
