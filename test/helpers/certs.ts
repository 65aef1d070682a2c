import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** A PEM certificate with its private key, plus where both sit on disk. */
export interface PemPair {
  cert: string;
  key: string;
  certPath: string;
  keyPath: string;
}

/** A throwaway PKI made with the `openssl` binary: a CA, a server cert and a client cert it signed. */
export interface TestPki {
  dir: string;
  ca: PemPair;
  /** For 127.0.0.1 and localhost (SAN IP and DNS), serverAuth. */
  server: PemPair;
  /** clientAuth; CN and O as given to `createTestPki` (Kubernetes reads them as user and group). */
  client: PemPair;
  /** Issues another certificate signed by this CA (e.g. a second client). */
  issue(options: IssueOptions): Promise<PemPair>;
  cleanup(): Promise<void>;
}

export interface IssueOptions {
  name: string;
  commonName: string;
  organization?: string;
  usage: 'server' | 'client';
  /** subjectAltName entries, e.g. `IP:127.0.0.1`, `DNS:localhost`. */
  altNames?: string[];
}

const KEY_ARGS = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];

async function readPair(certPath: string, keyPath: string): Promise<PemPair> {
  return { cert: await readFile(certPath, 'utf8'), key: await readFile(keyPath, 'utf8'), certPath, keyPath };
}

/** Creates a CA, a 127.0.0.1 server certificate and a client certificate in a new temp dir. */
export async function createTestPki(
  options: { clientCommonName?: string; clientOrganization?: string } = {},
): Promise<TestPki> {
  const dir = await mkdtemp(join(tmpdir(), 'gate-pki-'));
  const caCert = join(dir, 'ca.crt');
  const caKey = join(dir, 'ca.key');
  await run('openssl', [
    'req', '-x509', ...KEY_ARGS, '-keyout', caKey, '-out', caCert, '-days', '2',
    '-subj', '/CN=gate-test-ca',
    '-addext', 'basicConstraints=critical,CA:TRUE',
    '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  const ca = await readPair(caCert, caKey);
  let serial = 1;

  const issue = async (o: IssueOptions): Promise<PemPair> => {
    const key = join(dir, `${o.name}.key`);
    const csr = join(dir, `${o.name}.csr`);
    const crt = join(dir, `${o.name}.crt`);
    const ext = join(dir, `${o.name}.ext`);
    const subj = `/CN=${o.commonName}${o.organization ? `/O=${o.organization}` : ''}`;
    await run('openssl', ['req', ...KEY_ARGS, '-keyout', key, '-out', csr, '-subj', subj]);
    const lines = [
      'basicConstraints=critical,CA:FALSE',
      'keyUsage=critical,digitalSignature,keyEncipherment',
      `extendedKeyUsage=${o.usage === 'server' ? 'serverAuth' : 'clientAuth'}`,
    ];
    if (o.altNames?.length) lines.push(`subjectAltName=${o.altNames.join(',')}`);
    await writeFile(ext, `${lines.join('\n')}\n`);
    await run('openssl', [
      'x509', '-req', '-in', csr, '-CA', caCert, '-CAkey', caKey, '-set_serial', String(++serial),
      '-out', crt, '-days', '2', '-extfile', ext,
    ]);
    return readPair(crt, key);
  };

  const server = await issue({
    name: 'server',
    commonName: '127.0.0.1',
    usage: 'server',
    altNames: ['IP:127.0.0.1', 'DNS:localhost'],
  });
  const client = await issue({
    name: 'client',
    commonName: options.clientCommonName ?? 'gate-test-client',
    organization: options.clientOrganization ?? 'system:masters',
    usage: 'client',
  });
  return { dir, ca, server, client, issue, cleanup: () => rm(dir, { recursive: true, force: true }) };
}
