import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as oidc from 'openid-client';
import { request } from 'undici';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { type Credentials, type CredentialStore, fileStore } from '../../src/auth/credentials.js';
import { validAccessToken } from '../../src/auth/session.js';
import { completeDeviceLogin } from '../helpers/browser.js';
import { type Stack, startStack } from '../helpers/stack.js';

// `gate connect` opens several connections at once and each asks for a
// token: with an expired gate token they must share one renewal, or the
// rotated refresh token is spent twice and the real oidc-provider revokes
// the grant.

let stack: Stack;
let dir: string;
let store: CredentialStore;
let refreshes = 0;

beforeAll(async () => {
  stack = await startStack();
  const issuer = `${stack.url}/idp`;
  const cfg = await oidc.discovery(new URL(issuer), 'gate-cli', undefined, oidc.None(), { execute: [oidc.allowInsecureRequests] });
  const device = await oidc.initiateDeviceAuthorization(cfg, { scope: 'openid email profile offline_access groups' });
  const polled = oidc.pollDeviceAuthorizationGrant(cfg, { ...device, interval: 0.2 });
  await completeDeviceLogin({ url: device.verification_uri_complete!, username: 'alice', password: 'alice' });
  const tokens = await polled;
  const res = await request(`${stack.url}/v1/auth/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
      subject_token: tokens.id_token,
      subject_token_type: 'urn:ietf:params:oauth:token-type:id_token',
    }),
  });
  const body = (await res.body.json()) as { access_token: string; user: Credentials['user'] };
  dir = await mkdtemp(join(tmpdir(), 'gate-renew-'));
  const file = fileStore(dir);
  // Counts the renewals that reached the store (one per refresh-token use).
  store = {
    ...file,
    kind: file.kind,
    location: file.location,
    get: (s) => file.get(s),
    delete: (s) => file.delete(s),
    async set(c) {
      refreshes += 1;
      await file.set(c);
    },
  };
  await file.set({
    server: stack.url,
    access_token: body.access_token,
    expires_at: new Date(Date.now() - 60_000).toISOString(),
    refresh_token: tokens.refresh_token!,
    issuer,
    client_id: 'gate-cli',
    user: body.user,
  });
}, 120_000);

afterAll(async () => {
  await stack?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

test('eight concurrent callers in one process share one renewal and all get the same fresh token', async () => {
  const results = await Promise.all(Array.from({ length: 8 }, () => validAccessToken({ server: stack.url, store, now: new Date() })));
  expect(new Set(results.map((r) => r.access_token)).size).toBe(1);
  expect(Date.parse(results[0]!.expires_at)).toBeGreaterThan(Date.now());
  // One renewal: the rotated refresh token stored, then the new gate token.
  expect(refreshes).toBeLessThanOrEqual(2);
  const me = await request(`${stack.url}/v1/me`, { headers: { authorization: `Bearer ${results[0]!.access_token}` } });
  expect(me.statusCode).toBe(200);
  await me.body.dump();
});
