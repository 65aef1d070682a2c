/**
 * A gate fleet on one machine, as the issue's fault suite needs it: two or
 * three real `gate server` processes (the built bin/gate.js) sharing one
 * embedded PostgreSQL store, a second embedded PostgreSQL as the target, a
 * test OIDC issuer for people, and the TCP balancer in front. Replicas can be
 * killed (-9) and started again on the same port and data dir.
 */
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { gateEnv, type RunningGate, startGate } from '../../helpers/gate-bin.js';
import { startTestIssuer, type TestIssuer } from '../../helpers/oidc-issuer.js';
import { freePort } from '../../helpers/postgres.js';
import { type Balancer, startBalancer } from './balancer.js';
import { type Cluster, startCluster } from './cluster.js';

export const CLIENT_ID = 'gate-cli';

export interface Replica {
  index: number;
  port: number;
  url: string;
  dataDir: string;
  process: RunningGate;
  /** Log lines at level error (a replica under faults may warn; an error line is a finding). */
  errors(): string[];
}

export interface Fleet {
  store: Cluster;
  target: Cluster;
  issuer: TestIssuer;
  lb: Balancer;
  replicas: Replica[];
  configFile: string;
  env: Record<string, string>;
  /** A gate token for a person, exchanged through the balancer. */
  token(sub: string, groups: string[]): Promise<string>;
  /** An environment for a spawned CLI that talks to the balancer as this token. */
  cliEnv(token: string, extra?: Record<string, string>): Promise<NodeJS.ProcessEnv>;
  api<T = Record<string, unknown>>(token: string, method: string, path: string, body?: unknown, base?: string): Promise<{ status: number; body: T }>;
  kill(index: number): Promise<void>;
  /** Starts a stopped or killed replica again on its port and data dir. */
  start(index: number): Promise<void>;
  /** Resident memory of a replica's process, in KiB (from /proc). */
  rssKiB(index: number): Promise<number>;
  close(): Promise<void>;
}

export interface FleetOptions {
  replicas?: number;
  /** YAML for targets: and policies: (and anything else top-level); `TARGET_PORT` is replaced by the target's port. */
  yaml: string;
  /** Secrets the replicas' environment holds (referenced as env:NAME in the yaml). */
  secrets?: Record<string, string>;
  /** Called with the target cluster before the replicas start (roles, tables). */
  prepareTarget?(target: Cluster): Promise<void>;
  /** Per replica: a data dir to use instead of a fresh temp dir (e.g. a small tmpfs). */
  dataDirs?: (string | undefined)[];
  /** More environment for the replicas (e.g. GATE_TUNNEL_PING_INTERVAL). */
  serverEnv?: Record<string, string>;
}

