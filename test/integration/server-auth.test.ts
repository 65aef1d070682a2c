import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { buildServer, type GateServer } from '../../src/server/app.js';
import { type DevIdp, startDevIdp } from '../../src/server/dev-idp/index.js';
import { createLogger } from '../../src/server/log.js';
import { completeDeviceLogin } from '../helpers/browser.js';

/**
 * Production mode: `gate server` trusting an external IdP, played here by the
 * real oidc-provider on its own port. A device login in Chromium, then the
 * token exchange and /v1/me over HTTP.
 */
describe('policy server with an external OIDC provider', () => {
  let idp: DevIdp & { port: number };
  let server: GateServer;
  let base: string;
  const logLines: string[] = [];

  beforeAll(async () => {
    idp = await startDevIdp({
      clientId: 'gate-cli',
      users: [{ username: 'alice', password: 'pw-alice', email: 'alice@example.com', groups: ['engineering', 'platform'] }],
    });
    const config = parseConfig(`
identity:
  oidc: { issuer: ${idp.issuer}, client_id: gate-cli, scopes: [openid, email, profile, offline_access, groups] }
admins: [platform]
`);
    server = await buildServer({
      config,
      dataDir: await mkdtemp(join(tmpdir(), 'gate-srv-')),
      logger: createLogger({ level: 'info', write: (l) => logLines.push(l) }),
    });
    base = await server.listen({ port: 0 });
  });

  afterAll(async () => {
    await server?.close();
    await idp?.close();
  });

  async function exchange(subjectToken: string) {
    const res = await fetch(`${base}/v1/auth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
        subject_token: subjectToken,
        subject_token_type: 'urn:ietf:params:oauth:token-type:id_token',
      }),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> & { scopes: string[]; issuer: string; client_id: string; error: { code: string; message: string }; access_token: string; expires_in: number } };
  }

  test('/v1/config tells the CLI where to log in', async () => {
    const body = (await (await fetch(`${base}/v1/config`)).json()) as Record<string, unknown> & { scopes: string[]; issuer: string; client_id: string; error: { code: string; message: string }; access_token: string; expires_in: number };
    expect(body).toMatchObject({ issuer: idp.issuer, client_id: 'gate-cli' });
    expect(body.scopes).toContain('openid');
  });

  test('device login in Chromium, token exchange, then /v1/me', async () => {
    const cfg = (await (await fetch(`${base}/v1/config`)).json()) as Record<string, unknown> & { scopes: string[]; issuer: string; client_id: string; error: { code: string; message: string }; access_token: string; expires_in: number };
    const discovered = await oidc.discovery(new URL(cfg.issuer), cfg.client_id, undefined, oidc.None(), { execute: [oidc.allowInsecureRequests] });
    const device = await oidc.initiateDeviceAuthorization(discovered, { scope: cfg.scopes.join(' ') });
    const polling = oidc.pollDeviceAuthorizationGrant(discovered, { ...device, interval: 0.2 });
    await completeDeviceLogin({ url: device.verification_uri_complete!, username: 'alice', password: 'pw-alice' });
    const tokens = await polling;

    const { status, body } = await exchange(tokens.id_token!);
    expect(status).toBe(200);
    expect(body).toMatchObject({ token_type: 'Bearer', user: { sub: 'alice', email: 'alice@example.com', groups: ['engineering', 'platform'] } });
    expect(body.expires_in).toBe(3600);

    const me = await fetch(`${base}/v1/me`, { headers: { authorization: `Bearer ${body.access_token}` } });
    expect(me.status).toBe(200);
    expect(await me.json()).toMatchObject({ sub: 'alice', admin: true, kind: 'user' });

    // Tokens never reach the log.
    const log = logLines.join('');
    expect(log).toContain('"msg":"login"');
    expect(log).not.toContain(body.access_token);
    expect(log).not.toContain(tokens.id_token);
  });

  test('forged, foreign, expired and alg-none ID tokens get a 401 JSON error, and the server stays up', async () => {
    const { privateKey, publicKey } = await generateKeyPair('RS256');
    void publicKey;
    void exportJWK;
    const now = Math.floor(Date.now() / 1000);
    const sign = (claims: Record<string, unknown>, iss = idp.issuer) =>
      new SignJWT({ email: 'mallory@example.com', groups: ['platform'], ...claims })
        .setProtectedHeader({ alg: 'RS256' })
        .setSubject('mallory')
        .setIssuer(iss)
        .setAudience('gate-cli')
        .setIssuedAt()
        .setExpirationTime(now + 300)
        .sign(privateKey);
    const none = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(JSON.stringify({ sub: 'x', iss: idp.issuer, aud: 'gate-cli', exp: now + 300 })).toString('base64url')}.`;
    const cases = [await sign({}), await sign({}, 'https://evil.example.com'), none, 'garbage'];
    for (const token of cases) {
      const { status, body } = await exchange(token);
      expect(status).toBe(401);
      expect(body.error.code).toBe('invalid_token');
      expect(body.error.message).toMatch(/^Identity token rejected: /);
    }
    expect(logLines.filter((l) => l.includes('identity token rejected')).length).toBeGreaterThanOrEqual(cases.length);
    expect((await fetch(`${base}/v1/health`)).status).toBe(200);
  });

  test('a malformed body is a 400 naming the field; /v1/me without a token is a 401', async () => {
    const bad = await fetch(`${base}/v1/auth/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"grant_type":' });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { message: string } }).error.message).toContain('not valid JSON');
    const missing = await fetch(`${base}/v1/auth/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
    expect(missing.status).toBe(400);
    expect(((await missing.json()) as { error: { message: string } }).error.message).toContain('grant_type');
    const me = await fetch(`${base}/v1/me`);
    expect(me.status).toBe(401);
    const forged = await fetch(`${base}/v1/me`, { headers: { authorization: 'Bearer eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ4In0.AAAA' } });
    expect(forged.status).toBe(401);
    expect(((await forged.json()) as { error: { code: string } }).error.code).toBe('invalid_token');
  });
});
