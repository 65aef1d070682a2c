/**
 * `gate server --check` against real things: an embedded PostgreSQL as both
 * the store and a target (roles with just-right and too-wide privileges), a
 * test OIDC issuer, the fake Kubernetes API server and a closed TCP port.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCliWith } from '../helpers/cli-run.js';
import { startFakeKube, type FakeKube } from '../helpers/fake-kube.js';
import { startTestIssuer, type TestIssuer } from '../helpers/oidc-issuer.js';
import { freePort, startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { findSecrets } from '../helpers/secret-scan.js';

let pg: TestPostgres;
let idp: TestIssuer;
let kube: FakeKube;
let dir: string;
const SECRETS = {
  STORE_PW: '',
  RO_PW: 'ro-secret-Zq81xk',
  SNEAKY_PW: 'sneaky-secret-Pw77aa',
  ADMIN_PW: 'admin-secret-Lm42qr',
  KUBE_TOKEN: 'kube-token-secret-Hj93bb',
};
const env = () => ({ ...SECRETS, STORE_PW: pg.password, GATE_DATA_DIR: join(dir, 'data') });

beforeAll(async () => {
  [pg, idp] = await Promise.all([startPostgres(), startTestIssuer()]);
  kube = await startFakeKube({ token: SECRETS.KUBE_TOKEN });
  dir = await mkdtemp(join(tmpdir(), 'gate-check-'));
  SECRETS.STORE_PW = pg.password;
  await writeFile(join(dir, 'kube-ca.pem'), kube.caPem);
  await pg.query('CREATE DATABASE app');
  await pg.query('CREATE DATABASE gate_store');
  await pg.query(`CREATE ROLE app_ro LOGIN PASSWORD '${SECRETS.RO_PW}'`);
  await pg.query(`CREATE ROLE app_sneaky LOGIN PASSWORD '${SECRETS.SNEAKY_PW}'`);
  await pg.query(`CREATE ROLE app_admin LOGIN SUPERUSER PASSWORD '${SECRETS.ADMIN_PW}'`);
  const { default: Pg } = await import('pg');
  const app = new Pg.Client({ host: pg.host, port: pg.port, user: pg.user, password: pg.password, database: 'app' });
  await app.connect();
  await app.query('CREATE TABLE accounts (id int PRIMARY KEY, email text)');
  await app.query('GRANT SELECT ON accounts TO app_ro, app_sneaky');
  await app.query('GRANT INSERT, DELETE ON accounts TO app_sneaky');
  await app.end();
});

afterAll(async () => {
  await kube?.close();
  await idp?.close();
  await pg?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

function configYaml(roles: string, extra = ''): string {
  return `store: { url: 'postgres://${pg.user}@${pg.host}:${pg.port}/gate_store', password: env:STORE_PW }
identity:
  oidc: { issuer: '${idp.issuer}', client_id: gate-cli }
targets:
  db-prod:
    type: postgres
    address: ${pg.host}:${pg.port}
    database: app
    roles:
${roles}
    guardrails:
      - { deny: { statements: [DELETE, TRUNCATE] }, message: 'no deletes on db-prod' }
  k8s:
    type: kubernetes
    address: ${kube.url}
    tls: { ca: file:${join(dir, 'kube-ca.pem')} }
    roles:
      view: { token: env:KUBE_TOKEN }
${extra}`;
}

async function check(yaml: string, json = true, extra: string[] = []) {
  const file = join(dir, `gate-${Math.random().toString(36).slice(2)}.yaml`);
  await writeFile(file, yaml);
  const r = await runCliWith(['server', '--check', '--config', file, ...(json ? ['--json'] : []), ...extra], { env: env() });
  return { ...r, file, report: json && r.stdout ? (JSON.parse(r.stdout) as Report) : undefined };
}

interface Report {
  ok: boolean;
  summary: { ok: number; warnings: number; errors: number };
  checks: { component: string; name?: string; role?: string; status: string; message: string; details?: Record<string, unknown> }[];
}

describe('gate server --check', () => {
  it('exits 0 and says every part was reached when the roles hold no more than their guardrails imply', async () => {
    const r = await check(configYaml('      read: { username: app_ro, password: env:RO_PW }'), false);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/✓ store: PostgreSQL \d+\.\d+ at 127\.0\.0\.1:\d+\/gate_store: reachable, empty/);
    expect(r.stdout).toContain(`✓ idp oidc: ${idp.issuer}: discovery and JWKS (1 key) reachable`);
    expect(r.stdout).toMatch(/✓ target db-prod \(role read\): connected to 127\.0\.0\.1:\d+\/app as app_ro; privileges within/);
    expect(r.stdout).toContain('✓ target k8s (role view): reached');
    expect(r.stdout).toContain('v1.32.4');
    expect(r.stdout).toContain(`✓ data dir: ${join(dir, 'data')}: writable\n`);
    expect(r.stdout).toMatch(/\n\d+ ok, 0 warnings, 0 errors\n$/);
  });

  it('checks the data dir whatever the store: counts the audit events a server that did not stop cleanly left for the next start, and names a data dir it cannot write', async () => {
    const left = join(dir, 'data-left');
    await mkdir(join(left, 'audit-journal'), { recursive: true });
    const event = (id: string) => JSON.stringify({ id, action: 'pg.query', details: '{"statement":"select secret_column from t"}' });
    // Two whole events and one a crash cut mid-line.
    await writeFile(join(left, 'audit-journal', 'segment-00000007.jsonl'), `${event('ev_1')}\n${event('ev_2')}\n${event('ev_3').slice(0, 30)}`);
    const r = await check(configYaml('      read: { username: app_ro, password: env:RO_PW }'), true, ['--data-dir', left]);
    const item = r.report!.checks.find((c) => c.component === 'data_dir')!;
    expect(item).toMatchObject({ status: 'ok', details: { data_dir: left, journaled_events: 2, spooled_events: 0 } });
    expect(item.message).toBe(`${left}: writable; 2 audit events in the journal of a server that did not stop cleanly: the next start replays them into the store`);
    // Counted, never shown.
    expect(r.stdout).not.toContain('secret_column');

    const file = join(dir, 'not-a-dir');
    await writeFile(file, '');
    const bad = await check(configYaml('      read: { username: app_ro, password: env:RO_PW }'), true, ['--data-dir', file]);
    expect(bad.code).toBe(1);
    expect(bad.report!.checks.find((c) => c.component === 'data_dir')).toMatchObject({ status: 'error', message: `${file}: ${file} is not a directory; the server keeps its key, audit journal and spool there` });
  });

  it('warns about a read role that can write, a role that may do what guardrails deny, and a superuser; exits 1', async () => {
    const roles = [
      '      read: { username: app_sneaky, password: env:SNEAKY_PW }',
      '      write: { username: app_sneaky, password: env:SNEAKY_PW }',
      '      admin: { username: app_admin, password: env:ADMIN_PW }',
    ].join('\n');
    const r = await check(configYaml(roles));
    expect(r.code).toBe(1);
    const byRole = (role: string) => r.report!.checks.find((c) => c.name === 'db-prod' && c.role === role)!;
    expect(byRole('read').status).toBe('warning');
    expect(byRole('read').message).toContain('the "read" role can write: INSERT/DELETE on public.accounts');
    expect(byRole('write').status).toBe('warning');
    expect(byRole('write').message).toContain('it may do what the guardrails deny: DELETE on public.accounts');
    expect(byRole('write').message).not.toContain('INSERT on');
    expect(byRole('admin').status).toBe('warning');
    expect(byRole('admin').message).toContain('superuser');
    expect(byRole('admin').details).toMatchObject({ superuser: true });
    expect(r.report!.ok).toBe(false);
    expect(r.report!.summary.warnings).toBe(3);
  });

  it('reports an unreachable target, a wrong password and a missing secret as errors that name what failed, never the secret', async () => {
    const closed = await freePort();
    const roles = [
      '      read: { username: app_ro, password: env:SNEAKY_PW }',
      '      write: { username: app_ro, password: env:NOT_SET_ANYWHERE }',
    ].join('\n');
    const extra = `  legacy:\n    type: tcp\n    address: 127.0.0.1:${closed}\n`;
    const r = await check(configYaml(roles, extra), false);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/✗ target db-prod \(role read\): cannot connect to 127\.0\.0\.1:\d+\/app as app_ro: password authentication failed for user "app_ro"/);
    expect(r.stdout).toContain('✗ target db-prod (role write): Secret reference env:NOT_SET_ANYWHERE is not set');
    expect(r.stdout).toContain(`✗ target legacy: cannot connect to 127.0.0.1:${closed}: ECONNREFUSED`);
    expect(r.stdout).toMatch(/\d+ ok, 0 warnings, 3 errors\n$/);
  });

  it('reports an unreachable store and IdP, and a config that does not load, in the same shape', async () => {
    const closed = await freePort();
    const broken = configYaml('      read: { username: app_ro, password: env:RO_PW }')
      .replace(`${pg.host}:${pg.port}/gate_store`, `127.0.0.1:${closed}/gate_store`)
      .replace(idp.issuer, `http://127.0.0.1:${closed}`);
    const r = await check(broken);
    expect(r.code).toBe(1);
    const store = r.report!.checks.find((c) => c.component === 'store')!;
    expect(store.status).toBe('error');
    expect(store.message).toMatch(/cannot reach the PostgreSQL store at 127\.0\.0\.1:\d+\/gate_store: .*ECONNREFUSED/);
    expect(r.report!.checks.find((c) => c.component === 'idp')!.message).toMatch(/cannot reach http:\/\/127\.0\.0\.1:\d+\/\.well-known\/openid-configuration/);

    const bad = await check('targets:\n  x: { type: nope }\n');
    expect(bad.code).toBe(1);
    expect(bad.report!.checks).toEqual([expect.objectContaining({ component: 'config', status: 'error' })]);
  });

  it('never prints a secret, also when a database echoes what it was given', async () => {
    const roles = [
      '      read: { username: app_ro, password: env:RO_PW }',
      '      admin: { username: app_admin, password: env:ADMIN_PW }',
      // The password as the user name: PostgreSQL's error names the user it refused.
      `      echo: { username: '${SECRETS.SNEAKY_PW}', password: env:SNEAKY_PW }`,
    ].join('\n');
    const out = join(dir, 'out');
    await rm(out, { recursive: true, force: true });
    const { mkdir } = await import('node:fs/promises');
    await mkdir(out);
    const text = await check(configYaml(roles), false);
    const json = await check(configYaml(roles), true);
    expect(text.stdout).toContain('target db-prod (role echo)');
    expect(text.stdout).toContain('[redacted]');
    await writeFile(join(out, 'text.out'), text.stdout + text.stderr);
    await writeFile(join(out, 'json.out'), json.stdout + json.stderr);
    await writeFile(join(out, 'config.yaml'), (await readFile(json.file, 'utf8')).replace(SECRETS.SNEAKY_PW, 'x'));
    const scan = await findSecrets(out, [SECRETS.RO_PW, SECRETS.SNEAKY_PW, SECRETS.ADMIN_PW, SECRETS.KUBE_TOKEN, pg.password]);
    expect(scan.scanned).toHaveLength(3);
    expect(scan.hits).toEqual([]);
  });
});
