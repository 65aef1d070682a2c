import type { Command } from 'commander';
import { UsageError } from '../../errors.js';
import type { CliContext } from '../context.js';
import { TOPICS } from '../topics/index.js';

/** The topics paragraph at the end of `gate --help` and `gate help`. */
export function topicsHelpText(): string {
  const width = Math.max(...Object.keys(TOPICS).map((n) => n.length));
  return `\nHelp topics (gate help TOPIC):\n${Object.entries(TOPICS)
    .map(([name, t]) => `  ${name.padEnd(width)}  ${t.summary}`)
    .join('\n')}\n`;
}

export function registerHelp(program: Command, ctx: CliContext): void {
  program.addHelpText('after', topicsHelpText);
  program
    .command('help [topic...]')
    .summary('show help for a command or a topic')
    .description(
      `Show help for a command (\`gate help login\`) or a topic:\n${Object.entries(TOPICS)
        .map(([name, t]) => `  ${name.padEnd(14)}${t.summary}`)
        .join('\n')}`,
    )
    .action((topic: string[]) => {
      if (topic.length === 0) {
        program.outputHelp();
        return;
      }
      const page = TOPICS[topic.join(' ')];
      if (page) {
        ctx.io.stdout.write(`${page.text()}\n`);
        return;
      }
      let cmd: Command | undefined = program;
      for (const word of topic) cmd = cmd?.commands.find((c) => c.name() === word || c.aliases().includes(word));
      if (!cmd) {
        throw new UsageError(`No help for ${JSON.stringify(topic.join(' '))}.`, {
          // Hidden commands (`__complete`, for the shell completions) are nobody's help topic.
          hint: `Commands: ${program
            .createHelp()
            .visibleCommands(program)
            .map((c) => c.name())
            .join(', ')}. Topics: ${Object.keys(TOPICS).join(', ')}.`,
        });
      }
      cmd.outputHelp();
    });
}
