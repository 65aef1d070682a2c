/**
 * Cost of gate's SQL analysis per statement: a cache hit (the hot path for
 * repeated statements), a miss (parse + fingerprint + walk), and the rule
 * evaluation on top, for pgbench's statements and a larger query.
 *
 *   npm run bench:sql
 *
 * Not a test: nothing asserts a timing; compare the rows of one run.
 */
import { bench, describe } from 'vitest';
import { analyzeQuery, clearAnalysisCache, compileSqlRules, evaluateQuery, loadSqlParser } from '../src/gateway/sql/index.js';

await loadSqlParser();

const SELECT = 'SELECT abalance FROM pgbench_accounts WHERE aid = 48213;';
const UPDATE = 'UPDATE pgbench_accounts SET abalance = abalance + -4211 WHERE aid = 48213;';
const REPORT = `with recent as (select customer_id, sum(total) as t from orders where created_at > now() - interval '7 days' group by 1)
select c.id, c.name, upper(c.email) as email, r.t, (select count(*) from tickets k where k.customer_id = c.id) as tickets
from customers c join recent r on r.customer_id = c.id left join lateral (select * from notes n where n.customer_id = c.id limit 1) n on true
where c.active and c.region in ('eu', 'us') order by r.t desc limit 50`;

const rules = compileSqlRules({
  guardrails: [
    { deny: { statements: ['DROP', 'TRUNCATE', 'ALTER SYSTEM'] } },
    { require_approval: { statements: ['DELETE', 'UPDATE'], unfiltered: true } },
    { deny: { functions: ['pg_terminate_backend', 'dblink*'] } },
  ],
  maskedColumns: ['email'],
});

for (const [name, sql] of [
  ['pgbench select', SELECT],
  ['pgbench update', UPDATE],
  ['report query', REPORT],
] as const) {
  describe(name, () => {
    bench('cached analyzeQuery', () => {
      analyzeQuery(sql);
    });
    bench('cached analyzeQuery + evaluateQuery', () => {
      evaluateQuery(rules, analyzeQuery(sql), 'db');
    });
    bench('uncached analyzeQuery', () => {
      clearAnalysisCache();
      analyzeQuery(sql);
    });
  });
}
