import { execFile } from 'node:child_process';
import { type AddressInfo, connect, createServer, type Server } from 'node:net';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import type { PostgresTarget } from '../../src/config/schema.js';
import { explainQuery } from '../../src/gateway/sql/explain.js';
import { loadSqlParser } from '../../src/gateway/sql/index.js';
import { fillDevConfig } from '../../src/server/dev-config.js';
import { startPostgres, type TestPostgres } from '../helpers/postgres.js';

const run = promisify(execFile);

/**
 * Records the simple-protocol Query texts a client sends, passing every byte
 * through unchanged (startup first: no type byte; then type + length frames).
 */
function recordingProxy(upstreamPort: number, texts: string[]): Promise<Server> {
  const server = createServer((client) => {
    const upstream = connect(upstreamPort, '127.0.0.1');
    let buf = Buffer.alloc(0);
    let started = false;
    client.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      for (;;) {
        if (!started) {
          if (buf.length < 8) break;
          const len = buf.readInt32BE(0);
          if (buf.length < len) break;
          // SSLRequest / GSSENCRequest are followed by another startup packet.
          const code = buf.readInt32BE(4);
          if (code !== 80877103 && code !== 80877104) started = true;
          buf = buf.subarray(len);
          continue;
        }
        if (buf.length < 5) break;
        const len = buf.readInt32BE(1);
        if (buf.length < 1 + len) break;
        if (buf[0] === 0x51) texts.push(buf.subarray(5, len).toString('utf8'));
        buf = buf.subarray(1 + len);
      }
      upstream.write(chunk);
    });
    upstream.on('data', (c) => client.write(c));
    client.on('end', () => upstream.end());
    upstream.on('end', () => client.end());
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

/** The demo's DROP rule lets a real `pgbench -i` (Debian's pgbench 15) set up its tables. */
describe('pgbench -i under the gate dev demo rules', () => {
  let pgsrv: TestPostgres;
  let proxy: Server;
  const texts: string[] = [];

  beforeAll(async () => {
    await loadSqlParser();
    pgsrv = await startPostgres();
    proxy = await recordingProxy(pgsrv.port, texts);
  });

  afterAll(async () => {
    await new Promise((r) => proxy?.close(r));
    await pgsrv?.stop();
  });

  it('sends only statements the demo allows, twice over (the second run drops the first run’s tables)', async () => {
    const port = (proxy.address() as AddressInfo).port;
    const env = { ...process.env, PGPASSWORD: pgsrv.password, PGSSLMODE: 'disable' };
    const args = ['-i', '-s', '1', '-h', '127.0.0.1', '-p', String(port), '-U', pgsrv.user, pgsrv.database];
    await run('pgbench', args, { env });
    await run('pgbench', args, { env });
    const config = parseConfig(
      fillDevConfig({
        DEMO_ADDRESS: `127.0.0.1:${pgsrv.port}`,
        DEMO_DATABASE: pgsrv.database,
        DEMO_READ_USER: 'r',
        DEMO_READ_PASSWORD_REF: 'env:R',
        DEMO_WRITE_USER: pgsrv.user,
        DEMO_WRITE_PASSWORD_REF: 'env:W',
      }),
    );
    const demo = config.targets['demo-db'] as PostgresTarget;
    const verdicts = texts.map((sql) => {
      const r = explainQuery('demo-db', demo, sql, 'write');
      return { sql, decision: r.ok ? r.decision : `parse error: ${r.error}` };
    });
    expect(texts.some((t) => /drop table/i.test(t))).toBe(true);
    expect(texts.some((t) => /truncate/i.test(t))).toBe(true);
    expect(verdicts.filter((v) => v.decision !== 'allow')).toEqual([]);
    // And the same rules still stop a DROP of anything else.
    expect(explainQuery('demo-db', demo, 'drop table if exists pgbench_accounts, customers', 'write')).toMatchObject({ decision: 'deny' });
    const rows = await pgsrv.query<{ n: string }>('select count(*) as n from pgbench_branches');
    expect(rows[0]!.n).toBe('1');
  });
});
