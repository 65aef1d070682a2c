import { resolve } from 'node:path';
import { ExitCode, GateError } from '../../errors.js';
import type { CliContext } from '../context.js';
import { printJson } from '../output.js';

/** `gate server --check`: the report on stdout (text or JSON); 0 when all passed, 1 otherwise. */
export async function runCheck(ctx: CliContext, opts: { config: string; dataDir?: string; json: boolean }): Promise<number> {
  const [{ loadConfigFile }, check] = await Promise.all([import('../../config/load.js'), import('../../server/check/index.js')]);
  let report: Awaited<ReturnType<typeof check.runServerCheck>>;
  try {
    const config = await loadConfigFile(resolve(opts.config));
    const dataDir = resolve(opts.dataDir ?? ctx.env.dataDir ?? config.server.data_dir ?? 'gate-data');
    report = await check.runServerCheck(config, opts.config, { dataDir, env: ctx.rawEnv as NodeJS.ProcessEnv });
  } catch (err) {
    if (!(err instanceof GateError)) throw err;
    report = check.configErrorReport(err.message);
  }
  if (opts.json) printJson(ctx.io, report);
  else {
    const s = ctx.style;
    const mark = (st: string) => (st === 'ok' ? s.green('✓') : st === 'warning' ? s.yellow('!') : s.red('✗'));
    ctx.io.stdout.write(check.formatReport(report, mark));
  }
  return report.ok ? ExitCode.ok : ExitCode.failure;
}
