import { randomBytes } from 'node:crypto';
import { generateKeyPair, SignJWT } from 'jose';
import { beforeAll, describe, expect, test } from 'vitest';
import { createLogger, redact } from '../../src/server/log.js';
import { looksLikeServiceToken } from '../../src/server/service-tokens.js';

/** Token shapes as gate makes them: an EdDSA gate JWT, an RS256 IdP ID token, a `gst_` service token. */
let gateJwt: string;
let idToken: string;
const serviceToken = `gst_${randomBytes(8).toString('hex')}_${randomBytes(32).toString('base64url')}`;
const opaque = `ya29.${randomBytes(24).toString('base64url')}`;

beforeAll(async () => {
  const ed = await generateKeyPair('EdDSA');
  gateJwt = await new SignJWT({ groups: ['engineering'], kind: 'user' })
    .setProtectedHeader({ alg: 'EdDSA', typ: 'JWT' })
    .setSubject('alice')
    .setIssuer('http://127.0.0.1:4180')
    .setExpirationTime('1h')
    .sign(ed.privateKey);
  const rs = await generateKeyPair('RS256');
  idToken = await new SignJWT({ email: 'alice@example.com' }).setProtectedHeader({ alg: 'RS256', kid: 'k1' }).setSubject('alice').sign(rs.privateKey);
  expect(looksLikeServiceToken(serviceToken)).toBe(true);
});

describe('redact', () => {
  test('removes JWTs, bearer credentials and service tokens from free text, keeping the words around them', () => {
    const text = `exchange failed for ${idToken}; retried with Authorization: Bearer ${opaque}, then GATE_TOKEN=${gateJwt} and ${serviceToken}.`;
    const out = redact(text);
    for (const secret of [idToken, gateJwt, serviceToken, opaque]) expect(out).not.toContain(secret);
    expect(out).toBe('exchange failed for [redacted-jwt]; retried with Authorization: Bearer [redacted], then GATE_TOKEN=[redacted-jwt] and gst_[redacted].');
  });

  test('a bearer JWT, a lower-case bearer and a token inside JSON or a URL are all caught', () => {
    const out = redact(`{"authorization":"bearer ${gateJwt}","url":"/v1/me?t=${serviceToken}&x=1"}`);
    expect(out).not.toContain(gateJwt);
    expect(out).not.toContain(serviceToken);
    expect(out).toContain('&x=1');
  });

  test('text without a token is left alone', () => {
    const plain = 'grant g_01 for db-prod (role read) expired at 2026-12-02T00:00:00Z; eyJ is a prefix, not a token';
    expect(redact(plain)).toBe(plain);
  });
});

describe('the server logger', () => {
  function capture() {
    const lines: string[] = [];
    return { lines, log: createLogger({ level: 'debug', write: (l) => lines.push(l) }) };
  }

  test('scrubs tokens from the message and from every field, nested ones included, and stays one JSON line', () => {
    const { lines, log } = capture();
    log.error(`request with ${gateJwt} failed`, {
      error: `Error: upstream said "Bearer ${opaque}"`,
      issuer: serviceToken,
      nested: { claims: [idToken], count: 3 },
    });
    expect(lines).toHaveLength(1);
    const line = lines[0]!;
    for (const secret of [idToken, gateJwt, serviceToken, opaque]) expect(line).not.toContain(secret);
    const parsed = JSON.parse(line);
    expect(parsed).toMatchObject({
      level: 'error',
      msg: 'request with [redacted-jwt] failed',
      error: 'Error: upstream said "Bearer [redacted]"',
      issuer: 'gst_[redacted]',
      nested: { claims: ['[redacted-jwt]'], count: 3 },
    });
  });

  test('below its level it writes nothing', () => {
    const lines: string[] = [];
    createLogger({ level: 'warn', write: (l) => lines.push(l) }).info(`login ${gateJwt}`);
    expect(lines).toEqual([]);
  });
});
