import { beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import type { PostgresTarget } from '../../src/config/schema.js';
import {
  analyzeQuery,
  clearAnalysisCache,
  compileSqlRules,
  evaluateQuery,
  loadSqlParser,
  parseSearchPath,
  type SqlRules,
  type StatementAnalysis,
} from '../../src/gateway/sql/index.js';

beforeAll(() => loadSqlParser());

/** The guardrails of issue 12, as a user writes them in gate.yaml. */
function target(guardrails: string, extra = ''): PostgresTarget {
  const config = parseConfig(`
targets:
  db:
    type: postgres
    address: db:5432
    database: app
    roles: { write: { username: app, password: env:PW } }
    guardrails:
${guardrails}
${extra}
`);
  return config.targets.db as PostgresTarget;
}

function rulesOf(t: PostgresTarget): SqlRules {
  return compileSqlRules({ guardrails: t.guardrails, opaqueSql: t.opaque_sql, masking: t.masking.columns.length > 0 });
}

const ISSUE = target(`
      - { deny: { statements: [DROP, TRUNCATE, ALTER SYSTEM] }, message: 'never by hand' }
      - { deny: { tables: [audit.*], statements: [DELETE, UPDATE] } }
      - { require_approval: { statements: [DELETE, UPDATE], unfiltered: true }, message: 'needs a WHERE, or a second pair of eyes' }
      - { deny: { functions: [pg_terminate_backend, lo_export, dblink*] } }
      - { deny: '^\\s*vacuum\\s+full' }
    opaque_sql: deny`);
const rules = rulesOf(ISSUE);

function decide(sql: string, prepared?: Record<string, StatementAnalysis>) {
  return evaluateQuery(rules, analyzeQuery(sql), 'db', prepared ? (n) => prepared[n] : undefined);
}

describe('structured guardrails (the example of issue 12)', () => {
  it.each([
    'drop table t',
    'DROP TABLE IF EXISTS t',
    'Drop Index i',
    'drop schema audit cascade',
    'select 1; drop table t',
    'select 1 -- comment\r; drop table t',
    'select 1 as é$a$; drop table t; select 1 as x$a$',
    '/* x */ DROP\n\tTABLE t',
    'truncate t',
    'TRUNCATE TABLE a, b',
    'alter system set work_mem = 1',
  ])('never by hand: %s', (sql) => {
    const d = decide(sql);
    expect(d.decision).toBe('deny');
    expect(d.rule?.index).toBe(0);
    expect(d.reason).toBe('gate: never by hand');
  });

  it.each([
    'delete from audit.events where id = 1',
    'update audit.log set x = 1 where id = 2',
    'with d as (delete from audit.events where id = 1 returning *) select * from d',
    'explain analyze delete from audit.events where id = 1',
    'merge into audit.events e using s on e.id = s.id when matched then delete',
  ])('audit.* writes: %s', (sql) => {
    const d = decide(sql);
    expect(d.decision).toBe('deny');
    expect(d.rule?.index).toBe(1);
    expect(d.reason).toMatch(/denied on db by guardrail #2 \(deny \{statements: \[DELETE, UPDATE\], tables: \[audit\.\*\]\}\)/);
  });

  it('lets an audit read and a write elsewhere in the same statement pass the audit rule', () => {
    expect(decide('update public.x set a = (select max(id) from audit.events) where id = 1').decision).toBe('allow');
  });

  it.each([
    'delete from t',
    'delete from t where true',
    'delete from t where 1=1',
    "delete from t where 'a'='a'",
    'delete from t where x or true',
    'update t set a = 1 where not false',
    'with d as (delete from t returning *) select count(*) from d',
    'explain analyze delete from t',
    'copy (delete from t returning *) to stdout',
    'merge into t using s on true when matched then delete',
    'prepare p as delete from t',
  ])('unfiltered writes are held: %s', (sql) => {
    const d = decide(sql);
    expect(d.decision).toBe('require_approval');
    expect(d.rule?.index).toBe(2);
    expect(d.rule?.reuse).toBeUndefined();
    expect(d.reason).toBe('gate: needs a WHERE, or a second pair of eyes');
  });

  it.each([
    'select pg_terminate_backend(123)',
    'select pg_catalog.pg_terminate_backend(pid) from pg_stat_activity',
    "select lo_export(1, '/tmp/x')",
    "select dblink_exec('dbname=x', 'select 1')",
    "select * from dblink('dbname=x', 'select 1') as t(x int)",
  ])('denied functions: %s', (sql) => {
    const d = decide(sql);
    expect(d.decision).toBe('deny');
    expect(d.rule?.index).toBe(3);
  });

  it('matches regex rules against each statement, comments and line breaks removed', () => {
    expect(decide('select 1; vacuum full t').rule?.index).toBe(4);
    expect(decide('/* maintenance */ VACUUM\n  FULL t').rule?.index).toBe(4);
    expect(decide('vacuum t').decision).toBe('allow');
  });

  it.each([
    'select * from t',
    'delete from t where id = 1',
    'update t set a = 1 where id = $1',
    'insert into t values (1)',
    'select * from audit.events',
    'create table x (id int)',
    'begin; delete from t where id = 1; commit',
    'explain delete from t where id = 1',
  ])('allows: %s', (sql) => {
    expect(decide(sql)).toMatchObject({ decision: 'allow' });
  });

  it('decides the whole query before any statement runs: deny beats require_approval', () => {
    const d = decide('delete from t; drop table t');
    expect(d.decision).toBe('deny');
    expect(d.statementIndex).toBe(1);
    expect(d.statements.map((s) => s.decision)).toEqual(['require_approval', 'deny']);
  });

  it('checks EXECUTE against the prepared body', () => {
    const prep = analyzeQuery('prepare p as delete from t');
    if (!prep.ok) throw new Error('parse');
    const body = prep.statements[0]!.prepare!.body;
    expect(decide('execute p', { p: body })).toMatchObject({ decision: 'require_approval', rule: { index: 2 } });
    const dropBody = analyzeQuery('drop table t');
    if (!dropBody.ok) throw new Error('parse');
    expect(decide('execute q', { q: dropBody.statements[0]! })).toMatchObject({ decision: 'deny', rule: { index: 0 } });
    expect(decide('explain analyze execute p', { p: body })).toMatchObject({ decision: 'require_approval', rule: { index: 2 } });
    expect(decide('create table x as execute p', { p: body })).toMatchObject({ decision: 'require_approval', rule: { index: 2 } });
  });

  it('refuses EXECUTE of a statement gate has not seen, as opaque', () => {
    const d = decide('execute nobody_prepared_this');
    expect(d.decision).toBe('deny');
    expect(d.reason).toMatch(/EXECUTE nobody_prepared_this runs a prepared statement gate has not seen/);
  });

  it('refuses a statement the parser cannot read, with PostgreSQL’s message', () => {
    expect(decide('selec 1; drop table t')).toMatchObject({
      decision: 'deny',
      reason: 'gate: the statement cannot be parsed: syntax error at or near "selec"',
    });
  });
});

describe('opaque SQL', () => {
  const opaque = [
    'do $$ begin execute $q$drop table t$q$; end $$',
    "create function f() returns void language plpgsql as $$ begin delete from t; end $$",
    "select query_to_xml('select email from customers', true, false, '')",
  ];

  it.each(opaque)('is denied by default on a guarded target, naming the setting: %s', (sql) => {
    const d = decide(sql);
    expect(d.decision).toBe('deny');
    expect(d.rule?.source).toBe('opaque_sql: deny');
    expect(d.reason).toMatch(/opaque_sql: deny; set opaque_sql: require_approval or allow on the target to permit it/);
  });

  it('defaults to deny with any guardrail or masking, to allow on a bare target', () => {
    expect(rulesOf(target('      - { deny: { statements: [DROP] } }')).opaque).toBe('deny');
    expect(rulesOf(target('      []', '    masking: { columns: [email] }')).opaque).toBe('deny');
    expect(rulesOf(target('      []')).opaque).toBe('allow');
    expect(evaluateQuery(rulesOf(target('      []')), analyzeQuery(opaque[0]!), 'db').decision).toBe('allow');
  });

  it('can be held for approval or allowed', () => {
    const held = rulesOf(target('      - { deny: { statements: [DROP] } }', '    opaque_sql: require_approval'));
    expect(evaluateQuery(held, analyzeQuery(opaque[0]!), 'db')).toMatchObject({
      decision: 'require_approval',
      reason: expect.stringMatching(/set opaque_sql: allow/),
    });
    const allowed = rulesOf(target('      - { deny: { statements: [DROP] } }', '    opaque_sql: allow'));
    expect(evaluateQuery(allowed, analyzeQuery(opaque[0]!), 'db').decision).toBe('allow');
  });

  it('lets a deny rule win over opaque_sql: require_approval', () => {
    const held = rulesOf(target('      - { deny: { functions: [query_to_xml] } }', '    opaque_sql: require_approval'));
    expect(evaluateQuery(held, analyzeQuery(opaque[2]!), 'db')).toMatchObject({ decision: 'deny', rule: { index: 0 } });
  });
});

describe('rule vocabulary', () => {
  const r = (rule: string) => rulesOf(target(`      - ${rule}`, '    opaque_sql: allow'));
  const d = (rule: string, sql: string) => evaluateQuery(r(rule), analyzeQuery(sql), 'db').decision;

  it('matches command tags by whole-word prefix, case-insensitively', () => {
    expect(d('{ deny: { statements: [drop] } }', 'DROP VIEW v')).toBe('deny');
    expect(d('{ deny: { statements: [DROP TABLE] } }', 'drop view v')).toBe('allow');
    expect(d('{ deny: { statements: [ALTER SYSTEM] } }', 'alter table t add c int')).toBe('allow');
    expect(d('{ deny: { statements: [CREATE] } }', 'create table t as select 1')).toBe('deny');
    expect(d('{ deny: { statements: [CREATE] } }', 'select 1 into t')).toBe('allow');
    expect(d('{ deny: { statements: [SELECT INTO] } }', 'select 1 into t')).toBe('deny');
    expect(d('{ deny: { statements: [COPY FROM] } }', 'copy t from stdin')).toBe('deny');
    expect(d('{ deny: { statements: [COPY FROM] } }', 'copy t to stdout')).toBe('allow');
  });

  it('matches tables by name, schema.name and globs; unqualified names on the search path', () => {
    expect(d('{ deny: { tables: [customers] } }', 'select * from sales.customers')).toBe('deny');
    expect(d('{ deny: { tables: [public.customers] } }', 'select * from customers')).toBe('deny');
    expect(d('{ deny: { tables: [sales.customers] } }', 'select * from customers')).toBe('allow');
    expect(d('{ deny: { tables: [pg_*] } }', 'select * from pg_authid')).toBe('deny');
    expect(d('{ deny: { tables: ["*.secrets"] } }', 'select * from vault.secrets')).toBe('deny');
  });

  it('except_tables lets a tool drop its own tables, never a whole schema', () => {
    const rule = '{ deny: { statements: [DROP], except_tables: [pgbench_*] } }';
    expect(d(rule, 'drop table if exists pgbench_accounts, pgbench_branches')).toBe('allow');
    expect(d(rule, 'drop table pgbench_accounts, customers')).toBe('deny');
    expect(d(rule, 'drop schema public cascade')).toBe('deny');
    expect(d(rule, 'drop function f')).toBe('deny');
  });

  it('combines criteria with AND, each action with its own table', () => {
    const rule = '{ deny: { statements: [DELETE], tables: [logs], unfiltered: true } }';
    expect(d(rule, 'delete from logs')).toBe('deny');
    expect(d(rule, 'delete from logs where id = 1')).toBe('allow');
    expect(d(rule, 'delete from other')).toBe('allow');
    expect(d(rule, 'delete from other where id in (select id from logs)')).toBe('allow');
  });

  it('unfiltered alone holds any unfiltered write', () => {
    expect(d('{ require_approval: { unfiltered: true } }', 'truncate t')).toBe('require_approval');
    expect(d('{ require_approval: { unfiltered: true } }', 'update t set a = 1')).toBe('require_approval');
    expect(d('{ require_approval: { unfiltered: true } }', 'insert into t select * from u')).toBe('allow');
  });

  it('carries reuse: N on require_approval', () => {
    const rules = r('{ require_approval: { statements: [DELETE] }, reuse: 3 }');
    expect(evaluateQuery(rules, analyzeQuery('delete from t where id = 1'), 'db').rule?.reuse).toBe(3);
  });
});

describe('config errors name the file, line and key', () => {
  function error(rule: string): string {
    try {
      target(`      - ${rule}`);
    } catch (err) {
      return (err as Error).message;
    }
    throw new Error('expected a config error');
  }

  it.each([
    ['{ deny: { statement: [DROP] } }', /gate\.yaml:\d+: targets\.db\.guardrails\.0\.deny.*unknown key "statement"/],
    ['{ deny: {} }', /targets\.db\.guardrails\.0\.deny: must name at least one of statements, tables, functions or unfiltered/],
    ['{ deny: { statements: [] } }', /targets\.db\.guardrails\.0\.deny\.statements: must list at least one command tag/],
    ['{ deny: { unfiltered: false } }', /unfiltered: must be true/],
    ['{ deny: "(" }', /targets\.db\.guardrails\.0\.deny: is not a valid regular expression/],
    ['{ require_approval: { statements: [DELETE] }, reuse: 0 }', /targets\.db\.guardrails\.0\.reuse/],
    ['{ deny: { tables: [a.b.c] } }', /tables\.0: must be a table or schema\.table/],
  ])('%s', (rule, message) => {
    expect(error(rule)).toMatch(message);
  });

  it('checks opaque_sql and masking.columns', () => {
    expect(() => target('      []', '    opaque_sql: maybe')).toThrow(/targets\.db\.opaque_sql/);
    expect(() => target('      []', '    masking: { columns: [a.b.c.d] }')).toThrow(
      /targets\.db\.masking\.columns\.0: must be column, table\.column or schema\.table\.column/,
    );
    expect(target('      []', '    masking: { columns: [email, customers.ssn, sales.cards.number] }').masking.columns).toHaveLength(3);
  });
});

describe('search_path', () => {
  const audit = rulesOf(target('      - { deny: { tables: [audit.*], statements: [DELETE] } }', '    opaque_sql: allow'));
  const d = (sql: string, searchPath?: string[]) => evaluateQuery(audit, analyzeQuery(sql), 'db', undefined, { searchPath }).decision;

  it('resolves unqualified names on the default path (public), so other writes pass', () => {
    expect(d('delete from events where id = 1')).toBe('allow');
    expect(d('delete from audit.events where id = 1')).toBe('deny');
  });

  it('follows SET search_path earlier in the same query', () => {
    expect(d('set search_path = audit; delete from events where id = 1')).toBe('deny');
    expect(d("select set_config('search_path', 'audit, public', false); delete from events where id = 1")).toBe('deny');
    expect(d('set search_path = sales; delete from events where id = 1')).toBe('allow');
    // RESET ALL may restore a role default gate does not know: any schema.
    expect(d('reset all; delete from events where id = 1')).toBe('deny');
  });

  it('uses the session path the relay passes, and parses search_path values', () => {
    expect(d('delete from events where id = 1', ['audit'])).toBe('deny');
    expect(d('delete from events where id = 1', ['*'])).toBe('deny');
    expect(parseSearchPath('"$user", public', 'alice')).toEqual(['alice', 'public']);
    expect(parseSearchPath('"$user", public')).toEqual(['*', 'public']);
    expect(parseSearchPath(undefined)).toEqual(['public']);
    expect(one('set search_path to audit, "Public"').setting).toEqual({ name: 'search_path', value: 'audit, Public' });
  });

  it('never excepts an unqualified table whose schema is unknown', () => {
    const except = rulesOf(target("      - { deny: { statements: [DROP], except_tables: ['public.pgbench_*'] } }", '    opaque_sql: allow'));
    const e = (sql: string, searchPath?: string[]) => evaluateQuery(except, analyzeQuery(sql), 'db', undefined, { searchPath }).decision;
    expect(e('drop table pgbench_accounts')).toBe('allow');
    expect(e('drop table pgbench_accounts', ['*'])).toBe('deny');
    expect(e('set search_path = audit; drop table pgbench_accounts')).toBe('deny');
  });
});

function one(sql: string): StatementAnalysis {
  const a = analyzeQuery(sql);
  if (!a.ok) throw new Error(a.error);
  return a.statements[0]!;
}

describe('EXECUTE on a masked target', () => {
  it('refuses CREATE TABLE AS EXECUTE of a body that reads masked columns', () => {
    const masked = compileSqlRules({ guardrails: [], maskedColumns: ['email'] });
    const prep = analyzeQuery('prepare p as select email from customers');
    if (!prep.ok) throw new Error('parse');
    const body = prep.statements[0]!.prepare!.body;
    const d = evaluateQuery(masked, analyzeQuery('create table leak as execute p'), 'db', (n) => (n === 'p' ? body : undefined));
    expect(d).toMatchObject({ decision: 'deny', rule: { source: 'masking' }, reason: expect.stringMatching(/would copy masked columns into leak/) });
    expect(evaluateQuery(masked, analyzeQuery('execute p'), 'db', () => body).decision).toBe('allow');
  });
});

describe('statements that differ only in integer constants (one shape, decided once)', () => {
  const texts = (n: number[]) => n.map((aid) => `SELECT abalance FROM pgbench_accounts WHERE aid = ${aid}`);
  const run = (r: SqlRules, list: string[]) => {
    clearAnalysisCache();
    return list.map((sql) => evaluateQuery(r, analyzeQuery(sql), 'db').decision);
  };

  it('a regular-expression guardrail still reads each text: the one constant it names is denied after others of its shape passed', () => {
    const r = rulesOf(target(`      - { deny: 'aid = 666\\b' }`));
    expect(run(r, texts([1, 2, 3, 666, 4, 666]))).toEqual(['allow', 'allow', 'allow', 'deny', 'allow', 'deny']);
  });

  it('a structured guardrail decides every copy as the shape it was copied from', () => {
    const r = rulesOf(target(`      - { require_approval: { tables: [pgbench_accounts] } }`));
    expect(run(r, texts([1, 2, 3, 4, 5]))).toEqual(Array(5).fill('require_approval'));
    const other = rulesOf(target(`      - { deny: { tables: [other] } }`));
    expect(run(other, texts([1, 2, 3, 4, 5]))).toEqual(Array(5).fill('allow'));
  });
});
