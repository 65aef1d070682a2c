/**
 * Upstream login variants: md5 and SCRAM roles, TLS `require` and
 * `verify-full` against a CA made here with openssl, and the errors a user
 * sees when the certificate's name or CA is wrong.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PostgresTarget } from '../../src/config/schema.js';
import { handlePostgres } from '../../src/gateway/postgres/handler.js';
import { serveHandler, startPostgres, type TestPostgres } from '../helpers/postgres.js';

const run = promisify(execFile);
const MD5_PW = 'md5-Pass-4e1d';
const SCRAM_PW = 'scram-Pass-77aa';

let dir: string;
let db: TestPostgres;
let caPem: string;
let otherCaPem: string;

async function makeCa(name: string): Promise<{ cert: string; key: string }> {
  const cert = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  await run('openssl', [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
    '-keyout', key, '-out', cert, '-days', '2', '-subj', `/CN=${name}`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  return { cert, key };
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gate-pg-tls-'));
  const ca = await makeCa('gate-test-ca');
  const other = await makeCa('some-other-ca');
  const key = join(dir, 'server.key');
  const csr = join(dir, 'server.csr');
  const cert = join(dir, 'server.crt');
  const ext = join(dir, 'server.ext');
  await writeFile(ext, 'subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth\n');
  await run('openssl', ['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', csr, '-subj', '/CN=localhost']);
  await run('openssl', ['x509', '-req', '-in', csr, '-CA', ca.cert, '-CAkey', ca.key, '-CAcreateserial', '-out', cert, '-days', '2', '-extfile', ext]);
  caPem = await readFile(ca.cert, 'utf8');
  otherCaPem = await readFile(other.cert, 'utf8');
  db = await startPostgres({ ssl: { certFile: cert, keyFile: key }, authMethod: 'md5' });
  await db.query(`set password_encryption = 'md5'`);
  await db.query(`create role legacy login password '${MD5_PW}'`);
  await db.query(`set password_encryption = 'scram-sha-256'`);
  await db.query(`create role modern login password '${SCRAM_PW}'`);
});

afterAll(async () => {
  await db?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

function target(host: string, tls: PostgresTarget['tls']): PostgresTarget {
  return {
    type: 'postgres',
    address: `${host}:${db.port}`,
    database: 'postgres',
    tls,
    roles: {
      legacy: { username: 'legacy', password: 'env:MD5', auth: ['md5'] },
      modern: { username: 'modern', password: 'env:SCRAM' },
    },
    guardrails: [],
    masking: { columns: [], detectors: [] },
    record_input: false,
    recording: 'best-effort',
  };
}

const secrets = { 'env:MD5': MD5_PW, 'env:SCRAM': SCRAM_PW, 'file:/ca.pem': '', 'file:/other-ca.pem': '' };

async function ask(t: PostgresTarget, role: string, sql: string): Promise<unknown[] | pg.DatabaseError> {
  const s = { ...secrets, 'file:/ca.pem': caPem, 'file:/other-ca.pem': otherCaPem };
  const h = await serveHandler(handlePostgres, { target: t, secrets: s, role });
  try {
    const c = new pg.Client({ host: '127.0.0.1', port: h.port, user: 'u', database: 'd' });
    c.on('error', () => {});
    try {
      await c.connect();
    } catch (err) {
      await h.settled();
      const text = JSON.stringify(h.audit);
      expect(text).not.toContain(MD5_PW);
      expect(text).not.toContain(SCRAM_PW);
      return err as pg.DatabaseError;
    }
    const rows = (await c.query(sql)).rows;
    await c.end();
    return rows;
  } finally {
    await h.close();
  }
}

describe('postgres handler: upstream authentication', () => {
  it('logs in with md5 for a role whose password is stored as md5', async () => {
    const stored = await db.query(`select rolpassword from pg_authid where rolname = 'legacy'`);
    expect(String(stored[0]!.rolpassword)).toMatch(/^md5/);
    expect(await ask(target('127.0.0.1', { mode: 'disable' }), 'legacy', 'select current_user as u')).toEqual([{ u: 'legacy' }]);
  });

  it('logs in with SCRAM-SHA-256 for a SCRAM role', async () => {
    const stored = await db.query(`select rolpassword from pg_authid where rolname = 'modern'`);
    expect(String(stored[0]!.rolpassword)).toMatch(/^SCRAM-SHA-256/);
    expect(await ask(target('127.0.0.1', { mode: 'disable' }), 'modern', 'select current_user as u')).toEqual([{ u: 'modern' }]);
  });
});

describe('postgres handler: upstream TLS', () => {
  const sslSql = 'select ssl from pg_stat_ssl where pid = pg_backend_pid()';

  it('encrypts without verification in require mode', async () => {
    expect(await ask(target('127.0.0.1', { mode: 'require' }), 'modern', sslSql)).toEqual([{ ssl: true }]);
  });

  it('verifies the certificate against the configured CA and the host name in verify-full mode', async () => {
    expect(await ask(target('localhost', { mode: 'verify-full', ca: 'file:/ca.pem' }), 'legacy', sslSql)).toEqual([
      { ssl: true },
    ]);
  });

  it('refuses a certificate that does not name the host', async () => {
    const err = (await ask(target('127.0.0.1', { mode: 'verify-full', ca: 'file:/ca.pem' }), 'modern', sslSql)) as pg.DatabaseError;
    expect(err.code).toBe('08001');
    expect(err.message).toMatch(/^gate: cannot reach db-test upstream: TLS failed: .*(does not match|altnames)/);
  });

  it('refuses a certificate from another CA', async () => {
    const err = (await ask(target('localhost', { mode: 'verify-full', ca: 'file:/other-ca.pem' }), 'modern', sslSql)) as pg.DatabaseError;
    expect(err.code).toBe('08001');
    expect(err.message).toMatch(/^gate: cannot reach db-test upstream: TLS failed: /);
  });
});
