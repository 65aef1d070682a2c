import { beforeAll, describe, expect, it } from 'vitest';
import {
  analyzeQuery,
  loadSqlParser,
  maskedCopyProblem,
  maskedOutputColumns,
  planMasking,
  type ResolvedField,
  type StatementAnalysis,
} from '../../src/gateway/sql/index.js';

beforeAll(() => loadSqlParser());

function one(sql: string): StatementAnalysis {
  const a = analyzeQuery(sql);
  if (!a.ok || a.statements.length !== 1) throw new Error(`expected one statement: ${JSON.stringify(a)}`);
  return a.statements[0]!;
}

const EMAIL = { columns: ['email'] };
const masked = (sql: string, m = EMAIL) => maskedOutputColumns(one(sql), m);

describe('masked values through any rewording (lineage from the parse tree)', () => {
  it.each([
    ['select email from customers', ['email']],
    ['select email as e from customers', ['e']],
    ['select c.email as e from customers c', ['e']],
    ['select upper(email) from customers', ['upper']],
    ["select email || '' as x from customers", ['x']],
    ['select substr(email, 1, 100) from customers', ['substr']],
    ["select encode(convert_to(email, 'UTF8'), 'hex') from customers", ['encode']],
    ['select json_agg(email) from customers', ['json_agg']],
    ["select string_agg(email, ',') from customers", ['string_agg']],
    ['select array_agg(email order by id) from customers', ['array_agg']],
    ['select (select email from customers limit 1) as x', ['x']],
    ['with c as (select email as m from customers) select m from c', ['m']],
    ['with c(m) as (select email from customers) select upper(m) as u from c', ['u']],
    ['select s.x from (select email as x from customers) s', ['x']],
    ['select id from customers union select email from customers', ['id']],
    ['select case when id > 0 then email end as x from customers', ['x']],
    ['select coalesce(null, email) from customers', ['coalesce']],
    ['select email::bytea from customers', ['email']],
    ['select (email) from customers', ['email']],
    ['select x.e from customers c, lateral (select c.email as e) x', ['e']],
    ["select 'id' as id, email from customers where id = 1", ['email']],
    ['select c from customers c', ['c']],
    ['select row_to_json(c) from customers c', ['row_to_json']],
    ['select to_jsonb(c.*) as j from customers c', ['j']],
    ['select count(*), max(email) from customers', ['max']],
  ])('%s', (sql, expected) => {
    expect(masked(sql)).toEqual(expected);
  });

  it.each([
    'select id, name from customers',
    'select 1',
    'select count(*) from customers',
    "select 'email' as email_literal",
    'select length(name) from customers where email is not null',
  ])('leaves unmasked: %s', (sql) => {
    expect(masked(sql)).toEqual([]);
  });

  it('resolves table-qualified masking through aliases and CTEs', () => {
    const m = { columns: ['customers.email'] };
    expect(masked('select c.email as x from customers c', m)).toEqual(['x']);
    expect(masked('select email from staff', m)).toEqual([]);
    expect(masked('with t as (select email from customers) select email from t', m)).toEqual(['email']);
    expect(masked('select x.email from staff x join customers c on true', m)).toEqual([]);
    // Unqualified with two tables: either could hold it, so it counts (fail closed).
    expect(masked('select email from staff, customers', m)).toEqual(['email']);
    expect(masked('select email from sales.customers', { columns: ['sales.customers.email'] })).toEqual(['email']);
    expect(masked('select email from crm.customers', { columns: ['sales.customers.email'] })).toEqual([]);
  });

  it('marks a star over a table explicitly, for the relay to resolve by RowDescription', () => {
    const s = one('select *, upper(name) as n from customers');
    expect(s.output?.[0]).toMatchObject({ name: '*', star: { table: { name: 'customers' } }, wholeRows: [{ name: 'customers' }] });
    expect(s.output?.[1]).toMatchObject({ name: 'n', sources: [{ table: { name: 'customers' }, column: 'name' }] });
    // A star over a derived table expands to its known columns.
    expect(one('select * from (select id, upper(email) as e from customers) s').output?.map((c) => c.name)).toEqual(['id', 'e']);
  });

  it('follows RETURNING and COPY (query) output', () => {
    expect(masked('update customers set name = $1 where id = 1 returning email')).toEqual(['email']);
    expect(masked('copy (select lower(email) from customers) to stdout')).toEqual(['lower']);
    expect(masked('copy customers (id, email) to stdout')).toEqual(['email']);
    expect(masked('copy customers to stdout')).toEqual(['email']);
  });
});

