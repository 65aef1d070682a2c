import { Command, Option } from 'commander';
import type { Env } from '../env.js';
import { VERSION } from '../version.js';
import { COMMANDS } from './commands/index.js';
import { type CliContext, createContext } from './context.js';
import { reportError } from './errors.js';
import type { IO } from './io.js';

/** Builds the commander program; exported for the completion generator and tests. */
export function buildProgram(ctx: CliContext): Command {
  const program = new Command('gate')
    .description('Just-in-time, recorded access to production databases and Kubernetes clusters.')
    .version(VERSION, '-V, --version', 'print the gate version')
    .addOption(new Option('--debug', 'print debug output and stack traces').hideHelp())
    .option('--no-input', 'never prompt; fail with a usage error naming the flag to pass instead')
    .option('--insecure', 'allow an http:// server URL for a host that is not loopback (tokens cross the network unencrypted)')
    .exitOverride()
    .showSuggestionAfterError(true)
    .helpCommand(false)
    .configureOutput({
      writeOut: (s) => ctx.io.stdout.write(s),
      writeErr: (s) => ctx.io.stderr.write(s),
      outputError: (s, write) => write(ctx.style.red(s)),
    });
  for (const register of COMMANDS) register(program, ctx);
  for (const cmd of program.commands) {
    cmd.exitOverride();
    reflowDescriptions(cmd);
  }
  return program;
}

/**
 * Help texts are written with line breaks for the source's sake; commander
 * wraps them again to the terminal. Prose paragraphs are joined so they wrap
 * once, cleanly; indented lines (examples, tables) stay as written.
 */
function reflowDescriptions(cmd: Command): void {
  const text = cmd.description();
  const reflowed = text
    .split('\n\n')
    .map((para) => (/^\s|\n\s/.test(para) || para.startsWith('Examples:') ? para : para.replace(/\n/g, ' ')))
    .join('\n\n');
  if (reflowed !== text) cmd.description(reflowed);
  for (const sub of cmd.commands) reflowDescriptions(sub);
}

/** Runs gate with the given arguments and returns the process exit code. Never calls process.exit. */
export async function main(argv: string[], options: { env?: Env; io?: IO } = {}): Promise<number> {
  const controller = new AbortController();
  const ctx = createContext({ env: options.env, io: options.io, signal: controller.signal });
  const onSignal = (sig: NodeJS.Signals) => {
    if (controller.signal.aborted) return;
    if (sig === 'SIGINT' && ctx.interruptsDeferred) return;
    controller.abort(new Error(`received ${sig}`));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('SIGHUP', onSignal);
  const stdout = watchStdout(ctx.io, () => controller.abort(new Error('stdout closed')));
  const json = argv.includes('--json');
  // Global: honoured wherever it appears, before commander has parsed anything.
  ctx.noInput = argv.includes('--no-input');
  ctx.insecure = argv.includes('--insecure');
  try {
    const program = buildProgram(ctx);
    await program.parseAsync(argv, { from: 'user' });
    return ctx.exitCode ?? 0;
  } catch (err) {
    // The reader went away (`gate audit | head -1`): what it wanted, it got.
    if (stdout.closed) return ctx.exitCode ?? 0;
    return reportError(err, ctx, json);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.off('SIGHUP', onSignal);
  }
}

/**
 * A reader that quits early (`| head`, a pager) makes stdout fail with EPIPE.
 * That is not an error of gate's: stop the command (via `onClosed`, which
 * aborts its signal) and exit quietly. The listener stays for the rest of the
 * process, since a buffered write can fail after main has returned.
 */
function watchStdout(io: IO, onClosed: () => void): { readonly closed: boolean } {
  const state = { closed: false };
  io.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE' || err.code === 'ERR_STREAM_DESTROYED' || err.code === 'ERR_STREAM_WRITE_AFTER_END') {
      state.closed = true;
      onClosed();
      return;
    }
    io.stderr.write(`error: cannot write to stdout: ${err.message}\n`);
  });
  return state;
}
