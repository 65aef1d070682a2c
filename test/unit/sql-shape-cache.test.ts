import { beforeAll, describe, expect, it } from 'vitest';
import { analyzeQuery, clearAnalysisCache, loadSqlParser, type QueryAnalysis, type StatementAnalysis } from '../../src/gateway/sql/index.js';

beforeAll(() => loadSqlParser());

/** The analysis of `text` read from nothing but the parser. */
function fresh(text: string): QueryAnalysis {
  clearAnalysisCache();
  const a = analyzeQuery(text);
  clearAnalysisCache();
  return a;
}

/** A shape's copy without its reference to the shape it was copied from (which a full parse does not have). */
function unshaped(s: StatementAnalysis): StatementAnalysis {
  const { shape: _shape, ...rest } = s;
  return rest;
}

/** Analyses each text in turn through the caches (so a shape is learnt from the earlier ones). */
function inTurn(texts: string[]): QueryAnalysis[] {
  clearAnalysisCache();
  return texts.map((t) => {
    const a = analyzeQuery(t);
    return a.ok ? { ok: true, statements: a.statements.map(unshaped) } : a;
  });
}

describe('statements that differ only in integer constants', () => {
  it('each get their own text and hash, and otherwise what a full parse gives (pgbench select-only)', () => {
    const texts = [48213, 7, 99999, 123456789, 1, 31].map((aid) => `SELECT abalance FROM pgbench_accounts WHERE aid = ${aid};`);
    const got = inTurn(texts);
    for (let i = 0; i < texts.length; i++) {
      expect(got[i]).toEqual(fresh(texts[i]!));
      const a = got[i]!;
      expect(a.ok && a.statements[0]!.text).toBe(texts[i]!.slice(0, -1));
    }
  });

  it('never share a write: an unfiltered DELETE is seen as unfiltered after filtered ones of the same shape', () => {
    const texts = ['delete from t where 1 = 2', 'delete from t where 2 = 3', 'delete from t where 4 = 5', 'delete from t where 1 = 1'];
    const got = inTurn(texts);
    const last = got.at(-1)!;
    expect(last.ok && last.statements[0]!.filtered).toBe(false);
    expect(last).toEqual(fresh(texts.at(-1)!));
  });

  it('keep reading other shapes and forms right: lists, limits, several statements, comments, quotes', () => {
    const texts = [
      'select * from t limit 10 offset 20',
      'select * from t limit 11 offset 21',
      'select * from t limit 12 offset 22',
      'select 1; drop table t',
      'select 2; drop table t',
      'select 3; drop table t',
      'select a from t where id in (1, 2, 3) /* 4 */',
      'select a from t where id in (5, 6, 7) /* 8 */',
      "select a from t where b = '1'",
      "select a from t where b = '2'",
      'select set_config($$x$$, 1::text, false)',
      'select t.a, 5 as "1" from t',
      'select x[1], x[2] from t order by 1 limit 3',
      'select x[3], x[4] from t order by 2 limit 4',
      'select x[5], x[6] from t order by 1 limit 5',
      'select 1.5, 2e3, 0x1f, 1_000 from t',
      'select 2.5, 3e3, 0x2f, 2_000 from t',
      'select 12345678901 from t',
      'select 12345678902 from t',
      'select 12345678903 from t',
    ];
    const got = inTurn(texts);
    for (let i = 0; i < texts.length; i++) expect(got[i], texts[i]).toEqual(fresh(texts[i]!));
  });

  it('do not turn a query the parser refuses into one it accepted', () => {
    const texts = ['select 1 from t', 'select 2 from t', 'select 3 from t', 'select 4 from t where', 'select 5 from t limit'];
    const got = inTurn(texts);
    expect(got[3]!.ok).toBe(false);
    expect(got[4]!.ok).toBe(false);
  });
});

describe('the shape cache itself', () => {
  const full = (text: string) => {
    const a = fresh(text);
    if (!a.ok) throw new Error(a.error);
    return a.statements;
  };

  it('serves a shape once a second text of it was analysed the same, with the new text and its hash', async () => {
    const { ShapeCache } = await import('../../src/gateway/sql/shape-cache.js');
    const cache = new ShapeCache(10);
    const text = (n: number) => `SELECT abalance FROM pgbench_accounts WHERE aid = ${n};`;
    const key = cache.key('1|UTF8|', text(1), 1000)!;
    expect(cache.key('1|UTF8|', text(77), 1000)).toBe(key);
    cache.learn(key, text(1), full(text(1)));
    expect(cache.get(key, text(2))).toBeUndefined();
    cache.learn(key, text(2), full(text(2)));
    const copy = cache.get(key, text(3))!;
    expect(unshaped(copy)).toEqual(full(text(3))[0]);
    // It points at the analysis it was copied from: what does not depend on the text is remembered there.
    expect(copy.shape?.text).toBe(text(1).slice(0, -1));
  });

  it('never serves a shape two texts of which were analysed differently', async () => {
    const { ShapeCache } = await import('../../src/gateway/sql/shape-cache.js');
    const cache = new ShapeCache(10);
    const a = 'select 1 from t';
    const key = cache.key('', a, 1000)!;
    cache.learn(key, a, full(a));
    // Stands for a second text of the shape that the parser read otherwise.
    cache.learn(key, 'select 2 from t', full('select 2 from u'));
    cache.learn(key, 'select 3 from t', full('select 3 from t'));
    expect(cache.get(key, 'select 4 from t')).toBeUndefined();
  });

  it('builds no key for text it cannot read without a lexer', async () => {
    const { ShapeCache } = await import('../../src/gateway/sql/shape-cache.js');
    const cache = new ShapeCache(10);
    for (const t of ["select '1'", 'select 1 -- 2', 'select 1 /* 2 */', 'select $1', 'select "a1" , 2', 'select é, 1', 'select x']) {
      expect(cache.key('', t, 1000), t).toBeUndefined();
    }
  });
});
