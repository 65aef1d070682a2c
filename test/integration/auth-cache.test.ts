import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { buildServer, type GateServer } from '../../src/server/app.js';
import { authenticate } from '../../src/server/auth.js';
import { createLogger } from '../../src/server/log.js';
import { issueGateToken } from '../../src/server/tokens.js';

/** Verified gate tokens are remembered for speed; that must never outlive the token. */
describe('verified-token cache', () => {
  let server: GateServer;
  let clock = Date.now();

  beforeAll(async () => {
    server = await buildServer({
      config: parseConfig(''),
      dataDir: await mkdtemp(join(tmpdir(), 'gate-auth-')),
      logger: createLogger({ level: 'silent' }),
      now: () => new Date(clock),
    });
  });

  afterAll(async () => {
    await server?.close();
  });

  test('a token used before is still refused once it has expired', async () => {
    const { ctx } = server;
    const { token } = await issueGateToken(ctx.key, ctx.tokenIssuer, { sub: 'alice', groups: ['g'], kind: 'user' }, 60_000, new Date(clock));
    expect((await authenticate(ctx, `Bearer ${token}`)).sub).toBe('alice');
    expect((await authenticate(ctx, `Bearer ${token}`)).sub).toBe('alice');
    clock += 61_000;
    await expect(authenticate(ctx, `Bearer ${token}`)).rejects.toMatchObject({ code: 'invalid_token' });
  });

  test('a forged token is refused even when a valid one for the same user is cached', async () => {
    const { ctx } = server;
    const { token } = await issueGateToken(ctx.key, ctx.tokenIssuer, { sub: 'bob', groups: [], kind: 'user' }, 60_000, new Date(clock));
    await authenticate(ctx, `Bearer ${token}`);
    const [h, p] = token.split('.');
    await expect(authenticate(ctx, `Bearer ${h}.${p}.AAAA`)).rejects.toMatchObject({ code: 'invalid_token' });
  });
});
