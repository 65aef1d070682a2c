/**
 * The small promises of issue 14 that need no server: tables that fit the
 * terminal, relative times, durations in the user's unit, a quiet exit when
 * the reader of stdout goes away, help that lists its topics, runnable
 * printed commands, capped audit statements.
 */
import { PassThrough, Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { formatDuration, parseDuration } from '../../src/config/duration.js';
import { gateCommand } from '../../src/cli/invocation.js';
import { main } from '../../src/cli/main.js';
import { printTable, relativeTime } from '../../src/cli/output.js';
import { capStatement } from '../../src/server/audit/statement-cap.js';
import { runCliWith } from '../helpers/cli-run.js';

function tty(columns: number) {
  let text = '';
  const stdout = Object.assign(new PassThrough(), { isTTY: true, columns });
  stdout.on('data', (c: Buffer) => (text += c));
  return { io: { stdin: new PassThrough(), stdout, stderr: new PassThrough() }, text: () => text };
}

describe('tables on a terminal', () => {
  it('fit its width, cutting the longest cells with …', () => {
    const t = tty(60);
    printTable(t.io, ['id', 'action', 'what'], [['ev_1', 'pg.query', `select ${'x, '.repeat(80)}1`]]);
    const lines = t.text().trimEnd().split('\n');
    for (const line of lines) expect(line.length).toBeLessThanOrEqual(60);
    expect(lines[1]).toMatch(/^ev_1 {2}pg\.query {2}select x, x, .*…$/);
  });
});

describe('relative times', () => {
  const now = new Date('2026-12-02T12:00:00Z');
  it('read "in 42m" and "3h ago"', () => {
    expect(relativeTime('2026-12-02T12:42:00Z', now)).toBe('in 42m');
    expect(relativeTime('2026-12-02T09:00:00Z', now)).toBe('3h ago');
    expect(relativeTime('2026-11-29T12:00:00Z', now)).toBe('3d ago');
  });
});

describe('durations', () => {
  it('parse compound and decimal forms, and refuse a bare number', () => {
    expect(parseDuration('1h30m')).toBe(5_400_000);
    expect(parseDuration('1.5h')).toBe(5_400_000);
    expect(parseDuration('90m')).toBe(5_400_000);
    expect(() => parseDuration('30')).toThrow();
  });
  it('format in the unit the user gave', () => {
    expect(formatDuration(8 * 3600, '10h')).toBe('8h');
    expect(formatDuration(3600, '90m')).toBe('60m');
    expect(formatDuration(3600, '1h30m')).toBe('1h');
    expect(formatDuration(5400, '2h')).toBe('1.5h');
    expect(formatDuration(5400)).toBe('1h30m');
  });
});

describe('stdout closed by its reader (gate … | head -1)', () => {
  it('is a quiet exit 0: no stack, no "bug in gate"', async () => {
    const stdout = Object.assign(
      new Writable({
        write(_chunk, _enc, cb) {
          cb(Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }));
        },
      }),
      { isTTY: false },
    );
    let err = '';
    const stderr = Object.assign(new PassThrough(), { isTTY: false });
    stderr.on('data', (c: Buffer) => (err += c));
    const code = await main(['help', 'environment'], { env: { NO_COLOR: '1' }, io: { stdin: new PassThrough(), stdout, stderr } });
    await new Promise((r) => setImmediate(r));
    expect(code).toBe(0);
    expect(err).toBe('');
  });
});

describe('help', () => {
  it('gate --help lists the help topics', async () => {
    const r = await runCliWith(['--help']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Help topics (gate help TOPIC):');
    expect(r.stdout).toMatch(/exit-codes\s+what each exit code means/);
  });
  it('gate help nosuch does not offer the hidden __complete', async () => {
    const r = await runCliWith(['help', 'nosuch']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('Commands: login');
    expect(r.stderr).not.toContain('__complete');
  });
  it('exit-codes says Ctrl-C is 2, never 0', async () => {
    expect((await runCliWith(['help', 'exit-codes'])).stdout).toContain('2  cancelled (Ctrl-C is never 0)');
  });
});

describe('printed commands', () => {
  it('are `node bin/gate.js …` from a checkout and `gate …` once on PATH', () => {
    expect(gateCommand('/src/gate/bin/gate.js', '/src/gate')).toBe('node bin/gate.js');
    expect(gateCommand('/src/gate/bin/gate.js', '/tmp/elsewhere')).toBe('node /src/gate/bin/gate.js');
    expect(gateCommand('/usr/local/bin/gate', '/src/gate')).toBe('gate');
  });
});

describe('audit statements', () => {
  it('are kept up to the cap, with the full length and SHA-256', () => {
    const statement = `select '${'é'.repeat(100_000)}'`;
    const capped = capStatement({ statement, protocol: 'simple' }, 64 * 1024)!;
    expect(Buffer.byteLength(capped.statement as string)).toBeLessThanOrEqual(64 * 1024);
    expect(capped).toMatchObject({ protocol: 'simple', statement_truncated: true, statement_bytes: Buffer.byteLength(statement) });
    expect(capped.statement_sha256).toMatch(/^[0-9a-f]{64}$/);
    expect((capped.statement as string).includes('\ufffd')).toBe(false);
    expect(capStatement({ statement: 'select 1' })).toEqual({ statement: 'select 1' });
  });
});
