import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TargetSummary } from '../api/wire-grants.js';
import { kubeconfigFor, writeKubeconfig } from '../client/kubeconfig.js';
import type { CliContext } from './context.js';
import { httpConnectionDetails } from './http-details.js';
import type { OpenTunnel } from './tunnel-session.js';

export interface ConnectionDetails {
  /** Machine-readable fields for the `ready` event. */
  fields: Record<string, unknown>;
  /** Human lines: how to connect. */
  lines: string[];
  /** Environment for a wrapped tool (`gate psql`, `exec`, `kubectl`): points at the tunnel, holds no secret. */
  env: Record<string, string>;
  /** A temp dir to remove when the tunnel closes (the kubeconfig's). */
  cleanup?: string;
}

/**
 * How a client reaches the tunnel, per target type. Nothing here is a target
 * secret: the user name is the upstream role's (public) name and the only
 * password, if any, is the one-time local one.
 */
export async function connectionDetails(ctx: CliContext, target: TargetSummary, role: string, tunnel: OpenTunnel): Promise<ConnectionDetails> {
  const { listener, localPassword } = tunnel;
  const host = listener.host;
  const port = listener.port;
  const tcpUrl = listener.socketPath ? undefined : `${host}:${port}`;
  const common = { host, port, socket: listener.socketPath ?? null };
  const exec: Record<string, string> = { GATE_TARGET_HOST: host, GATE_TARGET_PORT: String(port) };

  if (target.type === 'postgres') {
    const user = target.roles.find((r) => r.role === role)?.username ?? role;
    const database = target.database ?? 'postgres';
    const auth = localPassword ? `${encodeURIComponent(user)}:${encodeURIComponent(localPassword)}` : encodeURIComponent(user);
    const url = listener.socketPath
      ? `postgres://${auth}@/${encodeURIComponent(database)}?host=${encodeURIComponent(host)}&port=${port}&sslmode=disable`
      : `postgres://${auth}@${host}:${port}/${encodeURIComponent(database)}?sslmode=disable`;
    const psql = `psql "host=${host} port=${port} user=${user} dbname=${database} sslmode=disable"`;
    return {
      fields: { ...common, user, database, url, psql, ...(localPassword ? { local_password: localPassword } : {}) },
      lines: [
        `host ${host}  port ${port}  user ${user}  database ${database}`,
        ...(localPassword ? [`one-time local password: ${localPassword}`] : []),
        `url  ${url}`,
        `run  ${psql}`,
      ],
      env: {
        ...exec,
        GATE_TARGET_URL: url,
        PGHOST: host,
        PGPORT: String(port),
        PGUSER: user,
        PGDATABASE: database,
        PGSSLMODE: 'disable',
        ...(localPassword ? { PGPASSWORD: localPassword } : {}),
      },
    };
  }

  if (target.type === 'kubernetes') {
    const dir = await mkdtemp(join(tmpdir(), 'gate-kube-'));
    const kubeconfig = join(dir, 'kubeconfig');
    // With a local password the listener speaks TLS with its own pinned certificate (kubectl
    // sends a bearer token only over https) and the kubeconfig carries the token; it is not printed.
    const server = `${tunnel.localCertificate ? 'https' : 'http'}://${host}:${port}`;
    await writeKubeconfig(
      kubeconfig,
      kubeconfigFor({ server, target: target.name, token: localPassword, certificateAuthority: tunnel.localCertificate }),
    );
    return {
      fields: { ...common, url: server, kubeconfig },
      lines: [`API server ${server}`, `export KUBECONFIG=${kubeconfig}`],
      env: { ...exec, GATE_TARGET_URL: server, KUBECONFIG: kubeconfig },
      cleanup: dir,
    };
  }

  if (target.type === 'mcp' && tcpUrl) {
    // A streamable-HTTP endpoint without credentials: the gateway adds them.
    const url = `http://${tcpUrl}/mcp`;
    return { fields: { ...common, url }, lines: [`MCP endpoint ${url}`], env: { ...exec, GATE_TARGET_URL: url } };
  }
  if (target.type === 'http' && !listener.socketPath) return httpConnectionDetails(target, tunnel, common, exec);

  const url = tcpUrl ? `tcp://${tcpUrl}` : `unix://${listener.socketPath}`;
  void ctx;
  return {
    fields: { ...common, url },
    lines: [listener.socketPath ? `socket ${listener.socketPath}` : `host ${host}  port ${port}`],
    env: { ...exec, GATE_TARGET_URL: url },
  };
}
