import type { Command } from 'commander';
import { type MeResponse, meResponse } from '../../api/wire.js';
import type { CliContext } from '../context.js';
import { printJson } from '../output.js';

export function registerWhoami(program: Command, ctx: CliContext): void {
  program
    .command('whoami')
    .summary('show who you are signed in as')
    .description(
      'Show the identity the gate server sees: subject, e-mail, groups and when the token expires.\n\n' +
        'Examples:\n  $ gate whoami\n  $ gate whoami --json | jq -r .email',
    )
    .option('--server <url>', 'gate server URL')
    .option('--json', 'print JSON')
    .action(async (opts: { server?: string; json?: boolean }) => {
      const me = await whoami(ctx, opts.server);
      if (opts.json) printJson(ctx.io, me);
      else printIdentity(ctx, me);
    });
}

export async function whoami(ctx: CliContext, serverFlag?: string): Promise<MeResponse & { subject: string; server: string }> {
  const server = await ctx.server(serverFlag);
  const me = await ctx.client(server).call('GET', '/v1/me', meResponse, { signal: ctx.signal });
  // `subject` spells out `sub` for readers of the JSON who do not speak JWT.
  return { ...me, subject: me.sub, server };
}

function printIdentity(ctx: CliContext, me: MeResponse & { server: string }): void {
  const out = (k: string, v: string) => ctx.io.stdout.write(`${k.padEnd(9)}${v}\n`);
  out('user', me.sub);
  if (me.email) out('email', me.email);
  out('groups', me.groups.join(', ') || '(none)');
  out('kind', me.kind + (me.admin ? ' (admin)' : ''));
  out('server', me.server);
  if (me.expires_at) out('expires', me.expires_at);
}
