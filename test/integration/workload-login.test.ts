import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { buildServer, type GateServer } from '../../src/server/app.js';
import { createLogger } from '../../src/server/log.js';
import { runCliWith } from '../helpers/cli-run.js';
import { findSecrets } from '../helpers/secret-scan.js';
import { RUNNER_REQUEST_TOKEN, startTestIssuer, type TestIssuer } from '../helpers/oidc-issuer.js';

const AUDIENCE = 'https://gate.example.com';

/** Claims of a GitHub Actions job on acme/app's main branch. */
const mainJob = {
  sub: 'repo:acme/app:ref:refs/heads/main',
  aud: AUDIENCE,
  repository: 'acme/app',
  repository_owner: 'acme',
  ref: 'refs/heads/main',
  event_name: 'push',
};

describe('workload identity: a CI job exchanges its OIDC token for a gate token', () => {
  let issuer: TestIssuer;
  let server: GateServer;
  let url: string;
  let dataDir: string;
  const logLines: string[] = [];
  const logs = () => logLines.join('');

  beforeAll(async () => {
    issuer = await startTestIssuer();
    dataDir = await mkdtemp(join(tmpdir(), 'gate-workload-'));
    const config = parseConfig(
      `identity:
  oidc: { issuer: 'http://127.0.0.1:9/idp', client_id: gate-cli }
  workloads:
    - name: deploy-main
      issuer: ${issuer.issuer}
      audience: ${AUDIENCE}
      match: { repository: acme/app, ref: 'refs/heads/*' }
      groups: [deployers]
    - name: acme-ci
      issuer: ${issuer.issuer}
      audience: ${AUDIENCE}
      match: { repository_owner: acme, event_name: [push, workflow_dispatch] }
      groups: [ci]
      subject_claim: repository
`,
      '(test config)',
    );
    server = await buildServer({
      config,
      dataDir,
      jwksCooldownMs: 0,
      logger: createLogger({ level: 'debug', write: (line) => logLines.push(line) }),
    });
    url = await server.listen({ port: 0 });
  });

  afterAll(async () => {
    await server?.close();
    await issuer?.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  async function exchange(token: string) {
    const res = await request(`${url}/v1/auth/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange', subject_token: token }),
    });
    type Exchanged = { access_token: string; user: Record<string, unknown>; error?: unknown };
    return { status: res.statusCode, body: (await res.body.json()) as Exchanged };
  }

  /** The exchange is refused with a generic 401 and the log line names the reason. */
  async function expectRefused(token: string, reason: RegExp) {
    const before = logLines.length;
    const { status, body } = await exchange(token);
    expect(status).toBe(401);
    expect(body.error).toEqual({ code: 'invalid_token', message: 'Identity token rejected.' });
    const line = logLines.slice(before).find((l) => l.includes('workload token rejected'));
    expect(line, logs()).toBeDefined();
    expect(line).toMatch(reason);
    expect(line).not.toContain(token);
  }

  test('a token matching the first rule gets its groups, kind workload and the rule name', async () => {
    const { status, body } = await exchange(await issuer.sign(mainJob));
    expect(status).toBe(200);
    expect(body.user).toEqual({ sub: mainJob.sub, groups: ['deployers'], kind: 'workload', workload: 'deploy-main' });
    const me = await request(`${url}/v1/me`, { headers: { authorization: `Bearer ${body.access_token}` } });
    expect(await me.body.json()).toMatchObject({ sub: mainJob.sub, kind: 'workload', groups: ['deployers'], workload: 'deploy-main' });
  });

  test('rules sharing an issuer are tried in order; the first that fits wins (subject_claim honoured)', async () => {
    const { status, body } = await exchange(await issuer.sign({ ...mainJob, ref: 'refs/tags/v1.0.0' }));
    expect(status).toBe(200);
    expect(body.user).toEqual({ sub: 'acme/app', groups: ['ci'], kind: 'workload', workload: 'acme-ci' });
  });

  test('wrong repository: refused, and the log names each rule tried and why', async () => {
    await expectRefused(
      await issuer.sign({ ...mainJob, repository: 'evil/app', repository_owner: 'evil' }),
      /deploy-main.*claim \\"repository\\" is \\"evil\/app\\".*acme-ci.*repository_owner/,
    );
  });

  test('wrong audience, expired, unknown key id and another key are refused', async () => {
    await expectRefused(await issuer.sign({ ...mainJob, aud: 'https://other.example.com' }), /audience/);
    await expectRefused(await issuer.sign(mainJob, { iat: Math.floor(Date.now() / 1000) - 3600, expiresIn: 600 }), /token expired/);
    const stray = await issuer.newKey();
    await expectRefused(await issuer.sign(mainJob, { key: stray }), /unknown key/);
    // Another key, but claiming the published key id.
    await expectRefused(await issuer.sign(mainJob, { key: { ...stray, kid: issuer.key.kid } }), /signature is not valid/);
  });

  test('key rotation: a token with a new key id is accepted once the issuer publishes it', async () => {
    const next = await issuer.newKey();
    const token = await issuer.sign(mainJob, { key: next });
    await expectRefused(token, /unknown key/);
    issuer.publish([issuer.key, next]);
    const fetches = issuer.jwksFetches;
    const { status, body } = await exchange(token);
    expect(status).toBe(200);
    expect(body.user.workload).toBe('deploy-main');
    expect(issuer.jwksFetches).toBeGreaterThan(fetches);
  });

  test('workload logins and refusals are in the audit log', async () => {
    await server.ctx.audit.flush();
    const events = await server.ctx.audit.list({ limit: 500 });
    expect(events.some((e) => e.action === 'auth.login' && e.actor_kind === 'workload' && e.result === 'ok' && e.details.includes('deploy-main'))).toBe(true);
    expect(events.some((e) => e.action === 'auth.login' && e.result === 'denied' && e.details.includes('audience'))).toBe(true);
  });

  describe('gate login --github-actions / --id-token', () => {
    let configDir: string;
    const ghEnv = () => ({
      GATE_SERVER: url,
      GATE_CONFIG_DIR: configDir,
      ACTIONS_ID_TOKEN_REQUEST_URL: issuer.runnerUrl,
      ACTIONS_ID_TOKEN_REQUEST_TOKEN: RUNNER_REQUEST_TOKEN,
    });

    beforeAll(async () => {
      configDir = await mkdtemp(join(tmpdir(), 'gate-cfg-'));
      issuer.runnerClaims = { ...mainJob, aud: undefined };
    });
    afterAll(async () => {
      await rm(configDir, { recursive: true, force: true });
    });

    test('--print-token asks the runner with the server audience and prints only a gate token that whoami accepts', async () => {
      const login = await runCliWith(['login', '--github-actions', '--print-token'], { env: ghEnv() });
      expect(login.code, login.stderr).toBe(0);
      const token = login.stdout.trim();
      expect(login.stdout).toBe(`${token}\n`);
      expect(token.split('.')).toHaveLength(3);
      expect(issuer.runnerRequests.at(-1)).toEqual({ audience: AUDIENCE, authorization: `bearer ${RUNNER_REQUEST_TOKEN}` });
      expect(login.stderr).toContain('Logged in as repo:acme/app:ref:refs/heads/main (workload rule deploy-main)');
      // Nothing stored: --print-token keeps the token for the caller's process only.
      await expect(readFile(join(configDir, 'credentials.json'), 'utf8')).rejects.toThrow();

      const who = await runCliWith(['whoami', '--json'], { env: { GATE_SERVER: url, GATE_TOKEN: token, GATE_CONFIG_DIR: configDir } });
      expect(who.code, who.stderr).toBe(0);
      expect(JSON.parse(who.stdout)).toMatchObject({ sub: mainJob.sub, kind: 'workload', groups: ['deployers'], workload: 'deploy-main' });
    });

    test('in CI the gate token goes to the 0600 file store, with a note, and later commands use it', async () => {
      const login = await runCliWith(['login', '--github-actions'], { env: { ...ghEnv(), CI: 'true', GATE_CREDENTIAL_STORE: undefined } });
      expect(login.code, login.stderr).toBe(0);
      expect(login.stdout).toBe('');
      expect(login.stderr).toContain('note: CI is set');
      const who = await runCliWith(['whoami', '--json'], { env: { GATE_CONFIG_DIR: configDir } });
      expect(who.code, who.stderr).toBe(0);
      expect(JSON.parse(who.stdout)).toMatchObject({ kind: 'workload', server: url });
    });

    test('--id-token - reads the token from stdin; --id-token FILE from a file', async () => {
      const jwt = await issuer.sign(mainJob);
      const viaStdin = await runCliWith(['login', '--id-token', '-', '--print-token'], { env: { GATE_SERVER: url, GATE_CONFIG_DIR: configDir }, input: `${jwt}\n` });
      expect(viaStdin.code, viaStdin.stderr).toBe(0);
      expect(viaStdin.stdout.trim().split('.')).toHaveLength(3);

      // The job's token lives where the platform put it, outside gate's config dir.
      const file = join(await mkdtemp(join(tmpdir(), 'gate-job-')), 'job.jwt');
      const fileJwt = await issuer.sign(mainJob);
      await writeFile(file, fileJwt);
      const viaFile = await runCliWith(['login', '--id-token', file, '--store', 'file', '--json'], { env: { GATE_SERVER: url, GATE_CONFIG_DIR: configDir } });
      expect(viaFile.code, viaFile.stderr).toBe(0);
      expect(JSON.parse(viaFile.stdout)).toMatchObject({ event: 'logged_in', stored: 'file', user: { kind: 'workload', workload: 'deploy-main' } });
      expect(viaFile.stdout + viaFile.stderr).not.toContain(fileJwt);

      // Never stored: the file store holds the gate token it was exchanged for, not the job's token;
      // nor does the server keep it (its database, WAL, any subdirectory) or log it.
      const credentials = await readFile(join(configDir, 'credentials.json'), 'utf8');
      expect(credentials).toMatch(/eyJ/);
      await server.ctx.audit.flush();
      for (const dir of [configDir, dataDir]) {
        const scan = await findSecrets(dir, [fileJwt, jwt, fileJwt.split('.')[2]!, jwt.split('.')[2]!]);
        expect(scan.scanned.length, dir).toBeGreaterThan(0);
        expect(scan.hits).toEqual([]);
      }
      expect(logLines.join('')).not.toContain(fileJwt.split('.')[2]);
    });

    test('a refused job token exits 4 with a generic message', async () => {
      const jwt = await issuer.sign({ ...mainJob, repository: 'evil/app', repository_owner: 'evil' });
      const res = await runCliWith(['login', '--id-token', '-', '--print-token'], { env: { GATE_SERVER: url, GATE_CONFIG_DIR: configDir }, input: jwt });
      expect(res.code).toBe(4);
      expect(res.stdout).toBe('');
      expect(res.stderr).toContain('Identity token rejected.');
    });

    test('without gate login, a GitHub Actions job is logged in for the one command', async () => {
      const fresh = await mkdtemp(join(tmpdir(), 'gate-cfg-'));
      const who = await runCliWith(['whoami', '--json'], { env: { ...ghEnv(), GATE_CONFIG_DIR: fresh } });
      expect(who.code, who.stderr).toBe(0);
      expect(JSON.parse(who.stdout)).toMatchObject({ kind: 'workload', workload: 'deploy-main' });
      await rm(fresh, { recursive: true, force: true });
    });

    test('--github-actions outside GitHub Actions is a usage error naming the permission', async () => {
      const res = await runCliWith(['login', '--github-actions'], { env: { GATE_SERVER: url, GATE_CONFIG_DIR: configDir } });
      expect(res.code).toBe(1);
      expect(res.stderr).toContain('ACTIONS_ID_TOKEN_REQUEST_URL');
      expect(res.stderr).toContain('id-token: write');
    });
  });
});

describe('a server for CI only (workload rules, no identity provider for people)', () => {
  let server: GateServer;
  let url: string;

  beforeAll(async () => {
    const config = parseConfig(
      `identity:\n  workloads:\n    - { name: ci, issuer: 'http://127.0.0.1:9/ci', audience: https://gate.example.com, groups: [ci] }\n`,
      '(test config)',
    );
    server = await buildServer({ config, dataDir: await mkdtemp(join(tmpdir(), 'gate-ci-only-')), logger: createLogger({ level: 'silent' }) });
    url = await server.listen({ port: 0 });
  });

  afterAll(async () => {
    await server?.close();
  });

  test('/v1/config still names the workload audience', async () => {
    const body = (await (await fetch(`${url}/v1/config`)).json()) as { issuer?: string; workload_audience?: string };
    expect(body.workload_audience).toBe('https://gate.example.com');
    expect(body.issuer).toBeUndefined();
  });

  test('a device login says people cannot log in here and what CI should do instead', async () => {
    const res = await runCliWith(['login', '--server', url, '--no-browser'], { env: { GATE_CONFIG_DIR: await mkdtemp(join(tmpdir(), 'gate-cfg-')) } });
    expect(res.code).toBe(1);
    expect(res.stderr).toContain('has no identity provider for people');
    expect(res.stderr).toContain('--github-actions');
  });
});
