/**
 * The fault suite's users: `gate connect` processes with a PostgreSQL client
 * each that runs a numbered statement in a loop and reconnects when its
 * connection breaks, and recorded `gate psql` sessions fed one numbered
 * statement at a time. Both remember which statements were answered, so a
 * case can compare what users were told with what the audit log kept.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import pg from 'pg';
import { GATE_BIN, type RunningGate, startGate } from '../../helpers/gate-bin.js';

export interface LoopClient {
  name: string;
  /** Markers of the statements whose result came back. */
  acked: string[];
  /** Errors the client saw, in order, with the time (performance.now()) each came. */
  errors: { message: string; at: number }[];
  /** performance.now() of each answered statement, parallel to `acked`. */
  ackedAt: number[];
  stop(): Promise<void>;
}

/** Starts `gate connect TARGET --json` and resolves with its local port once it is ready. */
export async function startConnect(
  env: NodeJS.ProcessEnv,
  target: string,
  role: string,
  extra: string[] = [],
): Promise<{ gate: RunningGate; port: number; socket: string | null }> {
  const gate = startGate(['connect', target, '--role', role, '--json', ...extra], { env });
  const line = await gate.waitFor(/"event":"ready"/, 'stdout', 90_000);
  const ready = JSON.parse(line) as { port: number; socket: string | null };
  return { gate, port: ready.port, socket: ready.socket };
}

/** A PostgreSQL client on a `gate connect` port that runs `SELECT 'marker'` every `everyMs` and reconnects after an error. */
export function loopOverTunnel(name: string, port: number, user: string, everyMs: number): LoopClient {
  const c: LoopClient = { name, acked: [], ackedAt: [], errors: [], stop: async () => {} };
  let running = true;
  let n = 0;
  const done = (async () => {
    while (running) {
      const client = new pg.Client({ host: '127.0.0.1', port, user, database: 'postgres', connectionTimeoutMillis: 20_000 });
      let failed: Error | undefined;
      client.on('error', (err) => {
        failed ??= err;
      });
      try {
        await client.connect();
        while (running && !failed) {
          const marker = `${name}-${++n}`;
          await client.query(`SELECT '${marker}' AS m`);
          c.acked.push(marker);
          c.ackedAt.push(performance.now());
          await new Promise((r) => setTimeout(r, everyMs));
        }
      } catch (err) {
        failed ??= err as Error;
      }
      if (failed && running) {
        c.errors.push({ message: failed.message, at: performance.now() });
        // A user retries after a moment; so does this client.
        await new Promise((r) => setTimeout(r, 200));
      }
      await client.end().catch(() => {});
    }
  })();
  c.stop = async () => {
    running = false;
    await done;
  };
  return c;
}

export interface PsqlSession extends LoopClient {
  child: ChildProcess;
  /** The environment it ran with (its own config dir holds its recording spool). */
  env: NodeJS.ProcessEnv;
  stdout: () => string;
  stderr: () => string;
  /** Resolves with gate psql's exit code. */
  exited: Promise<number | null>;
}

/** `gate psql TARGET` with statements piped in one at a time, as a slow script would. */
export function psqlSession(env: NodeJS.ProcessEnv, name: string, target: string, role: string, everyMs: number): PsqlSession {
  const child = spawn(process.execPath, [GATE_BIN, 'psql', target, '--role', role, '--', '-X', '-A', '-t'], { env, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  const s: PsqlSession = {
    name,
    child,
    env,
    acked: [],
    ackedAt: [],
    errors: [],
    stdout: () => out,
    stderr: () => err,
    exited: new Promise((r) => child.on('exit', (code) => r(code))),
    stop: async () => {},
  };
  child.stdout!.on('data', (d: Buffer) => {
    out += d;
    for (const m of d.toString().match(new RegExp(`${name}-\\d+`, 'g')) ?? []) {
      s.acked.push(m);
      s.ackedAt.push(performance.now());
    }
  });
  child.stderr!.on('data', (d: Buffer) => {
    err += d;
    s.errors.push({ message: d.toString(), at: performance.now() });
  });
  child.stdin!.on('error', () => {});
  let n = 0;
  let open = true;
  void s.exited.then(() => {
    open = false;
  });
  const timer = setInterval(() => {
    if (open) child.stdin!.write(`SELECT '${name}-${++n}' AS m;\n`);
  }, everyMs);
  s.stop = async () => {
    clearInterval(timer);
    child.stdin!.end();
    await s.exited;
  };
  return s;
}
