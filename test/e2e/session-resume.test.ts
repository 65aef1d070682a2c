import { request as httpRequest, createServer } from 'node:http';
import { readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { type AddressInfo, connect, type Socket } from 'node:net';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { gateEnv, runGate, startGate } from '../helpers/gate-bin.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';
import { type Stack, startStack } from '../helpers/stack.js';

// Recordings survive a server restart mid-session and a gate killed with -9;
// and a target with `recording: required` never runs a tool unrecorded.

const RO_PASSWORD = 'ro-target-secret-resume-93c1';

let pg: TestPostgres;
let stack: Stack;
let token: string;
let env: NodeJS.ProcessEnv;
const orphans: number[] = [];

interface Shown {
  session: { id: string; closed: boolean; incomplete: boolean; exit_code: number | null; bytes: number };
}

async function spoolText(): Promise<string> {
  const dir = join(env.GATE_CONFIG_DIR!, 'spool');
  const parts: string[] = [];
  try {
    for (const e of await readdir(dir, { recursive: true, withFileTypes: true })) {
      if (e.isFile()) parts.push(await readFile(join(e.parentPath, e.name), 'utf8'));
    }
  } catch {
    // no spool yet
  }
  return parts.join('\n');
}

/** Resolves once some spool file holds `text` (the recorder writes as the tool prints). */
async function spoolHas(text: string): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if ((await spoolText()).includes(text)) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`the spool never held ${JSON.stringify(text)}`);
}

beforeAll(async () => {
  pg = await startPostgres();
  await pg.query(`create role readonly login password '${RO_PASSWORD}'`);
  process.env.E2E_RESUME_PG_PASSWORD = RO_PASSWORD;
  stack = await startStack({
    configYaml: `
targets:
  db:
    type: postgres
    # These tests read what a piped tool printed back from the recording.
    record_output: full
    address: 127.0.0.1:${pg.port}
    database: postgres
    roles:
      read: { username: readonly, password: env:E2E_RESUME_PG_PASSWORD }
  db-strict:
    type: postgres
    # These tests read what a piped tool printed back from the recording.
    record_output: full
    address: 127.0.0.1:${pg.port}
    database: postgres
    recording: required
    roles:
      read: { username: readonly, password: env:E2E_RESUME_PG_PASSWORD }
policies:
  - { name: eng-read, groups: [engineering], targets: [db, db-strict], roles: [read], max_duration: 1h, approval: auto }
`,
  });
  token = await stack.loginAs('alice');
  env = await gateEnv({ GATE_SERVER: stack.url, GATE_TOKEN: token });
});

afterAll(async () => {
  for (const pid of orphans) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  await stack?.close();
  await pg?.stop();
  if (env?.GATE_CONFIG_DIR) await rm(env.GATE_CONFIG_DIR, { recursive: true, force: true });
});

describe('upload resume', () => {
  test('the server restarts mid-session and the recording still arrives complete', async () => {
    const flag = join(env.GATE_CONFIG_DIR!, 'go-on');
    const script = `echo "session=$GATE_SESSION_ID"; echo before-restart; while [ ! -f '${flag}' ]; do sleep 0.1; done; echo after-restart-$((6 * 7))`;
    const g = startGate(['exec', 'db', '--', 'sh', '-c', script], { env });
    const id = /session=(\S+)/.exec(await g.waitFor(/session=/, 'stdout'))![1]!;
    await g.waitFor(/before-restart/, 'stdout');
    await stack.restart({
      whileDown: async () => {
        // The tool goes on and finishes while the server is away.
        await writeFile(flag, '');
        await g.waitFor(/after-restart-42/, 'stdout');
        // Mid-session, with the server away, the spool holds what could not be sent: scan it now
        // (the command line in the spool's state says `$((6 * 7))`: only the output says 42).
        await spoolHas('after-restart-42');
        const held = await spoolText();
        expect(held).not.toContain(RO_PASSWORD);
        for (const part of token.split('.')) expect(held).not.toContain(part);
      },
    });
    expect(await g.exited).toBe(0);

    const shown = await runGate(['sessions', 'show', id, '--json'], { env });
    expect(shown.code).toBe(0);
    expect((JSON.parse(shown.stdout) as Shown).session).toMatchObject({ id, closed: true, incomplete: false, exit_code: 0 });
    const cast = await runGate(['sessions', 'export', id], { env });
    expect(cast.stdout).toContain('before-restart');
    expect(cast.stdout).toContain('after-restart-42');
  });

  test('a spool left by kill -9 is uploaded by the next gate command, marked incomplete', async () => {
    const g = startGate(['exec', 'db', '--', 'sh', '-c', 'echo "session=$GATE_SESSION_ID pid=$$"; echo doomed-session-$((40 + 2)); exec sleep 120'], {
      env,
    });
    const line = await g.waitFor(/session=/, 'stdout');
    const [, id, pid] = /session=(\S+) pid=(\d+)/.exec(line)!;
    orphans.push(Number(pid));
    await g.waitFor(/doomed-session-42/, 'stdout');
    // Kill once the recorder has written the line to the spool (not after a guessed delay). The command
    // line, which the spool's state also holds, says `$((40 + 2))`: only the output says 42.
    await spoolHas('doomed-session-42');
    await g.stop('SIGKILL');
    // The spool the killed gate left: scanned now, while it has content (the next command uploads and deletes it).
    const left = await spoolText();
    expect(left, 'the spool the killed gate left').toContain('doomed-session-42');
    expect(left).not.toContain(RO_PASSWORD);
    for (const part of token.split('.')) expect(left).not.toContain(part);

    // Any next gate command flushes it (here: listing sessions).
    const list = await runGate(['sessions', '--json'], { env });
    expect(list.code).toBe(0);
    const { sessions } = JSON.parse(list.stdout) as { sessions: Shown['session'][] };
    expect(sessions.find((s) => s.id === id)).toMatchObject({ closed: true, incomplete: true });
    const cast = await runGate(['sessions', 'export', id!], { env });
    expect(cast.stdout, `the uploaded recording (export stderr: ${cast.stderr})`).toContain('doomed-session-42');
    // Nothing of it stays behind, not even a half-written file of the killed writer.
    const spoolDir = join(env.GATE_CONFIG_DIR!, 'spool');
    expect(existsSync(spoolDir) ? await readdir(spoolDir) : []).toEqual([]);

    const human = await runGate(['sessions', 'show', id!], { env });
    expect(human.stdout).toContain('incomplete');
  });

  test('the recordings hold no target secret and no token (the spools were scanned while they had content)', async () => {
    const list = await runGate(['sessions', '--json'], { env });
    let all = list.stdout;
    for (const s of (JSON.parse(list.stdout) as { sessions: { id: string }[] }).sessions) {
      all += (await runGate(['sessions', 'export', s.id], { env })).stdout;
    }
    expect(all).not.toContain(RO_PASSWORD);
    for (const part of token.split('.')) expect(all).not.toContain(part);
  });
});

