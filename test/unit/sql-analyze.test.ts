import { beforeAll, describe, expect, it } from 'vitest';
import { analyzeQuery, loadSqlParser, type StatementAnalysis } from '../../src/gateway/sql/index.js';

beforeAll(() => loadSqlParser());

function all(sql: string): StatementAnalysis[] {
  const a = analyzeQuery(sql);
  if (!a.ok) throw new Error(`parse failed: ${a.error}`);
  return a.statements;
}
const one = (sql: string) => {
  const s = all(sql);
  expect(s).toHaveLength(1);
  return s[0]!;
};

describe('splitting as PostgreSQL does', () => {
  it('gives each statement its exact text', () => {
    expect(all(`select 'a;b'; select "x;y" from t; select $$ ; $$;select $f$ ; $f$`).map((s) => s.text)).toEqual([
      `select 'a;b'`,
      'select "x;y" from t',
      'select $$ ; $$',
      'select $f$ ; $f$',
    ]);
  });

  it('slices by characters when the text has multi-byte characters (offsets are UTF-8 bytes)', () => {
    const s = all(`select 'é€😀' as "naïve"; drop table "tablé"`);
    expect(s.map((x) => x.text)).toEqual([`select 'é€😀' as "naïve"`, 'drop table "tablé"']);
    expect(s[1]!.tag).toBe('DROP TABLE');
    expect(s[1]!.tables).toEqual([{ name: 'tablé' }]);
  });

  it('ends a -- comment at a carriage return, as the server does', () => {
    const s = all('select 1 -- comment\r; drop table t');
    expect(s.map((x) => x.tag)).toEqual(['SELECT', 'DROP TABLE']);
  });

  it('does not see a dollar quote after an identifier character (non-ASCII too)', () => {
    // `é$a$` is one identifier to PostgreSQL; the old splitter saw a dollar quote hiding the DROP.
    const s = all('select 1 as é$a$; drop table t; select 1 as x$a$');
    expect(s.map((x) => x.tag)).toContain('DROP TABLE');
  });

  it('keeps a comment inside one statement: the newline form is two statements', () => {
    expect(all('delete from logs -- ; delete from other')).toHaveLength(1);
    expect(all('delete from logs --\n; delete from other')).toHaveLength(2);
  });

  it('reports PostgreSQL’s own parse error', () => {
    const a = analyzeQuery('selec 1');
    expect(a).toMatchObject({ ok: false, error: 'syntax error at or near "selec"' });
    expect(analyzeQuery(`select 'unterminated`)).toMatchObject({ ok: false, error: expect.stringMatching(/unterminated quoted string/) });
  });

  it('treats an empty or comment-only query as no statements', () => {
    expect(all('')).toEqual([]);
    expect(all('-- nothing\n/* here */ ;;')).toEqual([]);
  });

  it("keeps each statement's own text byte for byte, without the whitespace around it", () => {
    expect(one('delete from t where id =  1').text).toBe('delete from t where id =  1');
    expect(one(' delete from t where id = 1 ').text).toBe('delete from t where id = 1');
  });

  it('gives the same fingerprint for the same shape with other constants', () => {
    expect(one('select * from t where id = 1').fingerprint).toBe(one('select * from t where id = 42').fingerprint);
    expect(one('select * from t where id = 1').fingerprint).not.toBe(one('select * from u where id = 1').fingerprint);
  });

  it('refuses to read SQL under standard_conforming_strings = off or an unsupported encoding', () => {
    expect(analyzeQuery(`select 'a\\''; drop table t; --'`, { standardConformingStrings: false })).toMatchObject({
      ok: false,
      error: expect.stringMatching(/standard_conforming_strings = off/),
    });
    expect(analyzeQuery('select 1', { clientEncoding: 'MULE_INTERNAL' })).toMatchObject({
      ok: false,
      error: expect.stringMatching(/client_encoding MULE_INTERNAL/),
    });
    expect(analyzeQuery('select 1', { clientEncoding: 'SJIS' }).ok).toBe(true);
  });
});

