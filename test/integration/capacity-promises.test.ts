/**
 * The promises capacity work must keep, through the real data path (the
 * built CLI's `gate connect` and `gate exec`, the HTTP Upgrade tunnel, the
 * gateway, an embedded PostgreSQL): every statement audited, in order,
 * however it is batched or spread over connections; a slow client slows the
 * server down instead of making gate buffer the whole result; and a recording
 * holds exactly the bytes the tool wrote.
 */
import { createHash } from 'node:crypto';
import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { castOutput, readCast } from '../../src/record/asciicast.js';
import { createRecordingStore } from '../../src/server/recordings.js';
import { gateEnv, runGate, type RunningGate, startGate } from '../helpers/gate-bin.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { extendedStatement, queryMessage, syncMessage, wireConnect } from '../helpers/pg-wire.js';
import { type Stack, startStack } from '../helpers/stack.js';

const PASSWORD = `capacity-pw-${Math.random().toString(36).slice(2)}`;

let db: TestPostgres;
let stack: Stack;
let connect: RunningGate;
let port: number;
let token: string;
const configDirs: string[] = [];

async function waitFor<T>(check: () => Promise<T | undefined> | T | undefined, what: string): Promise<T> {
  for (let i = 0; i < 600; i++) {
    const v = await check();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** The statements of every pg.query audit event whose text contains `marker`, oldest first. */
async function auditedStatements(marker: string): Promise<string[]> {
  const rows = await stack.server.ctx.audit.list({ actions: ['pg.query'], fromStart: true, limit: 100_000 });
  return rows.map((r) => String((JSON.parse(r.details) as { statement?: string }).statement ?? '')).filter((s) => s.includes(marker));
}

/** Waits until `want` events carry `marker` (audit appends are asynchronous), then a little longer for any extra. */
async function auditedExactly(marker: string, want: number): Promise<string[]> {
  await waitFor(async () => ((await auditedStatements(marker)).length >= want ? true : undefined), `${want} audit events for ${marker}`);
  // Any duplicate would have been queued with the others: flushing the log makes it visible now.
  await stack.server.ctx.audit.flush();
  return auditedStatements(marker);
}

function pgClient(): pg.Client {
  const c = new pg.Client({ host: '127.0.0.1', port, user: 'app_rw', database: 'postgres' });
  c.on('error', () => {});
  return c;
}

beforeAll(async () => {
  db = await startPostgres();
  await db.query(`create role app_rw login password '${PASSWORD}'`);
  // The in-process server resolves `env:` secrets from this process's environment.
  process.env.GATE_CAPACITY_TEST_PW = PASSWORD;
  stack = await startStack({
    configYaml: `
targets:
  db:
    type: postgres
    # The recording test pipes the tool's stdout: record it, not just its hash.
    record_output: full
    address: 127.0.0.1:${db.port}
    database: postgres
    roles:
      rw: { username: app_rw, password: env:GATE_CAPACITY_TEST_PW }
policies:
  - { name: eng, groups: [engineering], targets: [db], roles: [rw], max_duration: 1h, approval: auto }
`,
  });
  token = await stack.loginAs('alice');
  const env = await gateEnv({ GATE_TOKEN: token, GATE_SERVER: stack.url });
  configDirs.push(env.GATE_CONFIG_DIR!);
  connect = startGate(['connect', 'db', '--json'], { env });
  port = Number(JSON.parse(await connect.waitFor(/"event":"ready"/, 'stdout')).port);
}, 120_000);

afterAll(async () => {
  await connect?.stop('SIGINT');
  await stack?.close();
  await db?.stop();
  for (const d of configDirs) await rm(d, { recursive: true, force: true });
  delete process.env.GATE_CAPACITY_TEST_PW;
});

describe('every statement is audited, however it is sent', () => {
  it('40 simple Query messages written at once make 40 pg.query events with the right texts, in order', async () => {
    const n = 40;
    const texts = Array.from({ length: n }, (_, i) => `select 'simple-${i}' as v`);
    const c = await wireConnect(port, { user: 'app_rw', database: 'postgres' });
    try {
      const got: string[] = [];
      const all = new Promise<void>((resolve) =>
        c.stream((m) => {
          got.push(m.type);
          if (got.filter((t) => t === 'Z').length === n) resolve();
        }),
      );
      // Pipelined: every Query is on the wire before the first answer is read.
      c.socket.write(Buffer.concat(texts.map(queryMessage)));
      await all;
      expect(got.filter((t) => t === 'C')).toHaveLength(n);
      expect(got).not.toContain('E');
    } finally {
      await c.close();
    }
    expect(await auditedExactly("'simple-", n)).toEqual(texts);
  });

  it('60 statements that differ only in integer constants (pgbench-style) make 60 events, each with its own text and hash', async () => {
    // These share one analysis in the gateway (its shape cache): the audit must still hold each text as sent.
    const n = 60;
    const texts = Array.from({ length: n }, (_, i) => `select ${i * 7919 + 3} as shape_probe, ${i} + 1 as k`);
    const c = await wireConnect(port, { user: 'app_rw', database: 'postgres' });
    try {
      const ready: string[] = [];
      const all = new Promise<void>((resolve) =>
        c.stream((m) => {
          ready.push(m.type);
          if (ready.filter((t) => t === 'Z').length === n) resolve();
        }),
      );
      c.socket.write(Buffer.concat(texts.map(queryMessage)));
      await all;
      expect(ready).not.toContain('E');
    } finally {
      await c.close();
    }
    expect(await auditedExactly('shape_probe', n)).toEqual(texts);
    const rows = await stack.server.ctx.audit.list({ actions: ['pg.query'], fromStart: true, limit: 100_000 });
    const details = rows.map((r) => JSON.parse(r.details) as Record<string, unknown>).filter((d) => String(d.statement).includes('shape_probe'));
    for (const d of details) {
      expect(d.statement_sha256).toBe(createHash('sha256').update(String(d.statement), 'utf8').digest('hex'));
      expect(d).toMatchObject({ command: 'SELECT', protocol: 'simple', rows: 1 });
    }
    expect(new Set(details.map((d) => d.fingerprint)).size).toBe(1);
  });

  it('one simple Query holding 40 statements runs them all and is one pg.query event listing all 40', async () => {
    const n = 40;
    const sql = Array.from({ length: n }, (_, i) => `select 'multi-${i}' as v`).join('; ');
    const c = await wireConnect(port, { user: 'app_rw', database: 'postgres' });
    try {
      const ready = c.untilReady();
      c.socket.write(queryMessage(sql));
      const msgs = await ready;
      expect(msgs.filter((m) => m.type === 'C')).toHaveLength(n);
      expect(msgs.find((m) => m.type === 'E')).toBeUndefined();
    } finally {
      await c.close();
    }
    // docs/postgres.md: a simple query with several statements is one event (rows summed, last tag).
    expect(await auditedExactly("'multi-", 1)).toEqual([sql]);
    const rows = await stack.server.ctx.audit.list({ actions: ['pg.query'], fromStart: true, limit: 100_000 });
    const details = rows.map((r) => JSON.parse(r.details) as Record<string, unknown>).find((d) => d.statement === sql)!;
    expect(details).toMatchObject({ protocol: 'simple', rows: n, tag: 'SELECT 1' });
    expect((details.statements as { tag: string }[]).map((st) => st.tag)).toEqual(Array(n).fill('SELECT'));
  });

  it('200 Parse/Bind/Execute sent before one Sync make 200 pg.query events with the right texts, in order', async () => {
    const n = 200;
    const texts = Array.from({ length: n }, (_, i) => `select 'piped-${i}'::text as v`);
    const c = await wireConnect(port, { user: 'app_rw', database: 'postgres' });
    try {
      const ready = c.untilReady();
      // One write: the gateway sees the whole batch at once, as a pipelining driver sends it.
      c.socket.write(Buffer.concat([...texts.map(extendedStatement), syncMessage()]));
      const msgs = await ready;
      expect(msgs.filter((m) => m.type === 'C')).toHaveLength(n);
      expect(msgs.find((m) => m.type === 'E')).toBeUndefined();
    } finally {
      await c.close();
    }
    expect(await auditedExactly("'piped-", n)).toEqual(texts);
  });

  it('6 concurrent pg connections with 50 queries each: 300 events, each connection in its own order', async () => {
    const conns = 6;
    const per = 50;
    const clients = Array.from({ length: conns }, pgClient);
    await Promise.all(clients.map((c) => c.connect()));
    try {
      // Each connection runs its queries back to back while the others do the same; extended
      // (with a parameter) and simple alternate so both paths are busy at once.
      const results = await Promise.all(
        clients.map(async (c, k) => {
          const seen: string[] = [];
          for (let i = 0; i < per; i++) {
            const r = i % 2 === 0 ? await c.query(`select 'conc-${k}-${i}' as v, $1::int as n`, [i]) : await c.query(`select 'conc-${k}-${i}' as v`);
            seen.push(r.rows[0].v);
          }
          return seen;
        }),
      );
      expect(results).toEqual(Array.from({ length: conns }, (_, k) => Array.from({ length: per }, (_, i) => `conc-${k}-${i}`)));
    } finally {
      await Promise.all(clients.map((c) => c.end()));
    }
    const statements = await auditedExactly("'conc-", conns * per);
    expect(statements).toHaveLength(conns * per);
    for (let k = 0; k < conns; k++) {
      const mine = statements.filter((s) => s.includes(`'conc-${k}-`)).map((s) => Number(new RegExp(`conc-${k}-(\\d+)`).exec(s)?.[1]));
      expect(mine, `connection ${k}`).toEqual(Array.from({ length: per }, (_, i) => i));
    }
  });
});

/** Resident set size of a process, in bytes, from /proc. */
async function rssOf(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
}

describe('back-pressure under a slow client', () => {
  it('a client that stops reading a 200 MB result stalls PostgreSQL, not gate; every row arrives once it reads', async () => {
    const rows = 200_000;
    const width = 1000;
    const c = await wireConnect(port, { user: 'app_rw', database: 'postgres', application_name: 'slow-reader' });
    const serverBefore = process.memoryUsage().rss;
    const cliBefore = await rssOf(connect.child.pid!);
    let dataRows = 0;
    let badRows = 0;
    let bytes = 0;
    const expected = Buffer.alloc(width, 'x');
    const done = new Promise<string[]>((resolve) => {
      const tail: string[] = [];
      c.stream((m) => {
        bytes += m.body.length + 5;
        if (m.type === 'D') {
          dataRows++;
          // One column: int16 count, int32 length, the value.
          if (m.body.readInt16BE(0) !== 1 || m.body.readInt32BE(2) !== width || !m.body.subarray(6).equals(expected)) badRows++;
        } else tail.push(m.type);
        if (m.type === 'Z') resolve(tail);
      });
    });
    c.socket.pause();
    c.socket.write(queryMessage(`select repeat('x', ${width}) from generate_series(1, ${rows})`));
    try {
      // PostgreSQL waits on its socket once every buffer between it and the paused client is full.
      await waitFor(async () => {
        const r = await db.query(
          `select 1 from pg_stat_activity where application_name = 'slow-reader' and state = 'active' and wait_event = 'ClientWrite'`,
        );
        return r.length > 0 ? true : undefined;
      }, 'PostgreSQL to block writing to the slow client');
      const serverGrowth = process.memoryUsage().rss - serverBefore;
      const cliGrowth = (await rssOf(connect.child.pid!)) - cliBefore;
      const result = rows * (width + 11);
      // Bounded buffers: far less than the result waits in gate (socket buffers, not the 200 MB).
      expect(serverGrowth, `server RSS grew by ${serverGrowth} bytes`).toBeLessThan(result / 4);
      expect(cliGrowth, `CLI RSS grew by ${cliGrowth} bytes`).toBeLessThan(result / 4);
      c.socket.resume();
      const tail = await done;
      expect(dataRows).toBe(rows);
      expect(badRows).toBe(0);
      expect(tail).toEqual(['T', 'C', 'Z']);
      expect(bytes).toBeGreaterThan(result);
    } finally {
      c.socket.resume();
      await c.close();
    }
  }, 120_000);
});

describe('recordings hold exactly what the tool wrote', () => {
  // printf's format: CRLF and a lone CR, UTF-8 (é, €), invalid bytes (ff fe; a cut-off e2 82),
  // ESC, TAB, quote, backslash, NUL and DEL.
  const format = 'plain\\r\\ncaf\\303\\251 \\342\\202\\254\\r\\nbad \\377\\376 byte\\r\\ncut \\342\\202X\\nesc \\033[1mbold\\033[0m\\ttab "q" \\\\ end\\nlone cr\\rover\\nnul\\000del\\177\\n';

  it('gate exec of a known output records it as the asciicast output events the format defines', async () => {
    const env = await gateEnv({ GATE_TOKEN: token, GATE_SERVER: stack.url });
    configDirs.push(env.GATE_CONFIG_DIR!);
    const run = await runGate(['exec', 'db', '--', 'sh', '-c', 'printf "$1"', 'sh', format], { env });
    expect(run.code, run.stderr).toBe(0);
    const dir = join(stack.dataDir, 'recordings');
    const [file] = (await readdir(dir)).filter((f) => f.endsWith('.cast'));
    expect(file).toBeDefined();
    const sessionId = file!.replace(/\.cast$/, '');
    const store = createRecordingStore(dir);
    expect((await store.verify(sessionId)).ok).toBe(true);
    const cast = (await store.read(sessionId)).toString('utf8');

    // The expected data is written by hand from asciicast v2 and UTF-8 decoding, not taken from gate.
    const expectedJson = (await readFile(join(import.meta.dirname, '../fixtures/recording-known-output.json'), 'utf8')).trim();
    const parsed = readCast(cast);
    expect(parsed.header.version).toBe(2);
    expect(parsed.truncated).toBe(false);
    expect(castOutput(cast)).toBe(JSON.parse(expectedJson));
    // Byte for byte: each output event's data is written in JSON.stringify's own escapes.
    const lines = cast.split('\n').slice(1).filter((l) => l.length > 0);
    const outputLines = lines.filter((l) => (JSON.parse(l) as unknown[])[1] === 'o');
    expect(outputLines.length).toBeGreaterThan(0);
    for (const line of outputLines) {
      const data = (JSON.parse(line) as [number, string, string])[2];
      expect(line.endsWith(`"o", ${JSON.stringify(data)}]`) || line.endsWith(`"o",${JSON.stringify(data)}]`), line).toBe(true);
    }
    if (outputLines.length === 1) expect(outputLines[0]!.slice(outputLines[0]!.indexOf('"o",') + 4).trim()).toBe(`${expectedJson}]`);
  });
});
