import { mkdir, rm } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import type { GateConfig } from '../../config/schema.js';
import { ExitCode, UsageError } from '../../errors.js';
import { fillDevConfig } from '../../server/dev-config.js';
import { runningDev, takeDevLock } from '../../server/dev-lock.js';
import type { LogLevel } from '../../server/log.js';
import type { CliContext } from '../context.js';
import { gateCommand } from '../invocation.js';
import { say } from '../output.js';
import { parseServerPort } from '../parse.js';
import { waitForShutdown } from './server.js';

export const DEV_CLIENT_ID = 'gate-cli';

interface DevOptions {
  config?: string;
  port: string;
  dataDir: string;
  logLevel: LogLevel;
  reset?: boolean;
}

export function registerDev(program: Command, ctx: CliContext): void {
  program
    .command('dev')
    .summary('run an all-in-one local gate: server, identity provider and a demo database')
    .description(
      'Start, in one process, the policy server, an embedded OpenID provider with dev users,\n' +
        'a SQLite store in .gate-dev/, and (without --config) a throwaway PostgreSQL with sample\n' +
        'data as the target demo-db. Dev users: alice/alice (engineering), bob/bob (dba-oncall),\n' +
        'carol/carol (platform, admin). Everything lives in --data-dir; --reset deletes it first.\n' +
        'Ctrl-C stops it (exit code 2, as for every cancelled gate command).\n\n' +
        'Examples:\n  $ gate dev\n  $ gate dev --reset\n  $ gate dev --config gate.yaml --port 4180',
    )
    .option('-c, --config <file>', 'policy file with dev.users (default: the embedded sample)')
    .option('-p, --port <port>', 'port to listen on', '4180')
    .option('--data-dir <dir>', 'where state lives', '.gate-dev')
    .option('--log-level <level>', 'debug, info, warn or error', 'warn')
    .option('--reset', 'delete the data dir (store, demo database, keys) and start from scratch')
    .action(async (opts: DevOptions) => {
      await dev(ctx, opts);
    });
}

async function dev(ctx: CliContext, opts: DevOptions): Promise<void> {
  // Loaded here, not at the top: every other command starts faster without the server stack.
  const { quietOidcProvider } = await import('../../server/dev-idp/quiet.js');
  const [{ buildServer }, { createDevIdp }, { createLogger }] = await quietOidcProvider(() =>
    Promise.all([import('../../server/app.js'), import('../../server/dev-idp/index.js'), import('../../server/log.js')]),
  );
  const port = parseServerPort(opts.port);
  const dataDir = resolve(opts.dataDir);
  const running = await runningDev(dataDir);
  if (running) {
    throw new UsageError(`gate dev is already running on ${opts.dataDir}: pid ${running.pid}${running.url ? `, at ${running.url}` : ''}.`, {
      hint: `Use that one, stop it (Ctrl-C in its terminal, or \`kill ${running.pid}\`), or start another with --data-dir DIR --port PORT.`,
      details: { pid: running.pid, url: running.url },
    });
  }
  if (opts.reset) {
    const { removeDemoPostgres } = await import('../../server/dev-postgres.js');
    await removeDemoPostgres(resolve(dataDir, 'postgres'));
    await rm(dataDir, { recursive: true, force: true });
    say(ctx.io, `Reset: deleted ${opts.dataDir}.`);
  }
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const lock = await takeDevLock(dataDir);
  const stops: (() => Promise<void>)[] = [];
  try {
    // The config loader (YAML, the config schema) is loaded by the commands that read a config only.
    const { loadConfigFile, parseConfig } = await import('../../config/load.js');
    let config: GateConfig;
    if (opts.config) {
      config = await loadConfigFile(resolve(opts.config));
    } else {
      say(ctx.io, 'Starting the demo PostgreSQL (first start takes a few seconds)…');
      const { startDemoPostgres } = await import('../../server/dev-postgres.js');
      const demo = await startDemoPostgres(resolve(dataDir, 'postgres'));
      stops.push(demo.stop);
      config = parseConfig(
        fillDevConfig({
          DEMO_ADDRESS: demo.address,
          DEMO_DATABASE: demo.database,
          DEMO_READ_USER: demo.roles.read.username,
          DEMO_READ_PASSWORD_REF: demo.roles.read.passwordRef,
          DEMO_WRITE_USER: demo.roles.write.username,
          DEMO_WRITE_PASSWORD_REF: demo.roles.write.passwordRef,
        }),
        '(embedded dev config)',
      );
    }
    const users = config.dev?.users ?? [];
    if (users.length === 0) {
      throw new UsageError('gate dev needs at least one dev user.', { hint: 'Add dev.users: [{ username, password, email, groups }] to the config.' });
    }
    const server = await buildServer({ config, dataDir, logger: createLogger({ level: opts.logLevel }) });
    stops.unshift(() => server.close());
    const url = await server.listen({ host: '127.0.0.1', port });
    await lock.setUrl(url);
    const issuer = `${url}/idp`;
    const idp = await quietOidcProvider(() => createDevIdp({ issuer, clientId: DEV_CLIENT_ID, users }));
    stops.unshift(() => idp.close());
    server.mount('/idp', idp.handle);
    server.setOidc({
      issuer,
      client_id: DEV_CLIENT_ID,
      scopes: ['openid', 'email', 'profile', 'offline_access', 'groups'],
      groups_claim: 'groups',
      algorithms: ['RS256', 'ES256', 'EdDSA', 'PS256'],
    });
    printNextSteps(ctx, url, config, users.map((u) => `${u.username}/${u.password}`));
    await waitForShutdown(ctx);
    say(ctx.io, 'Stopping gate dev…');
    // Stopped by Ctrl-C or a signal: never exit 0 for that (see `gate help exit-codes`).
    ctx.exitCode = ExitCode.cancelled;
  } finally {
    for (const stop of stops) await stop().catch(() => {});
    // Last: the next gate dev may start once the demo cluster is down.
    await lock.release().catch(() => {});
  }
}

function printNextSteps(ctx: CliContext, url: string, config: GateConfig, users: string[]): void {
  const { style } = ctx;
  const targets = Object.keys(config.targets);
  say(ctx.io, `${style.green('✓')} gate dev is running at ${style.bold(url)}`);
  say(ctx.io, `  identity provider ${url}/idp · dev users ${users.join(', ')}`);
  say(ctx.io, `  web console ${url}/ui (approvals, grants, session replay, audit)`);
  if (targets.length > 0) say(ctx.io, `  targets: ${targets.join(', ')}`);
  say(ctx.io, '');
  // Printed as the user can run them: `node bin/gate.js …` from a checkout, `gate …` once on PATH.
  const gate = gateCommand();
  say(ctx.io, 'Next, in another terminal:');
  say(ctx.io, `  ${gate} login --server ${url}`);
  if (targets[0]) say(ctx.io, `  ${gate} psql ${targets[0]}`);
  say(ctx.io, '');
  say(ctx.io, 'Press Ctrl-C to stop.');
}
