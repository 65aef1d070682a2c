import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { gateEnv, type GateResult, type RunningGate, runGate, startGate } from '../helpers/gate-bin.js';
import { RUNNER_REQUEST_TOKEN, startTestIssuer, type TestIssuer } from '../helpers/oidc-issuer.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';

// A CI job as it runs for real: no terminal, no person, no prompt. The built
// `gate server` (its own process, identity from a stand-in CI OIDC issuer) in
// front of a real PostgreSQL; the built CLI spawned with stdin closed and
// stdout a pipe, authenticated first with a service token, then with a
// workload identity token.

const AUDIENCE = 'https://gate.ci-e2e.example';
const RO_PASSWORD = 'ro-target-secret-c1e2e3';
const RW_PASSWORD = 'rw-target-secret-f4a5b6';

let issuer: TestIssuer;
let pg: TestPostgres;
let server: RunningGate;
let serverUrl = '';
const dirs: string[] = [];
/** Every token minted in this file: none may ever appear in any output. */
const secrets: string[] = [RO_PASSWORD, RW_PASSWORD];
/** Every byte any gate process printed (stdout, stderr, the server's log, the recordings). */
const printed: string[] = [];

/** Runs the built CLI the way a CI runner does: stdin closed at once, stdout and stderr pipes. */
async function gate(args: string[], env: Record<string, string | undefined>, input?: string): Promise<GateResult> {
  const r = await runGate(args, { env: await gateEnv({ GATE_SERVER: serverUrl, ...env }), input, timeoutMs: 45_000 });
  printed.push(r.stdout, r.stderr);
  // A CI step that hangs waiting for input is the failure this file guards against.
  expect(r.signal, `gate ${args.join(' ')} was killed: it hung\n${r.stderr}`).toBeNull();
  return r;
}

/** An id token of a CI job of `repository`, from the stand-in issuer. */
function jobToken(repository: string): Promise<string> {
  return issuer.sign({ sub: `repo:${repository}:ref:refs/heads/main`, aud: AUDIENCE, repository, ref: 'refs/heads/main' });
}

/** `gate login --id-token - --print-token`, the id token on stdin: the gate token. */
async function workloadLogin(repository: string): Promise<string> {
  const idToken = await jobToken(repository);
  secrets.push(idToken);
  const r = await gate(['login', '--id-token', '-', '--print-token'], { CI: 'true' }, idToken);
  expect(r.code, r.stderr).toBe(0);
  const token = r.stdout.trim();
  expect(token).not.toBe('');
  expect(token.split('\n')).toHaveLength(1);
  secrets.push(token);
  // Only the token itself may be on stdout; it is removed from the scan.
  printed.pop();
  printed.pop();
  printed.push(r.stderr);
  return token;
}

interface AuditEvent {
  action: string;
  actor: string | null;
  correlation_id: string | null;
  session_id?: string | null;
  grant_id: string | null;
  result: string;
}
interface SessionWire {
  id: string;
  user: string;
  grant_id: string;
  command: string;
  exit_code: number | null;
  closed: boolean;
  chunks: number;
  correlation_id: string | null;
}

let adminToken = '';

async function auditEvents(correlationId: string): Promise<AuditEvent[]> {
  const r = await gate(['audit', '--json'], { GATE_TOKEN: adminToken });
  expect(r.code, r.stderr).toBe(0);
  return (JSON.parse(r.stdout) as { events: AuditEvent[] }).events.filter((e) => e.correlation_id === correlationId);
}

async function sessionsOf(user: string): Promise<SessionWire[]> {
  const r = await gate(['sessions', '--user', user, '--json'], { GATE_TOKEN: adminToken });
  expect(r.code, r.stderr).toBe(0);
  return (JSON.parse(r.stdout) as { sessions: SessionWire[] }).sessions;
}

beforeAll(async () => {
  issuer = await startTestIssuer();
  pg = await startPostgres();
  secrets.push(pg.password);
  await pg.query(`create role readonly login password '${RO_PASSWORD}'`);
  await pg.query(`create role writer login password '${RW_PASSWORD}'`);
  await pg.query('create table deploys (id int primary key, sha text)');
  await pg.query(`insert into deploys values (1, 'abc1234')`);
  await pg.query('grant select on deploys to readonly');
  await pg.query('grant all on deploys to writer');

  const dir = await mkdtemp(join(tmpdir(), 'gate-ci-e2e-'));
  dirs.push(dir);
  const configFile = join(dir, 'gate.yaml');
  await writeFile(
    configFile,
    `identity:
  oidc: { issuer: '${issuer.issuer}', client_id: gate-cli }
  workloads:
    - { name: infra-admin, issuer: '${issuer.issuer}', audience: '${AUDIENCE}', match: { repository: acme/infra }, groups: [platform] }
    - { name: app-ci, issuer: '${issuer.issuer}', audience: '${AUDIENCE}', match: { repository: acme/app, ref: 'refs/heads/*' }, groups: [ci] }
admins: [platform]
targets:
  db:
    type: postgres
    # These tests read what a piped tool printed back from the recording.
    record_output: full
    address: 127.0.0.1:${pg.port}
    database: postgres
    roles:
      read: { username: readonly, password: env:CI_E2E_RO_PASSWORD }
      write: { username: writer, password: env:CI_E2E_RW_PASSWORD }
policies:
  - { name: ci-read, groups: [ci, reporting], targets: [db], roles: [read], max_duration: 30m, approval: auto }
  - { name: ci-write, groups: [ci, reporting], targets: [db], roles: [write], max_duration: 30m, approval: { approvers: [dba-oncall] } }
`,
  );
  server = startGate(['server', '--config', configFile, '--port', '0', '--data-dir', join(dir, 'data')], {
    env: { PATH: process.env.PATH, HOME: dir, CI_E2E_RO_PASSWORD: RO_PASSWORD, CI_E2E_RW_PASSWORD: RW_PASSWORD },
  });
  const listening = await server.waitFor(/"listening"/, 'stderr');
  serverUrl = (JSON.parse(listening) as { url: string }).url;

  // The platform team's own pipeline is an admin: it hands out the service token.
  adminToken = await workloadLogin('acme/infra');
}, 120_000);

