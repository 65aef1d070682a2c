import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type Command, Argument } from 'commander';
import { UsageError } from '../../errors.js';
import { completionScript } from '../completion.js';
import type { CliContext } from '../context.js';

const SHELLS = ['bash', 'zsh', 'fish'] as const;

export function registerCompletion(program: Command, ctx: CliContext): void {
  program
    .command('completion')
    .summary('print a shell completion script')
    .description(
      'Print the completion script for bash, zsh or fish.\n\n' +
        'Examples:\n  $ gate completion bash > /etc/bash_completion.d/gate\n' +
        // biome-ignore lint/suspicious/noTemplateCurlyInString: a zsh expression shown to the user, not a template.
        '  $ gate completion zsh > "${fpath[1]}/_gate"\n  $ gate completion fish > ~/.config/fish/completions/gate.fish',
    )
    .addArgument(new Argument('[shell]', 'bash, zsh or fish').choices(SHELLS))
    .option('--write <dir>', 'write all three scripts into a directory (used by the build)')
    .action(async (shell: (typeof SHELLS)[number] | undefined, opts: { write?: string }) => {
      if (opts.write) {
        await mkdir(opts.write, { recursive: true });
        const names = { bash: 'gate.bash', zsh: '_gate', fish: 'gate.fish' };
        for (const s of SHELLS) await writeFile(join(opts.write, names[s]), completionScript(s, program));
        return;
      }
      if (!shell) throw new UsageError('Name a shell: gate completion bash|zsh|fish.');
      ctx.io.stdout.write(completionScript(shell, program));
    });
}
