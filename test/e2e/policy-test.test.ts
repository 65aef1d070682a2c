import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { gateEnv, runGate } from '../helpers/gate-bin.js';

/** `gate policy test`, the built CLI as a user runs it: no server, no database. */
describe('gate policy test', () => {
  let config: string;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    const dir = await mkdtemp(join(tmpdir(), 'gate-policy-'));
    config = join(dir, 'gate.yaml');
    await writeFile(
      config,
      `targets:
  db-prod:
    type: postgres
    address: db.internal:5432
    database: app
    roles:
      read:  { username: readonly, password: env:RO }
      write: { username: app_rw, password: env:RW }
    guardrails:
      - { deny: { statements: [DROP, TRUNCATE, ALTER SYSTEM] }, message: 'never by hand' }
      - { deny: { tables: [audit.*], statements: [DELETE, UPDATE] } }
      - { require_approval: { statements: [DELETE, UPDATE], unfiltered: true }, message: 'needs a WHERE, or a second pair of eyes', reuse: 2 }
      - { deny: { functions: [pg_terminate_backend, lo_export, dblink*] } }
      - { deny: '^\\s*vacuum\\s+full' }
    opaque_sql: deny
    masking: { columns: [email] }
  k8s:
    type: kubernetes
    address: https://10.0.0.1:6443
    roles: { view: { token: env:T } }
`,
    );
    env = await gateEnv();
  });

  const policyTest = (...args: string[]) => runGate(['policy', 'test', '--config', config, ...args], { env });
  const json = async (sql: string) => {
    const r = await policyTest('--target', 'db-prod', '--json', sql);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    return JSON.parse(r.stdout) as {
      decision: string;
      statements: { text: string; tag: string; tables: string[]; filtered: boolean; opaque: boolean; decision: string; rule: string | null; reason: string | null }[];
      masked_columns: string[];
    };
  };

  it('reports each rule kind in --json, one entry per statement', async () => {
    const out = await json(
      [
        'drop table t',
        'delete from audit.events where id = 1',
        'delete from orders where 1=1',
        'select pg_terminate_backend(42)',
        '/* tidy */ VACUUM\n FULL t',
        'do $$ begin execute $q$drop table t$q$; end $$',
        'select upper(email) as e, id from customers',
      ].join(';\n'),
    );
    expect(out.statements.map((s) => [s.tag, s.decision, s.rule])).toEqual([
      ['DROP TABLE', 'deny', 'guardrails[0]: deny {statements: [DROP, TRUNCATE, ALTER SYSTEM]}'],
      ['DELETE', 'deny', 'guardrails[1]: deny {statements: [DELETE, UPDATE], tables: [audit.*]}'],
      ['DELETE', 'require_approval', 'guardrails[2]: require_approval {statements: [DELETE, UPDATE], unfiltered: true}'],
      ['SELECT', 'deny', 'guardrails[3]: deny {functions: [pg_terminate_backend, lo_export, dblink*]}'],
      ['VACUUM', 'deny', 'guardrails[4]: deny /^\\s*vacuum\\s+full/'],
      ['DO', 'deny', 'opaque_sql: deny'],
      ['SELECT', 'allow', null],
    ]);
    expect(out.statements[0]).toMatchObject({ text: 'drop table t', tables: ['t'], filtered: true, opaque: false, reason: 'gate: never by hand' });
    expect(out.statements[1]!.tables).toEqual(['audit.events']);
    expect(out.statements[2]).toMatchObject({ filtered: false, reason: 'gate: needs a WHERE, or a second pair of eyes' });
    expect(out.statements[5]!.opaque).toBe(true);
    expect(out.statements[5]!.reason).toMatch(/DO block.*set opaque_sql: require_approval or allow/);
    expect(out.decision).toBe('deny');
    expect(out.masked_columns).toEqual(['e']);
  });

  it('sees through the rewordings of issue 12', async () => {
    const forms = [
      'select 1 -- comment\r; drop table t',
      'select 1 as é$a$; drop table t; select 1 as x$a$',
      'with d as (delete from t returning *) select count(*) from d',
      'explain analyze delete from t',
      'copy (delete from t returning *) to stdout',
      'merge into t using s on true when matched then delete',
      'delete from t where true',
      'prepare p as delete from t; execute p',
    ];
    // One run (each spawn costs seconds on a shared machine); every statement that drops or deletes is caught.
    const out = await json(forms.join(';\n'));
    const writes = out.statements.filter((s) => /drop|delete|execute/i.test(s.text));
    expect(writes.map((s) => s.text)).toHaveLength(9);
    for (const s of writes) expect(s.decision, s.text).not.toBe('allow');
  });

  it('denies copying masked data elsewhere on a masked target', async () => {
    const out = await json('insert into leak select email from customers');
    expect(out.statements[0]).toMatchObject({ decision: 'deny', rule: 'masking' });
  });

  it('prints a readable summary and exits 0 for a deny', async () => {
    const r = await policyTest('--target', 'db-prod', '--role', 'write', 'delete from orders; drop table t');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('1. delete from orders');
    expect(r.stdout).toContain('tag: DELETE   tables: orders   UNFILTERED');
    expect(r.stdout).toContain('→ REQUIRE APPROVAL by guardrails[2]');
    expect(r.stdout).toContain('→ DENY by guardrails[0]');
    expect(r.stdout).toContain('gate: never by hand');
    expect(r.stdout).toMatch(/db-prod: DENY/);
  });

  it('explains a parse error with PostgreSQL’s message and exits 1', async () => {
    const r = await policyTest('--target', 'db-prod', 'selec 1');
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('PostgreSQL cannot parse this SQL: syntax error at or near "selec" (at character 1)');
  });

  it('names an unknown target or role, and a non-postgres target, with exit 1', async () => {
    const noTarget = await policyTest('--target', 'nope', 'select 1');
    expect(noTarget.code).toBe(1);
    expect(noTarget.stderr).toMatch(/has no target "nope"[\s\S]*Targets: db-prod, k8s/);
    const noRole = await policyTest('--target', 'db-prod', '--role', 'admin', 'select 1');
    expect(noRole.code).toBe(1);
    expect(noRole.stderr).toMatch(/db-prod has no role "admin"[\s\S]*Roles: read, write/);
    const k8s = await policyTest('--target', 'k8s', 'select 1');
    expect(k8s.code).toBe(1);
    expect(k8s.stderr).toContain('k8s is a kubernetes target');
  });

  it('documents the exit code of a deny in its help', async () => {
    const r = await runGate(['policy', 'test', '--help'], { env });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Exit code 0 means the SQL was evaluated, whatever the decision');
    expect(r.stdout).toContain('$ gate policy test --config gate.yaml --target db-prod');
  });
});
