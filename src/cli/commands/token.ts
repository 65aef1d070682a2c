import { createInterface } from 'node:readline/promises';
import type { Command } from 'commander';
import {
  createServiceTokenResponse,
  listServiceTokensResponse,
  revokeServiceTokenResponse,
  type ServiceTokenInfo,
} from '../../api/wire-tokens.js';
import { CancelledError, UsageError } from '../../errors.js';
import type { CliContext } from '../context.js';
import { canPrompt } from '../io.js';
import { printJson, printTable, say } from '../output.js';
import { parseDurationFlag } from '../parse.js';

export function registerToken(program: Command, ctx: CliContext): void {
  const token = program
    .command('token')
    .summary('manage service tokens (admins)')
    .description(
      'Service tokens are for what cannot log in with OIDC: a cron box, a script outside CI.\n' +
        'Use one as GATE_TOKEN=gst_…; it acts as `service:<name>` with the groups it was given.\n' +
        'The secret is shown once, when created; the server keeps only its hash.\n\n' +
        'Examples:\n' +
        '  $ gate token create --name nightly-report --groups reporting --ttl 30d\n' +
        '  $ gate token ls\n' +
        '  $ gate token revoke 3f9c0a1b2c3d4e5f --yes',
    );

  token
    .command('create')
    .summary('create a service token and print it once')
    .description(
      'Create a service token. The token is printed once on stdout; store it in your secret manager.\n\n' +
        'Examples:\n  $ gate token create --name backup --groups dba-oncall --ttl 7d\n  $ gate token create --name backup --groups a,b --ttl 30d --json',
    )
    .requiredOption('--name <name>', 'a name for what uses it (its identity is service:<name>)')
    .requiredOption('--groups <groups>', 'comma-separated groups it belongs to')
    .option('--ttl <duration>', 'lifetime, e.g. 30d, 12h', '30d')
    .option('--server <url>', 'gate server URL')
    .option('--json', 'print JSON (includes the token)')
    .action(async (opts: { name: string; groups: string; ttl: string; server?: string; json?: boolean }) => {
      parseDurationFlag(opts.ttl, '--ttl');
      const groups = opts.groups
        .split(',')
        .map((g) => g.trim())
        .filter(Boolean);
      if (groups.length === 0) throw new UsageError('--groups needs at least one group.');
      const server = await ctx.server(opts.server);
      const res = await ctx
        .client(server)
        .call('POST', '/v1/tokens', createServiceTokenResponse, { body: { name: opts.name, groups, ttl: opts.ttl }, signal: ctx.signal });
      if (opts.json) {
        printJson(ctx.io, res);
        return;
      }
      ctx.io.stdout.write(`${res.token}\n`);
      say(ctx.io, `${ctx.style.green('✓')} Created service token ${res.service_token.id} (${res.service_token.name}), valid until ${res.service_token.expires_at}.`);
      say(ctx.io, 'This is the only time the token is shown. Use it as GATE_TOKEN.');
    });

  token
    .command('ls')
    .alias('list')
    .summary('list service tokens (never their secrets)')
    .option('--server <url>', 'gate server URL')
    .option('--json', 'print JSON')
    .action(async (opts: { server?: string; json?: boolean }) => {
      const server = await ctx.server(opts.server);
      const { tokens } = await ctx.client(server).call('GET', '/v1/tokens', listServiceTokensResponse, { signal: ctx.signal });
      if (opts.json) {
        printJson(ctx.io, tokens);
        return;
      }
      printTable(
        ctx.io,
        ['id', 'name', 'groups', 'state', 'created', 'expires', 'last used', 'creator'],
        tokens.map((t: ServiceTokenInfo) => [
          t.id,
          t.name,
          t.groups.join(','),
          t.state,
          t.created_at,
          t.expires_at,
          t.last_used_at ?? '-',
          t.creator,
        ]),
      );
    });

  token
    .command('revoke')
    .summary('revoke a service token')
    .description(
      'Revoke a service token: every request with it fails from now on. Asks first on a terminal;\n' +
        'elsewhere (CI, pipes, --no-input) pass --yes.\n\n' +
        'Examples:\n  $ gate token revoke 3f9c0a1b2c3d4e5f\n  $ gate token revoke 3f9c0a1b2c3d4e5f --yes',
    )
    .argument('<id>', 'token id (from `gate token ls`)')
    .option('-y, --yes', 'do not ask for confirmation')
    .option('--server <url>', 'gate server URL')
    .option('--json', 'print JSON')
    .action(async (id: string, opts: { yes?: boolean; server?: string; json?: boolean }) => {
      if (!opts.yes) {
        if (!canPrompt(ctx.io, ctx.env, ctx.noInput)) {
          throw new UsageError(`Refusing to revoke service token ${id} without confirmation: pass --yes.`, {
            hint: 'Prompts are off here (no terminal, CI, GATE_PROMPT_DISABLED or --no-input).',
          });
        }
        if (!(await confirm(ctx, `Revoke service token ${id}? [y/N] `))) throw new CancelledError('Not revoked.');
      }
      const server = await ctx.server(opts.server);
      const res = await ctx
        .client(server)
        .call('DELETE', `/v1/tokens/${encodeURIComponent(id)}`, revokeServiceTokenResponse, { signal: ctx.signal });
      if (opts.json) printJson(ctx.io, res.service_token);
      else say(ctx.io, `${ctx.style.green('✓')} Revoked service token ${id} (${res.service_token.name}).`);
    });
}

/** Asks a yes/no question on the terminal (stderr), defaulting to no. */
async function confirm(ctx: CliContext, question: string): Promise<boolean> {
  const rl = createInterface({ input: ctx.io.stdin, output: ctx.io.stderr, terminal: false });
  try {
    const answer = await rl.question(question, { signal: ctx.signal });
    return /^y(es)?$/i.test(answer.trim());
  } finally {
    rl.close();
  }
}
