import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type Command, Argument } from 'commander';
import { UsageError } from '../../errors.js';
import { completionScript } from '../completion.js';
import { installCompletion, SHELLS, type Shell, shellToInstall } from '../completion-install.js';
import type { CliContext } from '../context.js';


export function registerCompletion(program: Command, ctx: CliContext): void {
  program
    .command('completion')
    .summary('print a shell completion script')
    .description(
      'Print the completion script for bash, zsh or fish, or install it where your shell loads it (--install).\n\n' +
        'Examples:\n  $ gate completion --install            # for your login shell ($SHELL)\n' +
        '  $ gate completion fish --install\n' +
        '  $ gate completion bash > /etc/bash_completion.d/gate\n' +
        // biome-ignore lint/suspicious/noTemplateCurlyInString: a zsh expression shown to the user, not a template.
        '  $ gate completion zsh > "${fpath[1]}/_gate"\n  $ gate completion fish > ~/.config/fish/completions/gate.fish',
    )
    .addArgument(new Argument('[shell]', 'bash, zsh or fish').choices(SHELLS))
    .option('--install', 'write the script where the shell loads it (bash-completion, fish) or say how (zsh)')
    .option('--write <dir>', 'write all three scripts into a directory (used by the build)')
    .action(async (named: Shell | undefined, opts: { write?: string; install?: boolean }) => {
      if (opts.write) {
        await mkdir(opts.write, { recursive: true });
        const names = { bash: 'gate.bash', zsh: '_gate', fish: 'gate.fish' };
        for (const s of SHELLS) await writeFile(join(opts.write, names[s]), completionScript(s, program));
        return;
      }
      if (opts.install) {
        const shell = shellToInstall(named, ctx.env);
        const { path, next } = await installCompletion(shell, completionScript(shell, program), ctx.env);
        ctx.io.stdout.write(`${path}\n`);
        ctx.io.stderr.write(`✓ Installed ${shell} completion for gate${next ? `; ${next}` : ''}\n`);
        return;
      }
      if (!named) throw new UsageError('Name a shell: gate completion bash|zsh|fish (or pass --install for your login shell).');
      ctx.io.stdout.write(completionScript(named, program));
    });
}
