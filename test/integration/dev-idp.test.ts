import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DevUser } from '../../src/config/schema.js';
import { parseConfig } from '../../src/config/load.js';
import { buildServer, type GateServer } from '../../src/server/app.js';
import { createDevIdp, type DevIdp, startDevIdp } from '../../src/server/dev-idp/index.js';
import { createLogger } from '../../src/server/log.js';
import { completeDeviceLogin, confirmDeviceCode, pageText, submitLogin, withBrowser } from '../helpers/browser.js';

const CLIENT_ID = 'gate-cli';
const SCOPE = 'openid email profile offline_access groups';

const users: DevUser[] = [
  { username: 'alice', password: 'alice-pw', email: 'alice@example.test', name: 'Alice Admin', groups: ['eng', 'admins'] },
  { username: 'bob', password: 'bob-pw', email: 'bob@example.test', groups: [] },
];

async function discover(issuer: string): Promise<client.Configuration> {
  return client.discovery(new URL(issuer), CLIENT_ID, undefined, client.None(), {
    execute: [client.allowInsecureRequests],
  });
}

/**
 * Starts a device authorization and its polling (every 200 ms instead of the
 * default 5 s). The poll is aborted by `stop()` so a failed browser step never
 * leaves it running.
 */
async function startDeviceLogin(config: client.Configuration) {
  const device = await client.initiateDeviceAuthorization(config, { scope: SCOPE });
  const controller = new AbortController();
  const tokens = client.pollDeviceAuthorizationGrant(config, { ...device, interval: 0.2 }, undefined, {
    signal: controller.signal,
  });
  // Marked handled here; the test awaits it (and sees any rejection) later.
  tokens.catch(() => {});
  return { device, tokens, stop: () => controller.abort() };
}

async function verifiedIdToken(config: client.Configuration, idToken: string | undefined) {
  expect(idToken).toBeTypeOf('string');
  const metadata = config.serverMetadata();
  const jwks = createRemoteJWKSet(new URL(metadata.jwks_uri!));
  const { payload, protectedHeader } = await jwtVerify(idToken!, jwks, {
    issuer: metadata.issuer,
    audience: CLIENT_ID,
  });
  return { payload, protectedHeader };
}