afterAll(async () => {
  if (server) {
    await server.stop();
    printed.push(...server.lines.stdout, ...server.lines.stderr);
  }
  await pg?.stop();
  await issuer?.close();
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

/** The checks every CI identity must pass; `token` is what the job puts in GATE_TOKEN. */
function ciRun(kind: string, token: () => string, user: string, runId: string) {
  test(`${kind}: gate exec -- psql prints the result, exits 0, and tags grant, session and audit with the run id`, async () => {
    const r = await gate(['exec', 'db', '--role', 'read', '--', 'psql', '-X', '-c', 'select sha from deploys'], {
      CI: 'true',
      GATE_TOKEN: token(),
      GITHUB_RUN_ID: runId,
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('abc1234');
    expect(r.stdout).toContain('(1 row)');

    const [session] = (await sessionsOf(user)).filter((s) => s.correlation_id === runId);
    expect(session, `no session of ${user} with correlation id ${runId}`).toBeDefined();
    expect(session!.closed).toBe(true);
    expect(session!.exit_code).toBe(0);
    expect(session!.chunks).toBeGreaterThan(0);

    const events = await auditEvents(runId);
    const actions = new Set(events.map((e) => e.action));
    for (const a of ['grant.requested', 'tunnel.open', 'pg.query', 'session.started', 'session.closed']) {
      expect(actions, `audit events with correlation id ${runId}: ${[...actions].join(', ')}`).toContain(a);
    }
    const grantIds = new Set(events.map((e) => e.grant_id).filter(Boolean));
    expect(grantIds).toEqual(new Set([session!.grant_id]));

    // What the gateway saw in that session, listed against it, and the terminal as recorded.
    const shown = await gate(['sessions', 'show', session!.id, '--json'], { GATE_TOKEN: adminToken });
    expect(shown.code, shown.stderr).toBe(0);
    const detail = JSON.parse(shown.stdout) as { session: SessionWire; events: AuditEvent[] };
    expect(detail.session.correlation_id).toBe(runId);
    expect(detail.events.map((e) => e.action)).toContain('pg.query');
    const cast = await gate(['sessions', 'export', session!.id], { GATE_TOKEN: adminToken });
    expect(cast.code, cast.stderr).toBe(0);
    expect(cast.stdout).toContain('abc1234');
  });

  test(`${kind}: a failing statement makes gate exec exit with psql's own code`, async () => {
    const r = await gate(['exec', 'db', '--role', 'read', '--', 'psql', '-X', '-v', 'ON_ERROR_STOP=1', '-c', 'select 1/0'], {
      CI: 'true',
      GATE_TOKEN: token(),
      GITHUB_RUN_ID: runId,
    });
    // psql exits 1 for a failed -c command (3 only for a script under ON_ERROR_STOP).
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('division by zero');
  });

  test(`${kind}: --correlation-id overrides the CI run id on the session and the gateway's events`, async () => {
    const own = `${runId}-override`;
    const r = await gate(['exec', 'db', '--role', 'read', '--correlation-id', own, '--', 'psql', '-X', '-c', 'select 2 as two'], {
      CI: 'true',
      GATE_TOKEN: token(),
      GITHUB_RUN_ID: runId,
    });
    expect(r.code, r.stderr).toBe(0);
    const sessions = (await sessionsOf(user)).filter((s) => s.correlation_id === own);
    expect(sessions).toHaveLength(1);
    const actions = (await auditEvents(own)).map((e) => e.action);
    for (const a of ['tunnel.open', 'pg.query', 'session.started', 'session.closed']) expect(actions).toContain(a);
  });

  test(`${kind}: a role that needs an approver exits 8 after --timeout and names the pending grant`, async () => {
    const r = await gate(['exec', 'db', '--role', 'write', '--timeout', '2s', '--', 'psql', '-X', '-c', 'select 1'], {
      CI: 'true',
      GATE_TOKEN: token(),
      GITHUB_RUN_ID: runId,
    });
    expect(r.code).toBe(8);
    const grantId = /Grant (\S+) is waiting for approval/.exec(r.stderr)?.[1];
    expect(grantId, r.stderr).toBeDefined();
    expect(r.stderr).toContain(`gate approve ${grantId}`);
    // Nothing ran: psql never printed.
    expect(r.stdout).toBe('');
    const requested = (await auditEvents(runId)).filter((e) => e.action === 'grant.requested' && e.grant_id === grantId);
    expect(requested).toHaveLength(1);
  });
}

describe('CI with a service token', () => {
  let serviceToken = '';
  beforeAll(async () => {
    const r = await gate(['token', 'create', '--name', 'nightly', '--groups', 'reporting', '--ttl', '1h'], { GATE_TOKEN: adminToken });
    expect(r.code, r.stderr).toBe(0);
    serviceToken = r.stdout.trim();
    expect(serviceToken).toMatch(/^gst_[0-9a-f]{16}_/);
    secrets.push(serviceToken);
    printed.pop();
    printed.pop();
    printed.push(r.stderr);
  });
  ciRun('service token', () => serviceToken, 'service:nightly', 'run-123');
});

describe('CI with a workload identity token', () => {
  let workloadToken = '';
  beforeAll(async () => {
    workloadToken = await workloadLogin('acme/app');
  });
  ciRun('workload token', () => workloadToken, 'repo:acme/app:ref:refs/heads/main', 'run-456');

  test("the wrapped command sees neither gate's token, nor a target password, nor the user's own PGPASSWORD or KUBECONFIG", async () => {
    const ownPassword = 'users-own-pgpassword-77e1';
    const r = await gate(['exec', 'db', '--role', 'read', '--', 'env'], {
      CI: 'true',
      GATE_TOKEN: workloadToken,
      GITHUB_RUN_ID: 'run-789',
      PGPASSWORD: ownPassword,
      KUBECONFIG: '/home/someone/.kube/prod-admin',
    });
    expect(r.code, r.stderr).toBe(0);
    // It did run in the tunnel's environment (so the checks below read the real one).
    expect(r.stdout).toContain('PGHOST=127.0.0.1');
    expect(r.stdout).toMatch(/^PGPORT=\d+$/m);
    expect(r.stdout).not.toMatch(/^GATE_TOKEN=/m);
    expect(r.stdout).not.toContain(workloadToken);
    for (const pw of [RO_PASSWORD, RW_PASSWORD, ownPassword]) expect(r.stdout).not.toContain(pw);
    expect(r.stdout).not.toMatch(/^PGPASSWORD=/m);
    expect(r.stdout).not.toContain('/home/someone/.kube/prod-admin');
  });
});

describe('CI in GitHub Actions without any login step', () => {
  test("gate exec logs the job in with the runner's OIDC token for that one process", async () => {
    issuer.runnerClaims = { sub: 'repo:acme/app:ref:refs/heads/main', repository: 'acme/app', ref: 'refs/heads/main' };
    const r = await gate(['exec', 'db', '--role', 'read', '--', 'psql', '-X', '-c', 'select sha from deploys'], {
      CI: 'true',
      GITHUB_ACTIONS: 'true',
      GATE_TOKEN: undefined,
      GITHUB_RUN_ID: 'run-gha-1',
      ACTIONS_ID_TOKEN_REQUEST_URL: issuer.runnerUrl,
      ACTIONS_ID_TOKEN_REQUEST_TOKEN: RUNNER_REQUEST_TOKEN,
    });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('abc1234');
    expect(issuer.runnerRequests.at(-1)?.audience).toBe(AUDIENCE);
    const sessions = (await sessionsOf('repo:acme/app:ref:refs/heads/main')).filter((s) => s.correlation_id === 'run-gha-1');
    expect(sessions).toHaveLength(1);
    expect(sessions[0]!.exit_code).toBe(0);
  });
});

describe('no prompt in CI', () => {
  test('an action that would ask for confirmation fails at once, naming the flag', async () => {
    const r = await gate(['token', 'revoke', '0000000000000000'], { CI: 'true', GATE_TOKEN: adminToken });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('--yes');
  });

  test('without any credential gate exec exits 4 instead of starting a login', async () => {
    const r = await gate(['exec', 'db', '--', 'psql', '-X', '-c', 'select 1'], { CI: 'true', GATE_TOKEN: undefined, GITHUB_RUN_ID: 'run-000' });
    expect(r.code).toBe(4);
    expect(r.stdout).toBe('');
  });
});

describe('secrets', () => {
  test('no password, service token, gate token or id token appears in any output, recording or server log', async () => {
    // Collected by every test above (runs last: vitest keeps file order).
    const all = `${printed.join('\n')}\n${server.lines.stdout.join('\n')}\n${server.lines.stderr.join('\n')}`;
    expect(all.length).toBeGreaterThan(1000);
    for (const s of secrets) {
      expect(s.length).toBeGreaterThan(8);
      expect(all.includes(s), `a secret (${s.slice(0, 6)}…) leaked into output`).toBe(false);
    }
  });
});
