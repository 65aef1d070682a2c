import type { Command } from 'commander';
import { VERSION } from '../../version.js';
import type { CliContext } from '../context.js';
import { printJson } from '../output.js';

export function registerVersion(program: Command, ctx: CliContext): void {
  program
    .command('version')
    .summary('print the gate version')
    .option('--json', 'print JSON')
    .action((opts: { json?: boolean }) => {
      if (opts.json) printJson(ctx.io, { version: VERSION, node: process.versions.node, platform: `${process.platform}-${process.arch}` });
      else ctx.io.stdout.write(`gate ${VERSION}\n`);
    });
}
