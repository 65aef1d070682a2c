import { once } from 'node:events';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { UsageError } from '../../errors.js';
import type { LogLevel } from '../../server/log.js';
import type { CliContext } from '../context.js';
import { parseServerPort } from '../parse.js';

interface ServerOptions {
  config?: string;
  host: string;
  port: string;
  dataDir?: string;
  logLevel: LogLevel;
  check?: boolean;
  json?: boolean;
}

export function registerServer(program: Command, ctx: CliContext): void {
  program
    .command('server')
    .summary('run the gate policy server and gateway')
    .description(
      'Run the policy server and the gateway with a gate.yaml. Logs are JSON lines on stderr.\n' +
        'Identity comes from an external OIDC provider (identity.oidc in the config).\n\n' +
        'Examples:\n  $ gate server --config /etc/gate/gate.yaml --port 4180\n' +
        '  $ GATE_DATA_DIR=/var/lib/gate gate server --config gate.yaml\n' +
        '  $ gate server --check --config /etc/gate/gate.yaml    # reach the store, the IdP and every target with every role\n\n' +
        '--check serves nothing: it validates the config, reaches the store, the IdP (discovery and JWKS)\n' +
        'and every target with every role, and warns about a role that holds more than its guardrails\n' +
        'let it use (a superuser, a "read" role that can write). It never prints a secret. Exit code 0\n' +
        'when every check passed without warning, 1 otherwise (see docs/deploy.md).',
    )
    .option('-c, --config <file>', 'policy file (gate.yaml)')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('-p, --port <port>', 'port to listen on', '4180')
    .option('--data-dir <dir>', 'keys, store and recordings (default: GATE_DATA_DIR, then ./gate-data)')
    .option('--log-level <level>', 'debug, info, warn or error', 'info')
    .option('--check', 'check the config, the store, the IdP and every target and role, then exit')
    .option('--json', 'with --check: print the report as JSON')
    .action(async (opts: ServerOptions) => {
      if (!opts.config) throw new UsageError('gate server needs a policy file.', { hint: 'Pass --config gate.yaml, or try `gate dev` for a local all-in-one setup.' });
      if (opts.json && !opts.check) throw new UsageError('--json goes with --check.', { hint: 'Run `gate server --check --json --config gate.yaml`.' });
      if (opts.check) {
        const { runCheck } = await import('./server-check.js');
        ctx.exitCode = await runCheck(ctx, { config: opts.config, dataDir: opts.dataDir, json: !!opts.json });
        return;
      }
      const port = parseServerPort(opts.port);
      const { loadConfigFile } = await import('../../config/load.js');
      const config = await loadConfigFile(resolve(opts.config));
      if (!config.identity.oidc) {
        throw new UsageError(`${opts.config} has no identity.oidc section.`, { hint: 'Configure your IdP (issuer, client_id), or use `gate dev`.' });
      }
      const [{ buildServer }, { createLogger }] = await Promise.all([import('../../server/app.js'), import('../../server/log.js')]);
      const log = createLogger({ level: opts.logLevel });
      const dataDir = resolve(opts.dataDir ?? ctx.env.dataDir ?? config.server.data_dir ?? 'gate-data');
      const server = await buildServer({ config, dataDir, logger: log });
      const url = await server.listen({ host: opts.host, port });
      log.info('listening', { url, data_dir: dataDir, targets: Object.keys(config.targets).length });
      await waitForShutdown(ctx);
      log.info('shutting down');
      await server.close();
    });
}

/** Resolves when the CLI's signal aborts (Ctrl-C or SIGTERM). */
export async function waitForShutdown(ctx: CliContext): Promise<void> {
  if (!ctx.signal.aborted) await once(ctx.signal, 'abort');
}