describe('recording: required', () => {
  /**
   * A reverse proxy in front of the gate server that forwards everything
   * (tunnel upgrades too) except session creation, which it answers 503: the
   * shape of a real outage of the recording path (an ingress rule, a full
   * recordings volume behind a separate service) while grants still work.
   */
  async function sessionBlockingProxy(): Promise<{ url: string; close(): Promise<void> }> {
    const upstream = new URL(stack.url);
    const sockets = new Set<Socket>();
    const server = createServer((req, res) => {
      if (req.method === 'POST' && req.url?.startsWith('/v1/sessions')) {
        res.writeHead(503, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { code: 'unavailable', message: 'recording service unavailable' } }));
        return;
      }
      const out = httpRequest(
        { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers },
        (up) => {
          res.writeHead(up.statusCode ?? 502, up.headers);
          up.pipe(res);
        },
      );
      out.on('error', () => res.destroy());
      req.pipe(out);
    });
    server.on('upgrade', (req, socket, head) => {
      sockets.add(socket as Socket);
      const up = connect(Number(upstream.port), upstream.hostname, () => {
        up.write(`${req.method} ${req.url} HTTP/1.1\r\n${Object.entries(req.headers).map(([k, v]) => `${k}: ${v}`).join('\r\n')}\r\n\r\n`);
        up.write(head);
        up.pipe(socket);
        socket.pipe(up);
      });
      sockets.add(up);
      up.on('error', () => socket.destroy());
      socket.on('error', () => up.destroy());
    });
    server.on('connection', (s) => sockets.add(s));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return {
      url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      async close() {
        for (const s of sockets) s.destroy();
        await new Promise((r) => server.close(r));
      },
    };
  }

  test('when the server cannot take the recording, the tool does not start and gate says why', async () => {
    const proxy = await sessionBlockingProxy();
    try {
      const proxied = await gateEnv({ GATE_SERVER: proxy.url, GATE_TOKEN: token });
      const marker = join(proxied.GATE_CONFIG_DIR!, 'tool-ran');
      const strict = await runGate(['exec', 'db-strict', '--', 'sh', '-c', `touch '${marker}'`], { env: proxied });
      expect(strict.code).toBe(1);
      expect(strict.stderr).toContain('This target requires a recording, and the server did not accept one.');
      await expect(stat(marker)).rejects.toThrow(/ENOENT/);

      // The same outage on a best-effort target: the tool runs, the recording waits in the spool.
      const relaxed = await runGate(['exec', 'db', '--', 'sh', '-c', `touch '${marker}'; psql -X -At -c 'select 6*7'`], { env: proxied });
      expect(relaxed.code).toBe(0);
      expect(relaxed.stdout).toContain('42');
      expect(relaxed.stderr).toMatch(/kept locally and will be uploaded/);
      await stat(marker);
      await rm(proxied.GATE_CONFIG_DIR!, { recursive: true, force: true });
    } finally {
      await proxy.close();
    }
  });
});
