/**
 * `--json` error events: scripts match on `error.code`, gate's stable
 * `GATE_ERR_…` code. A server's answer carries its own `code` in the details;
 * it is kept among the details, never in place of gate's.
 */
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { reportError } from '../../src/cli/errors.js';
import { style } from '../../src/cli/io.js';
import { GateError } from '../../src/errors.js';

function capture() {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  stdout.on('data', (c) => (out += c));
  stderr.resume();
  const ctx = { io: { stdin: new PassThrough(), stdout, stderr }, style: style(false), env: {} } as unknown as Parameters<typeof reportError>[1];
  return { ctx, out: () => out };
}

describe('--json error events', () => {
  it("keep gate's error code when the server's details carry a code of their own", () => {
    const { ctx, out } = capture();
    const err = new GateError('GATE_ERR_ACCESS_DENIED', 'No policy lets you request this.', { details: { code: 'forbidden', status: 403, policy: 'eng' } });
    const exit = reportError(err, ctx, true);
    const event = JSON.parse(out().trim()) as { event: string; error: Record<string, unknown> };
    expect(event.event).toBe('error');
    expect(event.error).toMatchObject({ code: 'GATE_ERR_ACCESS_DENIED', message: 'No policy lets you request this.', status: 403, policy: 'eng' });
    expect(exit).toBe(err.exitCode);
  });
});
