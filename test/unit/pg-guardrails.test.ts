import { describe, expect, it } from 'vitest';
import { checkGuardrails, compileGuardrails } from '../../src/gateway/postgres/guardrails.js';
import { splitStatements } from '../../src/gateway/postgres/sql-split.js';

describe('statement splitting', () => {
  it('splits at top-level semicolons only', () => {
    expect(splitStatements(`select 'a;b'; select "x;y" from t; select $$ ; $$; select $f$ ; $f$`)).toEqual([
      `select 'a;b'`,
      'select "x;y" from t',
      'select $$ ; $$',
      'select $f$ ; $f$',
    ]);
  });

  it('drops comments and collapses whitespace outside literals', () => {
    expect(splitStatements('/* a /* nested */ comment */ DROP\n\t TABLE -- trailing\n t')).toEqual(['DROP TABLE t']);
    expect(splitStatements(`select 'two  spaces'`)).toEqual([`select 'two  spaces'`]);
  });

  it('handles E-strings with backslash escapes', () => {
    expect(splitStatements(`select E'it\\'s; fine'; drop table x`)).toEqual([`select E'it\\'s; fine'`, 'drop table x']);
  });
});

describe('guardrails', () => {
  const rules = compileGuardrails([
    { deny: '^\\s*drop\\s', message: 'no DROP' },
    { require_approval: '^\\s*(delete|update)\\b(?!.*\\bwhere\\b)' },
  ]);

  it('matches case-insensitively and in any statement of a multi-statement query', () => {
    expect(checkGuardrails(rules, 'select 1; DrOp table t')?.rule.kind).toBe('deny');
    expect(checkGuardrails(rules, '-- sneaky\n/* */ drop table t')?.rule.kind).toBe('deny');
  });

  it('lets deny win over require_approval', () => {
    expect(checkGuardrails(rules, 'delete from t; drop table t')?.rule.kind).toBe('deny');
  });

  it('holds unqualified writes, and sees a WHERE on another line', () => {
    expect(checkGuardrails(rules, 'delete from t')?.rule.kind).toBe('require_approval');
    expect(checkGuardrails(rules, 'delete from t\nwhere id = 1')).toBeUndefined();
    expect(checkGuardrails(rules, 'select * from drops')).toBeUndefined();
  });
});
