import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { gateEnv, runGate } from '../helpers/gate-bin.js';

/**
 * A proxy in front of the server that echoes the caller's credential back in
 * its error (misconfigured ones do): the built CLI must not print it, on
 * stderr, in `--json` error events, or in the GATE_DEBUG stack.
 */
describe('the CLI redacts token-shaped strings from errors', () => {
  let proxy: Server;
  let url: string;
  let gateToken: string;
  const serviceToken = `gst_${randomBytes(8).toString('hex')}_${randomBytes(32).toString('base64url')}`;

  beforeAll(async () => {
    const { privateKey } = await generateKeyPair('EdDSA');
    gateToken = await new SignJWT({ groups: ['engineering'], kind: 'user' })
      .setProtectedHeader({ alg: 'EdDSA', typ: 'JWT' })
      .setSubject('alice')
      .setIssuer('http://127.0.0.1')
      .setExpirationTime('1h')
      .sign(privateKey);
    proxy = createServer((req, res) => {
      const auth = req.headers.authorization ?? '';
      const status = req.url?.startsWith('/v1/me') && auth.includes('gst_') ? 401 : 502;
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { code: 'upstream', message: `upstream refused ${auth}`, details: { received: auth.replace(/^Bearer /, '') } } }));
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(proxy.address() as { port: number }).port}`;
  });

  afterAll(async () => {
    proxy.closeAllConnections();
    await new Promise((r) => proxy.close(r));
  });

  test('a gate JWT echoed in a 502 is redacted in the message, the JSON event and the debug output', async () => {
    for (const extra of [{}, { GATE_DEBUG: '1' }]) {
      const env = await gateEnv({ GATE_SERVER: url, GATE_TOKEN: gateToken, ...extra });
      const res = await runGate(['whoami', '--json'], { env });
      expect(res.code).toBe(1);
      const output = res.stdout + res.stderr;
      expect(output).toContain('upstream refused Bearer [redacted');
      expect(output).not.toContain(gateToken);
      // Not even the JWT's signature part on its own.
      expect(output).not.toContain(gateToken.split('.')[2]);
      const event = JSON.parse(res.stdout.trim().split('\n').pop()!);
      expect(event).toMatchObject({ event: 'error', error: { received: '[redacted-jwt]' }, exit_code: 1 });
    }
  });

  test('a service token echoed in a 401 is redacted, and the user still gets the hint to log in', async () => {
    const env = await gateEnv({ GATE_SERVER: url, GATE_TOKEN: serviceToken });
    const res = await runGate(['whoami'], { env });
    expect(res.code).toBe(4);
    expect(res.stderr).toContain('upstream refused Bearer [redacted]');
    expect(res.stderr).toContain('gate login');
    expect(res.stderr + res.stdout).not.toContain(serviceToken);
    expect(res.stderr + res.stdout).not.toContain(serviceToken.slice(21));
  });
});
