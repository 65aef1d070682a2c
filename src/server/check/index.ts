import type { GateConfig } from '../../config/schema.js';
import { checkDataDir } from './data-dir.js';
import { checkIdentity } from './idp.js';
import { checkKubernetesTarget } from './kubernetes.js';
import { checkHttpTarget, checkMcpTarget, checkTcpTarget } from './network.js';
import { checkPostgresTarget } from './postgres.js';
import { probeContext, redactItems } from './secrets.js';
import { checkStore } from './store.js';
import type { CheckItem, CheckReport, ProbeContext } from './types.js';

export type { CheckItem, CheckReport } from './types.js';

export interface ServerCheckOptions {
  dataDir: string;
  env?: NodeJS.ProcessEnv;
  /** Per probe (default 5 s). */
  timeoutMs?: number;
}

/**
 * `gate server --check`: everything `gate server` will need, reached once
 * without serving: the store, the IdP, every target with every role. Probes
 * run in parallel, each bounded in time; the report holds no secret.
 */
export async function runServerCheck(config: GateConfig, configFile: string, options: ServerCheckOptions): Promise<CheckReport> {
  const { ctx, seen } = probeContext(options.env ?? process.env, options.timeoutMs ?? 5_000);
  const targets = Object.entries(config.targets);
  const parts = await Promise.all([
    checkStore(config, options.dataDir, ctx).then((i) => [i]),
    checkDataDir(options.dataDir).then((i) => [i]),
    checkIdentity(config, ctx),
    ...targets.map(([name, t]) => checkTarget(name, t, ctx)),
  ]);
  const checks = redactItems(
    [{ component: 'config', status: 'ok', message: `${configFile}: valid (${targets.length} target${targets.length === 1 ? '' : 's'}, ${config.policies.length} polic${config.policies.length === 1 ? 'y' : 'ies'})` } satisfies CheckItem, ...parts.flat()],
    seen,
  );
  return summarize(checks);
}

/** A report for a config that did not load: nothing else can be checked. */
export function configErrorReport(message: string): CheckReport {
  return summarize([{ component: 'config', status: 'error', message }]);
}

function checkTarget(name: string, t: GateConfig['targets'][string], ctx: ProbeContext): Promise<CheckItem[]> {
  switch (t.type) {
    case 'postgres':
      return checkPostgresTarget(name, t, ctx);
    case 'kubernetes':
      return checkKubernetesTarget(name, t, ctx);
    case 'tcp':
      return checkTcpTarget(name, t, ctx);
    case 'http':
      return checkHttpTarget(name, t, ctx);
    case 'mcp':
      return checkMcpTarget(name, t, ctx);
  }
}

function summarize(checks: CheckItem[]): CheckReport {
  const count = (s: CheckItem['status']) => checks.filter((c) => c.status === s).length;
  const summary = { ok: count('ok'), warnings: count('warning'), errors: count('error') };
  return { ok: summary.errors === 0 && summary.warnings === 0, summary, checks };
}

/** The report as lines for a terminal: one per check, then the summary. */
export function formatReport(report: CheckReport, mark: (s: CheckItem['status']) => string): string {
  const lines = report.checks.map((c) => {
    const what = c.component === 'target' ? `target ${c.name}${c.role ? ` (role ${c.role})` : ''}` : c.component === 'idp' ? `idp ${c.name}` : c.component === 'data_dir' ? 'data dir' : c.component;
    return `${mark(c.status)} ${what}: ${c.message}`;
  });
  const { ok, warnings, errors } = report.summary;
  lines.push('', `${ok} ok, ${warnings} warning${warnings === 1 ? '' : 's'}, ${errors} error${errors === 1 ? '' : 's'}`);
  return `${lines.join('\n')}\n`;
}