describe('dev IdP on its own server', () => {
  let idp: DevIdp & { port: number };
  let config: client.Configuration;

  beforeAll(async () => {
    idp = await startDevIdp({ clientId: CLIENT_ID, users });
    config = await discover(idp.issuer);
  });
  afterAll(async () => {
    await idp?.close();
  });

  it('discovery returns exactly the issuer the IdP reports', () => {
    expect(idp.issuer).toBe(`http://127.0.0.1:${idp.port}`);
    expect(config.serverMetadata().issuer).toBe(idp.issuer);
    expect(config.serverMetadata().device_authorization_endpoint).toBe(`${idp.issuer}/device/auth`);
  });

  it('signs alice in through the browser; the ID token carries sub, email, name, groups and a refresh token renews it', async () => {
    const login = await startDeviceLogin(config);
    try {
      expect(login.device.verification_uri_complete).toContain(login.device.user_code);
      await completeDeviceLogin({ url: login.device.verification_uri_complete!, username: 'alice', password: 'alice-pw' });
      const tokens = await login.tokens;

      const { payload, protectedHeader } = await verifiedIdToken(config, tokens.id_token);
      expect(protectedHeader.alg).toBe('RS256');
      expect(payload).toMatchObject({
        sub: 'alice',
        email: 'alice@example.test',
        name: 'Alice Admin',
        groups: ['eng', 'admins'],
      });
      expect(tokens.refresh_token).toBeTypeOf('string');

      const renewed = await client.refreshTokenGrant(config, tokens.refresh_token!);
      const again = await verifiedIdToken(config, renewed.id_token);
      expect(again.payload).toMatchObject({ sub: 'alice', email: 'alice@example.test', groups: ['eng', 'admins'] });
      // Public client: the refresh token rotates, and the old one is spent.
      expect(renewed.refresh_token).toBeTypeOf('string');
      expect(renewed.refresh_token).not.toBe(tokens.refresh_token);
      await expect(client.refreshTokenGrant(config, tokens.refresh_token!)).rejects.toMatchObject({
        error: 'invalid_grant',
      });
    } finally {
      login.stop();
    }
  });

  it('a wrong password shows the form again with an error, and the right one afterwards signs in', async () => {
    const login = await startDeviceLogin(config);
    try {
      await withBrowser(async (page) => {
        // The user types the code at the bare verification URI.
        await confirmDeviceCode(page, login.device.verification_uri, login.device.user_code);
        const wrong = await submitLogin(page, 'bob', 'not-bob-pw');
        expect(wrong.ok).toBe(false);
        expect(wrong.ok ? '' : wrong.error).toContain('Wrong username or password');
        // The form is back, username kept, password cleared.
        await expect(page.locator('input[name=username]').inputValue()).resolves.toBe('bob');
        await expect(page.locator('input[name=password]').inputValue()).resolves.toBe('');

        const right = await submitLogin(page, 'bob', 'bob-pw');
        expect(right.text).toContain('you may close this window and return to the terminal');
      });
      const tokens = await login.tokens;
      const { payload } = await verifiedIdToken(config, tokens.id_token);
      expect(payload).toMatchObject({ sub: 'bob', email: 'bob@example.test', name: 'bob', groups: [] });
    } finally {
      login.stop();
    }
  });

  it('completeDeviceLogin with expectError resolves on a refused password; the code cannot be replayed elsewhere', async () => {
    const login = await startDeviceLogin(config);
    try {
      await completeDeviceLogin({
        url: login.device.verification_uri_complete!,
        username: 'alice',
        password: 'wrong',
        expectError: true,
      });
      await expect(
        completeDeviceLogin({ url: login.device.verification_uri_complete!, username: 'alice', password: 'wrong' }),
      ).rejects.toThrow(/the device code was refused: .*already been used/);
    } finally {
      login.stop();
    }
  });

  it('asks who is signing in every time, even when the browser already has a session', async () => {
    const first = await startDeviceLogin(config);
    const second = await startDeviceLogin(config);
    try {
      await withBrowser(async (page) => {
        await confirmDeviceCode(page, first.device.verification_uri_complete!);
        expect((await submitLogin(page, 'alice', 'alice-pw')).ok).toBe(true);
        // Same browser, same cookies: the login form must still appear.
        await confirmDeviceCode(page, second.device.verification_uri_complete!);
        const result = await submitLogin(page, 'bob', 'bob-pw');
        expect(result.text).toContain('Signed in as bob');
      });
      const [a, b] = await Promise.all([first.tokens, second.tokens]);
      expect((await verifiedIdToken(config, a.id_token)).payload.sub).toBe('alice');
      expect((await verifiedIdToken(config, b.id_token)).payload).toMatchObject({ sub: 'bob', groups: [] });
    } finally {
      first.stop();
      second.stop();
    }
  });

  it('cancelling on the confirm page shows a denied page and the CLI gets access_denied', async () => {
    const login = await startDeviceLogin(config);
    try {
      const text = await withBrowser(async (page) => {
        await page.goto(login.device.verification_uri_complete!);
        await page.waitForSelector('form[id="op.deviceConfirmForm"]', { state: 'attached' });
        await expect(page.locator('[data-testid=user-code]').textContent()).resolves.toBe(login.device.user_code);
        await page.locator('button[name=abort]').click();
        await page.getByRole('heading', { name: 'Sign-in cancelled' }).waitFor();
        return pageText(page);
      });
      expect(text).toContain('Access was denied');
      await expect(login.tokens).rejects.toMatchObject({ error: 'access_denied' });
    } finally {
      login.stop();
    }
  });

  it('an unknown code is refused on the device page with a message, not a crash', async () => {
    const text = await withBrowser(async (page) => {
      await page.goto(`${idp.issuer}/device`);
      await page.locator('input[name=user_code]').fill('BCDF-GHJK');
      await page.locator('button[form="op.deviceInputForm"]').click();
      await page.locator('[role=alert]').waitFor();
      return pageText(page);
    });
    expect(text).toContain('That code was not found');
  });

  it('escapes what the user typed when the login form comes back', async () => {
    const login = await startDeviceLogin(config);
    try {
      await withBrowser(async (page) => {
        await confirmDeviceCode(page, login.device.verification_uri_complete!);
        const hostile = '"><b id="injected">x</b>';
        const result = await submitLogin(page, hostile, 'nope');
        expect(result.ok).toBe(false);
        await expect(page.locator('#injected').count()).resolves.toBe(0);
        await expect(page.locator('input[name=username]').inputValue()).resolves.toBe(hostile);
      });
    } finally {
      login.stop();
    }
  });
});

