import { writeFile } from 'node:fs/promises';
import { rm } from 'node:fs/promises';
import * as oidc from 'openid-client';
import { request } from 'undici';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { type Credentials, fileStore } from '../../src/auth/credentials.js';
import { renewLockPath } from '../../src/auth/renew-lock.js';
import { completeDeviceLogin } from '../helpers/browser.js';
import { gateEnv, runGate } from '../helpers/gate-bin.js';
import { type Stack, startStack } from '../helpers/stack.js';

// The dev IdP is the real oidc-provider, which rotates refresh tokens and
// revokes the whole grant when a spent one is used again. Two gate
// processes renewing at once used to send the same refresh token and log
// the user out for good; they must renew once, through a lock file.

let stack: Stack;
let env: NodeJS.ProcessEnv;
let original: Credentials;

beforeAll(async () => {
  stack = await startStack();
  const issuer = `${stack.url}/idp`;
  const cfg = await oidc.discovery(new URL(issuer), 'gate-cli', undefined, oidc.None(), { execute: [oidc.allowInsecureRequests] });
  const device = await oidc.initiateDeviceAuthorization(cfg, { scope: 'openid email profile offline_access groups' });
  const polled = oidc.pollDeviceAuthorizationGrant(cfg, { ...device, interval: 0.2 });
  await completeDeviceLogin({ url: device.verification_uri_complete!, username: 'alice', password: 'alice' });
  const tokens = await polled;
  expect(tokens.refresh_token).toBeTruthy();
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
  env = await gateEnv({ GATE_SERVER: stack.url });
  // As `gate login` stores them, but with the gate token already expired: the next command must renew.
  original = {
    server: stack.url,
    access_token: body.access_token,
    expires_at: new Date(Date.now() - 60_000).toISOString(),
    refresh_token: tokens.refresh_token!,
    issuer,
    client_id: 'gate-cli',
    user: body.user,
  };
  await fileStore(env.GATE_CONFIG_DIR!).set(original);
}, 120_000);

afterAll(async () => {
  await stack?.close();
  if (env?.GATE_CONFIG_DIR) await rm(env.GATE_CONFIG_DIR, { recursive: true, force: true });
});

async function expireStoredToken(): Promise<Credentials> {
  const store = fileStore(env.GATE_CONFIG_DIR!);
  const creds = (await store.get(stack.url))!;
  await store.set({ ...creds, expires_at: new Date(Date.now() - 60_000).toISOString() });
  return creds;
}

test('ten concurrent gate processes renewing one credential all succeed, and the user stays logged in', async () => {
  const runs = await Promise.all(Array.from({ length: 10 }, () => runGate(['whoami', '--json'], { env, timeoutMs: 90_000 })));
  for (const r of runs) {
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
    expect(JSON.parse(r.stdout)).toMatchObject({ sub: 'alice' });
  }
  const stored = (await fileStore(env.GATE_CONFIG_DIR!).get(stack.url))!;
  expect(stored.refresh_token).not.toBe(original.refresh_token);
  expect(Date.parse(stored.expires_at)).toBeGreaterThan(Date.now());

  // Still logged in: the rotated refresh token renews again.
  await expireStoredToken();
  const again = await runGate(['whoami', '--json'], { env });
  expect(again.code, again.stderr).toBe(0);
  expect(JSON.parse(again.stdout)).toMatchObject({ sub: 'alice' });
}, 180_000);

test('a lock left by a process that died does not block renewal', async () => {
  await expireStoredToken();
  // A pid that cannot be running: above the kernel's pid_max.
  await writeFile(renewLockPath(env.GATE_CONFIG_DIR!, stack.url), `99999999 ${(await import('node:os')).hostname()} 2026-01-01T00:00:00Z`);
  const r = await runGate(['whoami', '--json'], { env });
  expect(r.code, r.stderr).toBe(0);
  expect(JSON.parse(r.stdout)).toMatchObject({ sub: 'alice' });
});