describe('command tags through every wrapper', () => {
  it.each([
    ['drop table a.b, c', 'DROP TABLE', ['DROP TABLE']],
    ['DROP SCHEMA audit CASCADE', 'DROP SCHEMA', ['DROP SCHEMA']],
    ['truncate t', 'TRUNCATE TABLE', ['TRUNCATE TABLE']],
    ['alter system set work_mem = 1', 'ALTER SYSTEM', ['ALTER SYSTEM']],
    ['explain analyze delete from t', 'EXPLAIN', ['EXPLAIN', 'DELETE']],
    ['explain (analyze, buffers) update t set a = 1', 'EXPLAIN', ['EXPLAIN', 'UPDATE']],
    ['copy (delete from t returning *) to stdout', 'COPY', ['COPY', 'COPY TO', 'DELETE']],
    ['with d as (delete from t returning *) select * from d', 'SELECT', ['SELECT', 'DELETE']],
    ['with u as (update t set a = 1 returning 1) insert into x select * from u', 'INSERT', ['INSERT', 'UPDATE']],
    ['merge into t using s on t.id = s.id when matched then delete', 'MERGE', ['MERGE', 'DELETE']],
    [
      'merge into t using s on t.id = s.id when matched then update set a = s.a when not matched then insert values (s.id)',
      'MERGE',
      ['MERGE', 'UPDATE', 'INSERT'],
    ],
    ['create rule r as on insert to t do instead delete from u', 'CREATE RULE', ['CREATE RULE', 'DELETE']],
    ['prepare p as delete from t', 'PREPARE', ['PREPARE', 'DELETE']],
    ['create table x as select * from t', 'CREATE TABLE AS', ['CREATE TABLE AS']],
    ['select * into x from t', 'SELECT INTO', ['SELECT INTO']],
    ['create materialized view v as select 1', 'CREATE MATERIALIZED VIEW', ['CREATE MATERIALIZED VIEW']],
    ['alter table t drop column c', 'ALTER TABLE', ['ALTER TABLE']],
    ['grant select on t to bob', 'GRANT', ['GRANT']],
    ['vacuum full t', 'VACUUM', ['VACUUM']],
    ['begin', 'BEGIN', ['BEGIN']],
    ['set search_path = x', 'SET', ['SET']],
    ['reset all', 'RESET', ['RESET']],
    ['deallocate all', 'DEALLOCATE ALL', ['DEALLOCATE ALL']],
    ['discard all', 'DISCARD ALL', ['DISCARD ALL']],
    ['do $$ begin null; end $$', 'DO', ['DO']],
    ['create function f() returns int language sql as $$ select 1 $$', 'CREATE FUNCTION', ['CREATE FUNCTION']],
    ['create procedure p() language sql as $$ delete from t $$', 'CREATE PROCEDURE', ['CREATE PROCEDURE']],
    ['call p()', 'CALL', ['CALL']],
    ['declare c cursor for select * from t', 'DECLARE CURSOR', ['DECLARE CURSOR']],
    ['explain analyze create table x as select 1', 'EXPLAIN', ['EXPLAIN', 'CREATE TABLE AS']],
    ['create schema s create table t (id int) create view v as select 1', 'CREATE SCHEMA', ['CREATE SCHEMA', 'CREATE TABLE', 'CREATE VIEW']],
    ['insert into t values (1) on conflict (id) do update set n = 2', 'INSERT', ['INSERT', 'UPDATE']],
    ['insert into t values (1) on conflict do nothing', 'INSERT', ['INSERT']],
    ['alter role me set work_mem = 1', 'ALTER ROLE', ['ALTER ROLE']],
  ])('%s', (sql, tag, tags) => {
    const s = one(sql);
    expect(s.tag).toBe(tag);
    expect(s.tags).toEqual(tags);
  });
});

describe('tables, writes and filtered', () => {
  it('names tables with their schema only when written, through joins and subqueries', () => {
    expect(one('select * from a join s.b on true where x in (select y from c)').tables).toEqual([
      { name: 'a' },
      { schema: 's', name: 'b' },
      { name: 'c' },
    ]);
  });

  it('does not count a CTE name as a table, but a write target always is one', () => {
    expect(one('with t as (select 1) select * from t').tables).toEqual([]);
    expect(one('with t as (select 1) delete from t').tables).toEqual([{ name: 't' }]);
    // An inner CTE does not hide the outer table of the same name.
    expect(one('select * from x, (with x as (select 1) select * from x) s').tables).toEqual([{ name: 'x' }]);
  });

  it('names every table a DROP removes, and a whole schema for DROP SCHEMA', () => {
    expect(one('drop table if exists audit.events, logs').tables).toEqual([{ schema: 'audit', name: 'events' }, { name: 'logs' }]);
    expect(one('drop schema audit cascade').tables).toEqual([{ schema: 'audit', name: '*' }]);
  });

  it.each([
    'delete from t',
    'delete from t where true',
    'delete from t where 1=1',
    "delete from t where 'a'='a'",
    'delete from t where x or true',
    'delete from t where not false',
    "delete from t where 't'::boolean",
    'delete from t where 1 < 2 and (true or false)',
    'delete from t where null is null',
    'delete from t where exists (select 1)',
    'delete from t where (select true)',
    'delete from t where 2 = 1 + 1',
    'delete from t where true is true',
    'delete from t where 1 in (1, 2)',
    'update t set a = 1 where coalesce(null, true)',
    'update t set a = 1',
    'with d as (delete from t where 1=1 returning *) select count(*) from d',
    'explain analyze delete from t',
    'merge into t using s on true when matched then delete',
    'truncate t',
  ])('unfiltered: %s', (sql) => {
    expect(one(sql).filtered).toBe(false);
  });

  it.each([
    'delete from t where id = 1',
    'delete from t where x or false',
    'delete from t where id = id',
    'update t set a = 1 where current of c',
    'delete from t where 1 = 2',
    'merge into t using s on t.id = s.id when matched then delete',
    'merge into t using s on true when matched and t.a > 1 then delete',
    'insert into t values (1)',
    'select * from t',
  ])('filtered: %s', (sql) => {
    expect(one(sql).filtered).toBe(true);
  });

  it('records each write with its table', () => {
    expect(one('with d as (delete from a where true returning id) update b set x = 1 where id in (select id from d)').writes).toEqual([
      { tag: 'UPDATE', table: { name: 'b' }, filtered: true },
      { tag: 'DELETE', table: { name: 'a' }, filtered: false },
    ]);
  });
});

