/**
 * Runs the CLI in-process (`main(argv, { env, io })`) with captured stdout and
 * stderr and an optional stdin text; `tty: true` makes both ends look like a
 * terminal (for prompts).
 */
import { tmpdir } from 'node:os';
import { PassThrough } from 'node:stream';
import { main } from '../../src/cli/main.js';

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

export async function runCliWith(
  args: string[],
  options: { env?: Record<string, string | undefined>; input?: string; tty?: boolean } = {},
): Promise<CliRun> {
  const stdout = Object.assign(new PassThrough(), { isTTY: options.tty ?? false });
  const stderr = Object.assign(new PassThrough(), { isTTY: false });
  const stdin = Object.assign(new PassThrough(), { isTTY: options.tty ?? false });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  stdout.on('data', (c: Buffer) => out.push(c));
  stderr.on('data', (c: Buffer) => err.push(c));
  if (options.input !== undefined) stdin.end(options.input);
  const env = { NO_COLOR: '1', GATE_CREDENTIAL_STORE: 'file', HOME: tmpdir(), ...options.env };
  for (const [k, v] of Object.entries(env)) if (v === undefined) delete (env as Record<string, unknown>)[k];
  const code = await main(args, { env, io: { stdin, stdout, stderr } });
  return { code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') };
}