export async function startFleet(options: FleetOptions): Promise<Fleet> {
  const n = options.replicas ?? 2;
  const [store, target, issuer] = await Promise.all([startCluster(), startCluster(), startTestIssuer()]);
  await store.query('CREATE DATABASE gate_fleet');
  await options.prepareTarget?.(target);
  const root = await mkdtemp(join(tmpdir(), 'gate-fleet-'));
  const configFile = join(root, 'gate.yaml');
  await writeFile(
    configFile,
    `store: { url: 'postgres://postgres@127.0.0.1:${store.port}/gate_fleet', password: env:FLEET_STORE_PASSWORD }
identity:
  oidc: { issuer: '${issuer.issuer}', client_id: ${CLIENT_ID} }
${options.yaml.replaceAll('TARGET_PORT', String(target.port))}`,
  );
  const env: Record<string, string> = { FLEET_STORE_PASSWORD: store.password, ...(options.secrets ?? {}) };
  const serverEnv = await gateEnv({ ...env, ...(options.serverEnv ?? {}) });
  const replicas: Replica[] = [];
  for (let i = 0; i < n; i++) {
    const dataDir = options.dataDirs?.[i] ?? (await mkdtemp(join(root, `replica-${i}-`)));
    replicas.push({ index: i, port: await freePort(), url: '', dataDir, process: undefined as unknown as RunningGate, errors: () => [] });
  }

  async function boot(r: Replica): Promise<void> {
    const proc = startGate(['server', '--config', configFile, '--port', String(r.port), '--data-dir', r.dataDir], { env: serverEnv });
    await proc.waitFor(/"msg":"listening"/, 'stderr', 60_000);
    r.process = proc;
    r.url = `http://127.0.0.1:${r.port}`;
    r.errors = () => proc.lines.stderr.filter((l) => l.includes('"level":"error"'));
  }
  // The first replica makes the signing key; the others must sign with the same one.
  await boot(replicas[0]!);
  for (const r of replicas.slice(1)) await copyFile(join(replicas[0]!.dataDir, 'signing-key.jwk.json'), join(r.dataDir, 'signing-key.jwk.json'));
  await Promise.all(replicas.slice(1).map(boot));
  const lb = await startBalancer(replicas.map((r) => ({ host: '127.0.0.1', port: r.port })));
  const cliDirs: string[] = [];

  async function api<T>(token: string, method: string, path: string, body?: unknown, base = lb.url) {
    const res = await request(`${base}${path}`, {
      method: method as 'GET',
      headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.body.text();
    return { status: res.statusCode, body: (text ? JSON.parse(text) : {}) as T };
  }

  return {
    store,
    target,
    issuer,
    lb,
    replicas,
    configFile,
    env,
    api,
    async token(sub, groups) {
      const subject = await issuer.sign({ sub, aud: CLIENT_ID, email: `${sub}@example.com`, groups });
      const res = await request(`${lb.url}/v1/auth/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange', subject_token: subject }),
      });
      const body = (await res.body.json()) as { access_token?: string };
      if (res.statusCode !== 200 || !body.access_token) throw new Error(`token exchange failed: ${res.statusCode} ${JSON.stringify(body)}`);
      return body.access_token;
    },
    async cliEnv(token, extra = {}) {
      const e = await gateEnv({ GATE_SERVER: lb.url, GATE_TOKEN: token, ...extra });
      cliDirs.push(e.GATE_CONFIG_DIR!);
      return e;
    },
    async kill(index) {
      await replicas[index]!.process.stop('SIGKILL');
    },
    async start(index) {
      await boot(replicas[index]!);
    },
    async rssKiB(index) {
      const status = await readFile(`/proc/${replicas[index]!.process.child.pid}/status`, 'utf8');
      return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? Number.NaN);
    },
    async close() {
      await Promise.all(replicas.map((r) => r.process?.stop('SIGTERM').catch(() => {})));
      await lb.close();
      await issuer.close();
      await Promise.all([store.destroy(), target.destroy()]);
      for (const d of cliDirs) await rm(d, { recursive: true, force: true });
      await rm(root, { recursive: true, force: true });
    },
  };
}

/**
 * The fleet most cases use: one PostgreSQL target `db` whose `read` role
 * (app_ro) engineering gets at once. `limits` is a gate.yaml `limits:` value;
 * `recordOutput` records redirected output in full.
 */
export function startReadFleet(options: { limits?: string; recordOutput?: boolean; serverEnv?: Record<string, string> } = {}): Promise<Fleet> {
  const password = 'faults-ro-pw-71c';
  return startFleet({
    yaml: `admins: [platform]
${options.limits ? `limits: ${options.limits}\n` : ''}targets:
  db:
    type: postgres
    address: 127.0.0.1:TARGET_PORT
    database: postgres
${options.recordOutput ? '    record_output: full\n' : ''}    roles:
      read: { username: app_ro, password: env:APP_RO_PASSWORD }
policies:
  - { name: eng-read, groups: [engineering], targets: [db], roles: [read], max_duration: 1h, approval: auto }
`,
    secrets: { APP_RO_PASSWORD: password },
    serverEnv: options.serverEnv,
    prepareTarget: (t) => t.query(`CREATE ROLE app_ro LOGIN PASSWORD '${password}'`).then(() => {}),
  });
}
