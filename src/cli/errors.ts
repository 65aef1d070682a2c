import { CommanderError } from 'commander';
import { networkError } from '../api/client.js';
import { ExitCode, GateError, isGateError, UsageError } from '../errors.js';
import { redact, redactDeep } from '../server/log.js';
import type { CliContext } from './context.js';
import { emitEvent } from './output.js';

/**
 * The one place errors become output and an exit code. Expected failures are
 * a paragraph (message, then the hint); anything else is a bug: one line, and
 * the stack with GATE_DEBUG=1.
 */
export function reportError(err: unknown, ctx: CliContext, json: boolean): number {
  if (err instanceof CommanderError) {
    if (err.exitCode === 0 || err.code === 'commander.helpDisplayed' || err.code === 'commander.version') return ExitCode.ok;
    // Commander has already printed its message to stderr.
    if (json) emitEvent(ctx.io, 'error', { error: { code: 'GATE_ERR_USAGE', message: err.message.replace(/^error: /, '') }, exit_code: 1 });
    return ExitCode.failure;
  }
  const gateErr = toGateError(err);
  const { io, style } = ctx;
  if (gateErr) {
    const hint = hintFor(gateErr, ctx);
    io.stderr.write(`${style.red('error:')} ${redact(gateErr.message)}\n`);
    if (hint) io.stderr.write(`${style.dim(redact(hint))}\n`);
    if (ctx.env.debug && gateErr.cause) io.stderr.write(`${redact(String((gateErr.cause as Error)?.stack ?? gateErr.cause))}\n`);
    if (json) {
      emitEvent(io, 'error', {
        // Details come from the server's answer (or a proxy's): scrub them like the message.
        // The server's details (its own `code` among them) come first: gate's code, message and hint are what scripts match on.
        error: { ...(redactDeep(gateErr.details ?? {}) as object), code: gateErr.code, message: redact(gateErr.message), hint: hint && redact(hint) },
        exit_code: gateErr.exitCode,
      });
    }
    return gateErr.exitCode;
  }
  const e = err as Error;
  io.stderr.write(`${style.red('error:')} unexpected failure: ${redact(e?.message ?? String(err))}\n`);
  if (ctx.env.debug) io.stderr.write(`${redact(String(e?.stack ?? err))}\n`);
  else io.stderr.write(`${style.dim('This is a bug in gate. Run again with GATE_DEBUG=1 for details, and report it.')}\n`);
  if (json) emitEvent(io, 'error', { error: { code: 'GATE_ERR_INTERNAL', message: redact(e?.message ?? String(err)) }, exit_code: 1 });
  return ExitCode.failure;
}

/**
 * "Run `gate login`" cannot help while GATE_TOKEN is set: it overrides what
 * login stores. Then the way out is a new token, or unsetting the variable.
 */
export const TOKEN_ENV_HINT =
  'GATE_TOKEN is set, and the server does not accept it (expired, or not a gate token): replace it with a fresh one, or unset it (`unset GATE_TOKEN`) to use what `gate login` stores.';

function hintFor(err: GateError, ctx: CliContext): string | undefined {
  if (ctx.env.token && (err.code === 'GATE_ERR_AUTH_REQUIRED' || err.code === 'GATE_ERR_AUTH_FAILED')) return TOKEN_ENV_HINT;
  return err.hint;
}

function toGateError(err: unknown): GateError | undefined {
  if (isGateError(err)) return err;
  const e = err as { code?: string; name?: string };
  if (e?.name === 'AbortError') return new GateError('GATE_ERR_CANCELLED', 'Cancelled.');
  if (e?.code === 'ERR_USE_AFTER_CLOSE') return undefined;
  // ink raises this when it cannot put the terminal in raw mode.
  if (/Raw mode is not supported/i.test(String((err as Error)?.message))) {
    return new UsageError('This terminal does not support interactive mode.', { hint: 'Pass --json or --no-input to run without prompts.' });
  }
  if (typeof e?.code === 'string' && /^(E[A-Z]+|UND_ERR_)/.test(e.code)) return networkError(err, 'the server');
  return undefined;
}