describe('planMasking per RowDescription', () => {
  const field = (table: string, column: string): ResolvedField => ({ schema: 'public', table, column });

  it('masks resolved masked columns and computed values from them, by position', () => {
    const s = one('select id, email as e, upper(email), name from customers');
    const fields = [field('customers', 'id'), field('customers', 'email'), undefined, field('customers', 'name')];
    expect(planMasking(s, EMAIL, fields)).toEqual({ mask: [1, 2] });
  });

  it('expands a star by the fields the server sent, keeping the columns around it aligned', () => {
    const s = one('select upper(email) as u, *, 1 as one from customers');
    const fields = [undefined, field('customers', 'id'), field('customers', 'email'), field('customers', 'name'), undefined];
    expect(planMasking(s, EMAIL, fields)).toEqual({ mask: [0, 2] });
  });

  it('masks whole-row values of a table that may hold a masked column', () => {
    expect(planMasking(one('select c from customers c'), EMAIL, [undefined])).toEqual({ mask: [0] });
    expect(planMasking(one('select c from customers c'), { columns: ['staff.email'] }, [undefined])).toEqual({ mask: [] });
  });

  it('masks everything computable when the shape is not what the parse tree predicts', () => {
    const s = one('select email, id from customers');
    expect(planMasking(s, EMAIL, [undefined, undefined, undefined])).toEqual({ mask: [0, 1, 2] });
  });

  it('refuses functions that run SQL text on a masked target', () => {
    const plan = planMasking(one("select query_to_xml('select email from customers', true, false, '')"), EMAIL, [undefined]);
    expect(plan).toEqual({ refuse: expect.stringMatching(/query_to_xml\(\) runs SQL text gate cannot see/) });
  });

  it('masks nothing without masked columns', () => {
    expect(planMasking(one('select email from customers'), { columns: [] }, [field('customers', 'email')])).toEqual({ mask: [] });
  });
});

describe('writes that copy masked data elsewhere', () => {
  it.each([
    'insert into leak select email from customers',
    'insert into leak (x) select upper(c.email) from customers c',
    'insert into leak select * from customers',
    'create table leak as select email from customers',
    'create materialized view leak as select email from customers',
    'select email into leak from customers',
    'update staff set note = c.email from customers c where c.id = staff.id',
    'update customers set name = email where id = 1',
    'with x as (insert into leak select email from customers returning 1) select 1',
    "copy (select email from customers) to '/tmp/leak.csv'",
    'merge into leak l using customers c on l.id = c.id when not matched then insert values (c.id, c.email)',
    'prepare p as insert into leak select email from customers',
  ])('%s', (sql) => {
    expect(maskedCopyProblem(one(sql), EMAIL)).toMatch(/would copy masked columns/);
  });

  it.each([
    'insert into t values (1, $1)',
    'insert into leak select id, name from customers',
    'update customers set email = $1 where id = 1',
    'copy (select id from customers) to stdout',
  ])('allows %s', (sql) => {
    expect(maskedCopyProblem(one(sql), EMAIL)).toBeUndefined();
  });
});

describe('cursors', () => {
  it('gives a DECLARE its rows’ lineage, for the FETCH that returns them', () => {
    const s = one('declare c cursor with hold for select upper(email) as e, id from customers');
    expect(s.cursor?.name).toBe('c');
    expect(maskedOutputColumns({ ...s, output: s.cursor?.output }, EMAIL)).toEqual(['e']);
    expect(one('fetch 10 from c').fetch).toEqual({ name: 'c' });
    expect(one('move next in c').fetch).toEqual({ name: 'c' });
  });
});
