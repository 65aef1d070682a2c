import { chmod, writeFile } from 'node:fs/promises';
import { UsageError } from '../errors.js';

export interface KubeconfigOptions {
  /** The local listener, e.g. `http://127.0.0.1:41234`. */
  server: string;
  /** The gate target name; cluster, context and user are all named `gate-<target>`. */
  target: string;
  /** Default namespace for the context. */
  namespace?: string;
  /**
   * The tunnel's one-time local token (never the target's credential): the
   * gateway refuses requests to the local listener that do not carry it.
   */
  token?: string;
  /** PEM certificate the https local listener presents; pinned as the cluster's CA. */
  certificateAuthority?: string;
}

/**
 * A kubeconfig that points kubectl at gate's local listener. It holds no
 * target credential: the gateway adds the role's token or client
 * certificate on the far side of the tunnel. It may hold the tunnel's
 * one-time local token, which is worth nothing once the tunnel closes. Written from a fixed template
 * (no YAML library to load for it): the names are checked above, the URL is
 * an origin, and a namespace that is not a plain name is quoted as a JSON
 * string, which is a valid YAML double-quoted scalar.
 */
export function kubeconfigFor(options: KubeconfigOptions): string {
  let url: URL;
  try {
    url = new URL(options.server);
  } catch {
    throw new UsageError(`Not a URL for the local listener: ${JSON.stringify(options.server)}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new UsageError(`The local listener URL must be http:// or https://, got ${JSON.stringify(options.server)}`);
  }
  if (url.username || url.password) throw new UsageError('The local listener URL must not carry credentials.');
  if (!/^[a-z0-9][a-z0-9_-]*$/i.test(options.target)) {
    throw new UsageError(`Not a target name: ${JSON.stringify(options.target)}`);
  }
  const name = `gate-${options.target}`;
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    `  - name: ${name}`,
    '    cluster:',
    `      server: ${url.origin}`,
    ...(options.certificateAuthority
      ? [`      certificate-authority-data: ${Buffer.from(options.certificateAuthority, 'utf8').toString('base64')}`]
      : []),
    'contexts:',
    `  - name: ${name}`,
    '    context:',
    `      cluster: ${name}`,
    `      user: ${name}`,
    ...(options.namespace ? [`      namespace: ${yamlString(options.namespace)}`] : []),
    `current-context: ${name}`,
    'users:',
    `  - name: ${name}`,
    ...(options.token ? ['    user:', `      token: ${localToken(options.token)}`] : ['    user: {}']),
    'preferences: {}',
    '',
  ].join('\n');
}

/**
 * A string as YAML: plain when it is a name (what Kubernetes namespaces are)
 * that no YAML reader takes for something else, else double-quoted.
 */
function yamlString(value: string): string {
  const plain = /^[a-z][-a-z0-9]*$/.test(value) && !/^(true|false|null|yes|no|on|off|y|n)$/.test(value);
  return plain ? value : JSON.stringify(value);
}

function localToken(token: string): string {
  if (!/^[A-Za-z0-9_-]+$/.test(token)) throw new UsageError('The local token must be base64url.');
  return token;
}

/** Writes a kubeconfig readable by the owner only (0600), tightening an existing file too. */
export async function writeKubeconfig(path: string, text: string): Promise<void> {
  await writeFile(path, text, { mode: 0o600 });
  await chmod(path, 0o600);
}
