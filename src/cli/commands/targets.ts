import type { Command } from 'commander';
import { targetsResponse } from '../../api/wire-grants.js';
import type { CliContext } from '../context.js';
import { printHttpRules } from '../http-rules.js';
import { printJson, printTable } from '../output.js';

export function registerTargets(program: Command, ctx: CliContext): void {
  program
    .command('targets')
    .summary('list the targets and roles you may request')
    .description(
      'List what policy lets you request: each target, its type and description, and per role whether\n' +
        'approval is needed (and by whom) and the longest duration. HTTP targets also list their\n' +
        'rules (denied and approval-held methods and paths) and masked response fields.\n\n' +
        'Examples:\n  $ gate targets\n  $ gate targets --json | jq -r \'.targets[].name\'',
    )
    .option('--server <url>', 'gate server URL')
    .option('--json', 'print JSON')
    .action(async (opts: { server?: string; json?: boolean }) => {
      const server = await ctx.server(opts.server);
      const result = await ctx.client(server).call('GET', '/v1/targets', targetsResponse, { signal: ctx.signal });
      if (opts.json) {
        printJson(ctx.io, result);
        return;
      }
      const rows = result.targets.flatMap((t) =>
        t.roles.map((r) => [
          t.name,
          t.type,
          r.role,
          r.approval_required ? `${r.min_approvals} of ${r.approvers.join(', ')}` : 'auto',
          r.max_duration,
          t.description ?? '',
        ]),
      );
      if (rows.length === 0) ctx.io.stderr.write('No policy lets you request any target.\n');
      else printTable(ctx.io, ['target', 'type', 'role', 'approval', 'max', 'description'], rows);
      printHttpRules(ctx, result.targets);
    });
}