function listen(server: Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
  });
}

describe('dev IdP mounted at /idp inside another node:http server', () => {
  let host: Server;
  let idp: DevIdp;
  let base: string;

  beforeAll(async () => {
    let mounted: DevIdp | undefined;
    host = createServer((req, res) => {
      const url = req.url ?? '/';
      if (mounted && (url === '/idp' || url.startsWith('/idp/') || url.startsWith('/idp?'))) {
        mounted.handle(req, res);
        return;
      }
      res.statusCode = 404;
      res.end('host app: not found');
    });
    base = `http://127.0.0.1:${await listen(host)}`;
    idp = await createDevIdp({ issuer: `${base}/idp/`, clientId: CLIENT_ID, users });
    mounted = idp;
  });
  afterAll(async () => {
    await idp?.close();
    await new Promise<void>((resolve) => {
      host?.close(() => resolve());
      host?.closeAllConnections();
    });
  });

  it('serves discovery, device flow, login pages and tokens under the prefix', async () => {
    expect(idp.issuer).toBe(`${base}/idp`);
    const config = await discover(idp.issuer);
    const metadata = config.serverMetadata();
    expect(metadata.issuer).toBe(idp.issuer);
    for (const endpoint of [metadata.jwks_uri, metadata.token_endpoint, metadata.device_authorization_endpoint]) {
      expect(endpoint?.startsWith(`${base}/idp/`)).toBe(true);
    }

    const login = await startDeviceLogin(config);
    try {
      expect(login.device.verification_uri).toBe(`${base}/idp/device`);
      await completeDeviceLogin({ url: login.device.verification_uri_complete!, username: 'alice', password: 'alice-pw' });
      const tokens = await login.tokens;
      const { payload } = await verifiedIdToken(config, tokens.id_token);
      expect(payload).toMatchObject({ iss: `${base}/idp`, sub: 'alice', groups: ['eng', 'admins'] });
      const renewed = await client.refreshTokenGrant(config, tokens.refresh_token!);
      expect(renewed.id_token).toBeTypeOf('string');
    } finally {
      login.stop();
    }
  });
});

describe("dev IdP mounted at /idp by gate's own server (as `gate dev` does)", () => {
  let server: GateServer;
  let idp: DevIdp;
  let base: string;

  beforeAll(async () => {
    server = await buildServer({ config: parseConfig(''), dataDir: await mkdtemp(join(tmpdir(), 'gate-idp-mount-')), logger: createLogger({ level: 'silent' }) });
    base = await server.listen({ port: 0 });
    idp = await createDevIdp({ issuer: `${base}/idp`, clientId: CLIENT_ID, users });
    server.mount('/idp', idp.handle);
  });
  afterAll(async () => {
    await idp?.close();
    await server?.close();
  });

  it('runs the whole device login (form posts included) through the mount and leaves the API alone', async () => {
    const config = await discover(idp.issuer);
    expect(config.serverMetadata().issuer).toBe(idp.issuer);
    const login = await startDeviceLogin(config);
    try {
      await completeDeviceLogin({ url: login.device.verification_uri_complete!, username: 'bob', password: 'bob-pw' });
      const tokens = await login.tokens;
      const { payload } = await verifiedIdToken(config, tokens.id_token);
      expect(payload).toMatchObject({ iss: `${base}/idp`, sub: 'bob', email: 'bob@example.test' });
      // The token endpoint's urlencoded body reached the IdP untouched by the API's parsers.
      const renewed = await client.refreshTokenGrant(config, tokens.refresh_token!);
      expect(renewed.id_token).toBeTypeOf('string');
    } finally {
      login.stop();
    }
    // The API still answers its own routes; a look-alike prefix is not the IdP's.
    expect(await (await fetch(`${base}/v1/health`)).json()).toMatchObject({ status: 'ok' });
    const lookalike = await fetch(`${base}/idpx/.well-known/openid-configuration`);
    expect(lookalike.status).toBe(404);
    expect(((await lookalike.json()) as { error: { code: string } }).error.code).toBe('not_found');
  });
});