describe('functions and opaque SQL', () => {
  it('lists every function called, lower-case, with its schema when written', () => {
    const s = one('select pg_terminate_backend(pid), lo_export(1, $1), public.Dblink_Exec(x) from pg_stat_activity');
    expect(s.functions).toEqual(['pg_terminate_backend', 'lo_export', 'public.dblink_exec']);
    expect(one('select pg_catalog.now()').functions).toContain('now');
    expect(one('call p(1)').functions).toEqual(['p']);
  });

  it.each([
    ['do $$ begin execute $q$drop table t$q$; end $$', /DO block/],
    ["create function f() returns void language plpgsql as $$ begin delete from t; end $$", /CREATE FUNCTION/],
    ["create procedure p() language sql as 'delete from t'", /CREATE PROCEDURE/],
    ['create rule r as on select to t do instead nothing', /CREATE RULE/],
    ['create trigger t before insert on x for each row execute function f()', /trigger/],
    ["select query_to_xml('select email from customers', true, false, '')", /query_to_xml\(\) runs SQL text/],
    ["select * from dblink('dbname=x', 'delete from t') as r(x int)", /dblink\(\)/],
    ["select table_to_xml('customers', true, false, '')", /table_to_xml/],
    ["select cursor_to_xml('c', 10, true, false, '')", /cursor_to_xml/],
    ["copy t to program 'rm -rf /'", /PROGRAM/],
    ['prepare p as select query_to_xml($1, true, false, $$$$)', /query_to_xml/],
  ])('%s is opaque', (sql, reason) => {
    expect(one(sql).opaque).toMatch(reason);
  });

  it.each(['select 1', 'delete from t where id = 1', 'call p()', 'select f(x) from t'])('%s is not opaque', (sql) => {
    expect(one(sql).opaque).toBeUndefined();
  });
});

describe('settings that change how text is read', () => {
  it.each([
    ['set standard_conforming_strings = off', 'standard_conforming_strings', 'off'],
    ['SET LOCAL standard_conforming_strings TO off', 'standard_conforming_strings', 'off'],
    ['set session standard_conforming_strings = false', 'standard_conforming_strings', 'false'],
    ['reset standard_conforming_strings', 'standard_conforming_strings', undefined],
    ["set client_encoding = 'SJIS'", 'client_encoding', 'SJIS'],
    ["set names 'SJIS'", 'client_encoding', 'SJIS'],
    ["select set_config('standard_conforming_strings', 'off', false)", 'standard_conforming_strings', 'off'],
    ['alter role me set standard_conforming_strings to off', 'standard_conforming_strings', 'off'],
    ["alter database d set client_encoding = 'SJIS'", 'client_encoding', 'SJIS'],
    ["select set_config(current_setting('x'), 'off', false)", '?', 'off'],
    ['reset all', 'all', undefined],
  ])('%s', (sql, name, value) => {
    expect(one(sql).setting).toEqual(value === undefined ? { name } : { name, value });
  });

  it('does not report other settings', () => {
    expect(one('set work_mem = 1').setting).toBeUndefined();
  });
});

describe('prepared statements in SQL', () => {
  it('exposes the PREPARE body, found by the scanner past comments and types', () => {
    const s = one("prepare p(int, text) /* as */ as delete from t where id = $1 and n = 'as'");
    expect(s.prepare?.name).toBe('p');
    expect(s.prepare?.body.text).toBe("delete from t where id = $1 and n = 'as'");
    expect(s.prepare?.body.tag).toBe('DELETE');
    expect(s.prepare?.body.filtered).toBe(true);
  });

  it('names what EXECUTE and DEALLOCATE refer to', () => {
    expect(one('execute p(1)').execute).toEqual({ name: 'p' });
    // EXECUTE inside another statement runs the prepared body too.
    expect(one('explain analyze execute p(1)').execute).toEqual({ name: 'p' });
    expect(one('create table x as execute p').execute).toEqual({ name: 'p' });
    expect(one('deallocate p').deallocate).toEqual({ name: 'p' });
    expect(one('deallocate all').deallocate).toEqual({});
    expect(one('discard all').deallocate).toEqual({});
  });
});

describe('cache', () => {
  it('returns the same analysis for the same text and options, and another under other options', () => {
    const a = analyzeQuery('select 42');
    expect(analyzeQuery('select 42')).toBe(a);
    expect(analyzeQuery('select 42', { clientEncoding: 'SJIS' })).not.toBe(a);
  });
});
