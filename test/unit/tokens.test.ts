import { mkdtemp } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { createOidcVerifier } from '../../src/server/identity/oidc.js';
import { loadOrCreateSigningKey } from '../../src/server/keys.js';
import { issueGateToken, verifyGateToken } from '../../src/server/tokens.js';

/** A minimal OIDC issuer: discovery and JWKS over real HTTP, with keys made here. */
let server: Server;
let issuer: string;
let key: CryptoKey;
let otherKey: CryptoKey;

beforeAll(async () => {
  ({ privateKey: key } = await generateKeyPair('RS256', { extractable: true }));
  ({ privateKey: otherKey } = await generateKeyPair('RS256'));
  const { d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, ...pub } = await exportJWK(key);
  server = createServer((req, res) => {
    res.setHeader('content-type', 'application/json');
    if (req.url === '/.well-known/openid-configuration') res.end(JSON.stringify({ issuer, jwks_uri: `${issuer}/jwks` }));
    else if (req.url === '/jwks') res.end(JSON.stringify({ keys: [{ ...pub, kid: 'k1', alg: 'RS256', use: 'sig' }] }));
    else res.writeHead(404).end('{}');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const addr = server.address() as { port: number };
  issuer = `http://127.0.0.1:${addr.port}`;
});

afterAll(() => new Promise<void>((r) => server.close(() => r())));

function idToken(claims: Record<string, unknown> = {}, opts: { signWith?: CryptoKey; exp?: number | string; aud?: string; iss?: string } = {}) {
  return new SignJWT({ email: 'alice@example.com', groups: ['engineering'], ...claims })
    .setProtectedHeader({ alg: 'RS256', kid: 'k1' })
    .setSubject('alice')
    .setIssuer(opts.iss ?? issuer)
    .setAudience(opts.aud ?? 'gate-cli')
    .setIssuedAt()
    .setExpirationTime(opts.exp ?? '5m')
    .sign(opts.signWith ?? key);
}

describe('IdP token verification', () => {
  const verifier = () => createOidcVerifier({ issuer, audience: 'gate-cli', algorithms: ['RS256'] });

  test('a valid token passes and yields its claims', async () => {
    const claims = await verifier()(await idToken());
    expect(claims).toMatchObject({ sub: 'alice', email: 'alice@example.com', groups: ['engineering'] });
  });

  test('a forged signature is refused', async () => {
    await expect(verifier()(await idToken({}, { signWith: otherKey }))).rejects.toThrow('token signature is not valid');
  });

  test('an expired token is refused', async () => {
    await expect(verifier()(await idToken({}, { exp: Math.floor(Date.now() / 1000) - 3600 }))).rejects.toThrow('token expired');
  });

  test('a wrong audience is refused', async () => {
    await expect(verifier()(await idToken({}, { aud: 'another-app' }))).rejects.toThrow(/claim "aud"/);
  });

  test('a wrong issuer is refused', async () => {
    await expect(verifier()(await idToken({}, { iss: 'https://evil.example.com' }))).rejects.toThrow(/claim "iss"/);
  });

  test('alg none is refused', async () => {
    const header = Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url');
    const body = Buffer.from(JSON.stringify({ sub: 'alice', iss: issuer, aud: 'gate-cli', exp: Math.floor(Date.now() / 1000) + 300 })).toString('base64url');
    await expect(verifier()(`${header}.${body}.`)).rejects.toThrow(/algorithm|malformed/);
  });

  test('garbage is refused without throwing anything but a rejection', async () => {
    await expect(verifier()('not-a-jwt')).rejects.toThrow('token is malformed');
  });
});

describe('gate tokens', () => {
  test('round-trip, and a token from another server key is refused', async () => {
    const a = await loadOrCreateSigningKey(await mkdtemp(join(tmpdir(), 'gate-k-')));
    const b = await loadOrCreateSigningKey(await mkdtemp(join(tmpdir(), 'gate-k-')));
    const who = { sub: 'alice', email: 'a@example.com', groups: ['g'], kind: 'user' as const };
    const { token } = await issueGateToken(a, 'gate:a', who, 60_000);
    expect(await verifyGateToken(a, 'gate:a', token)).toMatchObject({ sub: 'alice', groups: ['g'], kind: 'user' });
    await expect(verifyGateToken(b, 'gate:a', token)).rejects.toThrow('token signature is not valid');
  });

  test('an expired gate token is refused', async () => {
    const k = await loadOrCreateSigningKey(await mkdtemp(join(tmpdir(), 'gate-k-')));
    const { token } = await issueGateToken(k, 'gate:k', { sub: 'a', groups: [], kind: 'user' }, 1000, new Date(Date.now() - 3_600_000));
    await expect(verifyGateToken(k, 'gate:k', token)).rejects.toThrow('token expired');
  });

  test('the signing key survives a restart and is stored 0600', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'gate-k-'));
    const first = await loadOrCreateSigningKey(dir);
    const second = await loadOrCreateSigningKey(dir);
    expect(second.kid).toBe(first.kid);
    const { statSync } = await import('node:fs');
    expect(statSync(join(dir, 'signing-key.jwk.json')).mode & 0o777).toBe(0o600);
  });
});
