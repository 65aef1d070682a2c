import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKeyPair, SignJWT } from 'jose';
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { buildServer, type GateServer } from '../../src/server/app.js';
import { type DevIdp, startDevIdp } from '../../src/server/dev-idp/index.js';
import { createLogger } from '../../src/server/log.js';
import { completeDeviceLogin } from '../helpers/browser.js';
import { startTestIssuer, type TestIssuer } from '../helpers/oidc-issuer.js';

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

  test('forged, foreign, alg-none and garbage ID tokens get a generic 401; the reason is in the server log and the audit log', async () => {
    const { privateKey } = await generateKeyPair('RS256');
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
    const cases: [string, RegExp][] = [
      [await sign({}), /token (signed by an unknown key|signature is not valid)/],
      [await sign({}, 'https://evil.example.com'), /not issued by a trusted issuer/],
      [none, /token (algorithm is not allowed|is malformed|is not valid)/],
      ['garbage', /not issued by a trusted issuer/],
    ];
    for (const [token, reason] of cases) await expectRefused(server, () => exchange(token), logLines, token, reason);
    expect((await fetch(`${base}/v1/health`)).status).toBe(200);
  });

  test('real log lines of refused tokens name the refusal and never carry a token, even one hidden in a claim', async () => {
    const { privateKey } = await generateKeyPair('EdDSA');
    const forgedGate = await new SignJWT({ groups: ['platform'] }).setProtectedHeader({ alg: 'EdDSA' }).setSubject('mallory').setExpirationTime('1h').sign(privateKey);
    const serviceToken = `gst_${'ab'.repeat(8)}_${'x'.repeat(43)}`;
    // The unverified issuer is logged to say which IdP was tried: here it smuggles a token.
    const smuggler = await new SignJWT({}).setProtectedHeader({ alg: 'EdDSA' }).setIssuer(`https://evil.example.com/${serviceToken}?t=${forgedGate}`).setSubject('m').sign(privateKey);
    const before = logLines.length;
    expect((await fetch(`${base}/v1/me`, { headers: { authorization: `Bearer ${forgedGate}` } })).status).toBe(401);
    expect((await fetch(`${base}/v1/me`, { headers: { authorization: `Bearer ${serviceToken}` } })).status).toBe(401);
    expect((await exchange(smuggler)).status).toBe(401);
    const lines = logLines.slice(before).join('');
    expect(lines).toContain('gate token rejected');
    expect(lines).toContain('service token rejected');
    expect(lines).toContain('https://evil.example.com/gst_[redacted]');
    for (const secret of [forgedGate, serviceToken, smuggler, 'x'.repeat(43)]) expect(lines).not.toContain(secret);
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

async function postExchange(base: string, subjectToken: string) {
  const res = await fetch(`${base}/v1/auth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
      subject_token: subjectToken,
      subject_token_type: 'urn:ietf:params:oauth:token-type:id_token',
    }),
  });
  return { status: res.status, body: (await res.json()) as { error?: unknown; access_token?: string } };
}

/**
 * The caller gets the same 401 whatever failed (a reason would coach a
 * forger); the log line and a denied `auth.login` audit row carry the reason,
 * and neither carries the token.
 */
async function expectRefused(
  server: GateServer,
  exchange: () => Promise<{ status: number; body: { error?: unknown } }>,
  logLines: string[],
  token: string,
  reason: RegExp,
) {
  const before = logLines.length;
  const seen = new Set((await server.ctx.audit.list({ limit: 1000 })).map((r) => r.id));
  const { status, body } = await exchange();
  expect(status).toBe(401);
  expect(body.error).toEqual({ code: 'invalid_token', message: 'Identity token rejected.' });
  const line = logLines.slice(before).find((l) => l.includes('identity token rejected'));
  expect(line, logLines.slice(before).join('')).toMatch(reason);
  expect(line).not.toContain(token);
  const added = (await server.ctx.audit.list({ limit: 1000 })).filter((r) => !seen.has(r.id));
  expect(added).toHaveLength(1);
  expect(added[0]).toMatchObject({ action: 'auth.login', result: 'denied', actor_kind: 'user' });
  expect(added[0]!.details).toMatch(reason);
  expect(added[0]!.details).not.toContain(token);
}

/** An IdP whose keys the test holds, so a correctly signed token can be made expired. */
describe('an expired ID token from the trusted IdP', () => {
  let issuer: TestIssuer;
  let server: GateServer;
  let base: string;
  const logLines: string[] = [];

  beforeAll(async () => {
    issuer = await startTestIssuer();
    const config = parseConfig(`
identity:
  oidc: { issuer: ${issuer.issuer}, client_id: gate-cli, scopes: [openid], algorithms: [RS256] }
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
    await issuer?.close();
  });

  test('the same key and claims pass while fresh, and get the generic 401 once expired, with "expired" only in the log and audit', async () => {
    const claims = { sub: 'alice', aud: 'gate-cli', email: 'alice@example.com' };
    const fresh = await postExchange(base, await issuer.sign(claims));
    expect(fresh.status, JSON.stringify(fresh.body)).toBe(200);
    // An hour old with a ten-minute life: well past the 30 s clock tolerance.
    const expired = await issuer.sign(claims, { iat: Math.floor(Date.now() / 1000) - 3600, expiresIn: 600 });
    await expectRefused(server, () => postExchange(base, expired), logLines, expired, /token expired/);
  });
});
