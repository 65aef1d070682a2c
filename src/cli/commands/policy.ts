import { resolve } from 'node:path';
import type { Command } from 'commander';
import { ConfigError, UsageError } from '../../errors.js';
import type { CliContext } from '../context.js';
import { printJson } from '../output.js';

interface PolicyTestOptions {
  config?: string;
  target?: string;
  role?: string;
  json?: boolean;
}

export function registerPolicy(program: Command, ctx: CliContext): void {
  const policy = program
    .command('policy')
    .summary('check what gate.yaml decides, offline')
    .description('Commands that read gate.yaml and answer without a server or a database.\n\nExamples:\n  $ gate policy test --config gate.yaml --target db-prod "drop table users"');
  policy
    .command('test')
    .summary('show how gate classifies SQL and what a target\'s guardrails decide')
    .description(
      'Parse SQL with PostgreSQL\'s own parser, exactly as the gateway does, and show for each statement\n' +
        'its command tag, the tables it touches, whether its writes are filtered (a WHERE that is not\n' +
        'constant true), whether it is opaque (DO, CREATE FUNCTION, …), and what the target\'s guardrails,\n' +
        'opaque_sql and masking decide: allow, deny or require_approval, and which rule.\n' +
        'No server and no database are needed.\n\n' +
        'Exit code 0 means the SQL was evaluated, whatever the decision (read it from the output or from\n' +
        '--json); 1 means it could not be (a config error, an unknown target or role, SQL that does not parse).\n\n' +
        'Examples:\n' +
        '  $ gate policy test --config gate.yaml --target db-prod "delete from orders"\n' +
        '  $ gate policy test -c gate.yaml -t db-prod --role write "with d as (delete from t returning *) select 1"\n' +
        '  $ gate policy test -c gate.yaml -t db-prod --json "select email from customers" | jq .statements[0].decision',
    )
    .argument('<sql...>', 'the SQL text (several arguments are joined with spaces; several statements are fine)')
    .option('-c, --config <file>', 'policy file (gate.yaml)')
    .option('-t, --target <name>', 'the postgres target whose rules to apply')
    .option('-r, --role <name>', 'the role to connect as (checked against the target)')
    .option('--json', 'print JSON: {"statements":[{text, tag, tables, filtered, opaque, decision, rule, …}], "masked_columns":[…]}')
    .action(async (sqlWords: string[], opts: PolicyTestOptions) => {
      const result = await runPolicyTest(sqlWords.join(' '), opts);
      if (opts.json) printJson(ctx.io, result);
      else ctx.io.stdout.write(formatPolicyTest(result));
    });
}

type Explained = Extract<import('../../gateway/sql/explain.js').ExplainResult, { ok: true }>;

/** Loads the config, checks target and role, and evaluates the SQL. */
export async function runPolicyTest(sql: string, opts: PolicyTestOptions): Promise<Omit<Explained, 'ok'>> {
  if (!opts.config) throw new UsageError('gate policy test needs a policy file.', { hint: 'Pass --config gate.yaml.' });
  if (!opts.target) throw new UsageError('gate policy test needs a target.', { hint: 'Pass --target NAME (a postgres target in the config).' });
  const { loadConfigFile } = await import('../../config/load.js');
  const config = await loadConfigFile(resolve(opts.config));
  const target = config.targets[opts.target];
  const names = Object.keys(config.targets);
  if (!target) throw new ConfigError(`${opts.config} has no target ${JSON.stringify(opts.target)}.`, { hint: names.length > 0 ? `Targets: ${names.join(', ')}.` : 'The config defines no targets.' });
  if (target.type !== 'postgres') throw new UsageError(`${opts.target} is a ${target.type} target; gate policy test evaluates SQL for postgres targets.`);
  if (opts.role && !(opts.role in target.roles)) {
    throw new UsageError(`${opts.target} has no role ${JSON.stringify(opts.role)}.`, { hint: `Roles: ${Object.keys(target.roles).join(', ')}.` });
  }
  const [{ loadSqlParser }, { explainQuery }] = await Promise.all([import('../../gateway/sql/parser.js'), import('../../gateway/sql/explain.js')]);
  await loadSqlParser();
  const result = explainQuery(opts.target, target, sql, opts.role);
  if (!result.ok) {
    const at = result.position !== undefined ? ` (at character ${result.position + 1})` : '';
    throw new UsageError(`PostgreSQL cannot parse this SQL: ${result.error}${at}.`, {
      hint: 'The server would refuse it too; a guarded target refuses it without sending it.',
    });
  }
  const { ok: _ok, ...rest } = result;
  return rest;
}

const WORD: Record<string, string> = { allow: 'allow', deny: 'DENY', require_approval: 'REQUIRE APPROVAL' };

export function formatPolicyTest(r: Omit<Explained, 'ok'>): string {
  const lines: string[] = [];
  r.statements.forEach((s, i) => {
    lines.push(`${i + 1}. ${s.text.replace(/\s*\n\s*/g, ' ')}`);
    const tags = s.tags.length > 1 ? `${s.tag} (runs ${s.tags.slice(1).join(', ')})` : s.tag;
    lines.push(`   tag: ${tags}   tables: ${s.tables.join(', ') || '-'}   ${s.filtered ? 'filtered' : 'UNFILTERED'}${s.opaque ? '   OPAQUE' : ''}`);
    if (s.opaque_reason) lines.push(`   opaque: ${s.opaque_reason}`);
    if (s.masked_columns.length > 0) lines.push(`   masked: ${s.masked_columns.join(', ')}`);
    lines.push(`   → ${WORD[s.decision]}${s.rule ? ` by ${s.rule}` : ''}`);
    if (s.reason) lines.push(`     ${s.reason}`);
  });
  lines.push(`${r.target}: ${WORD[r.decision]}${r.statements.length > 1 ? ' (the strongest decision of any statement; the query runs only when every statement is allowed or approved)' : ''}`);
  return `${lines.join('\n')}\n`;
}
