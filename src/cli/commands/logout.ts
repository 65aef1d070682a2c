import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import { printJson, say } from '../output.js';

export function registerLogout(program: Command, ctx: CliContext): void {
  program
    .command('logout')
    .summary('forget the stored credentials for a server')
    .description('Remove the credentials `gate login` stored for the server.\n\nExamples:\n  $ gate logout')
    .option('--server <url>', 'gate server URL')
    .option('--json', 'print JSON')
    .action(async (opts: { server?: string; json?: boolean }) => {
      const server = await ctx.server(opts.server);
      const removed = await (await ctx.credentials()).delete(server);
      if (opts.json) printJson(ctx.io, { server, logged_out: removed });
      else say(ctx.io, removed ? `${ctx.style.green('✓')} Logged out of ${server}` : `Not logged in to ${server}; nothing to do.`);
    });
}
