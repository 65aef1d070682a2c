import { beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import type { PostgresTarget } from '../../src/config/schema.js';
import { explainQuery } from '../../src/gateway/sql/explain.js';
import { loadSqlParser } from '../../src/gateway/sql/index.js';
import { fillDevConfig } from '../../src/server/dev-config.js';

beforeAll(() => loadSqlParser());

const config = parseConfig(
  fillDevConfig({
    DEMO_ADDRESS: '127.0.0.1:5432',
    DEMO_DATABASE: 'demo',
    DEMO_READ_USER: 'r',
    DEMO_READ_PASSWORD_REF: 'env:R',
    DEMO_WRITE_USER: 'w',
    DEMO_WRITE_PASSWORD_REF: 'env:W',
  }),
);
const demo = config.targets['demo-db'] as PostgresTarget;
const decide = (sql: string) => {
  const r = explainQuery('demo-db', demo, sql, 'write');
  if (!r.ok) throw new Error(r.error);
  return r.decision;
};

describe('the gate dev demo uses structured rules', () => {
  it('lets pgbench -i drop, create and truncate its own tables', () => {
    // The statements pgbench 15 sends for `pgbench -i`.
    expect(decide('drop table if exists pgbench_accounts, pgbench_branches, pgbench_history, pgbench_tellers')).toBe('allow');
    expect(decide('create table pgbench_history(tid int,bid int,aid    int,delta int,mtime timestamp,filler char(22))')).toBe('allow');
    expect(decide('truncate table pgbench_accounts, pgbench_branches, pgbench_history, pgbench_tellers')).toBe('allow');
    expect(decide('vacuum analyze pgbench_branches')).toBe('allow');
    expect(decide('alter table pgbench_branches add primary key (bid)')).toBe('allow');
    expect(decide('UPDATE pgbench_accounts SET abalance = abalance + 5 WHERE aid = 7')).toBe('allow');
  });

  it('denies every other DROP and TRUNCATE, however it is worded', () => {
    for (const sql of [
      'drop table customers',
      'drop table pgbench_accounts, customers',
      'drop schema public cascade',
      'truncate customers',
      'select 1 -- \r; drop table customers',
      'alter system set fsync = off',
    ])
      expect(decide(sql), sql).toBe('deny');
  });

  it('holds unfiltered writes and refuses opaque SQL', () => {
    expect(decide('delete from customers where 1=1')).toBe('require_approval');
    expect(decide('do $$ begin delete from customers; end $$')).toBe('deny');
  });
});
