/**
 * The Postgres relay's own logic per statement, in one process with no
 * sockets: pgbench's select through a bare pass-through of the same streams,
 * through gate's relay on a plain target, and on a guarded and masked one
 * (the bench/pg.js targets). Each statement is a Query in and a
 * RowDescription, DataRow, CommandComplete and ReadyForQuery back; the audit
 * event is built and handed to a callback that keeps nothing.
 *
 *   npx vitest bench --run bench/pg-relay.bench.ts
 *
 * This is the hot-cache cost: every iteration runs the same code back to
 * back. Under bench/pg.js the same work costs several times as much (the
 * CPU's caches are shared with PostgreSQL, pgbench and the CLI between two
 * statements); compare the rows of one run, and read docs/performance.md.
 * Not a test: nothing asserts a timing.
 */
import { Duplex } from 'node:stream';
import { bench, describe } from 'vitest';
import { postgresTarget, type PostgresTarget } from '../src/config/schema.js';
import type { GatewayContext } from '../src/gateway/types.js';
import { createMasker } from '../src/gateway/postgres/masking.js';
import { relay } from '../src/gateway/postgres/relay.js';
import { createPolicy } from '../src/gateway/postgres/statement-policy.js';
import { loadSqlParser } from '../src/gateway/sql/index.js';

await loadSqlParser();

const STATEMENTS_PER_ITERATION = 200;

function message(type: string, body: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.write(type, 0, 'latin1');
  head.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([head, body]);
}
const cstring = (s: string) => Buffer.from(`${s}\0`);

/** What PostgreSQL answers pgbench's select with: one int4 column, one row. */
const ANSWER = (() => {
  const name = cstring('abalance');
  const desc = Buffer.alloc(2 + name.length + 18);
  desc.writeInt16BE(1, 0);
  name.copy(desc, 2);
  const at = 2 + name.length;
  desc.writeInt32BE(16_400, at); // table oid
  desc.writeInt16BE(3, at + 4); // column number
  desc.writeInt32BE(23, at + 6); // int4
  desc.writeInt16BE(4, at + 10);
  desc.writeInt32BE(-1, at + 12);
  desc.writeInt16BE(0, at + 16);
  const row = Buffer.from([0, 1, 0, 0, 0, 1, 0x30]);
  return Buffer.concat([message('T', desc), message('D', row), message('C', cstring('SELECT 1')), message('Z', Buffer.from('I'))]);
})();

let aid = 0;
const query = () => message('Q', cstring(`SELECT abalance FROM pgbench_accounts WHERE aid = ${1 + ((aid++ * 7919) % 1_000_000)};`));

/** An in-memory stream: what the relay writes goes to `onWrite`; `push` delivers to it. */
function stream(onWrite: (chunk: Buffer) => void): Duplex {
  return new Duplex({
    read() {},
    write(chunk: Buffer, _enc, cb) {
      onWrite(chunk);
      cb();
    },
    writev(chunks, cb) {
      for (const c of chunks) onWrite(c.chunk as Buffer);
      cb();
    },
  });
}

type Kind = 'bare' | 'plain' | 'guarded';

const TARGETS: Record<Exclude<Kind, 'bare'>, unknown> = {
  plain: {},
  guarded: {
    guardrails: [
      { deny: { statements: ['DROP', 'TRUNCATE', 'ALTER SYSTEM'] } },
      { require_approval: { statements: ['DELETE', 'UPDATE'], unfiltered: true } },
      { deny: { functions: ['pg_terminate_backend', 'lo_export', 'dblink*'] } },
    ],
    masking: { columns: ['pgbench_accounts.filler'], detectors: ['email', 'credit_card'] },
  },
};

/** A client and an upstream joined by `kind`; `run()` sends STATEMENTS_PER_ITERATION selects one after the other. */
function session(kind: Kind): { run(): Promise<void> } {
  let left = 0;
  let finished: () => void = () => {};
  const client = stream((chunk) => {
    // The answer's last message is ReadyForQuery ('Z', length 5, status).
    if (chunk[chunk.length - 6] !== 0x5a) return;
    if (--left === 0) finished();
    else queueMicrotask(() => client.push(query()));
  });
  const upstream = stream(() => queueMicrotask(() => upstream.push(ANSWER)));
  if (kind === 'bare') {
    client.on('data', (c: Buffer) => upstream.write(c));
    upstream.on('data', (c: Buffer) => client.write(c));
  } else {
    const target = postgresTarget.parse({
      type: 'postgres',
      address: '127.0.0.1:5432',
      database: 'bench',
      roles: { bench: { username: 'postgres', password: 'env:UNUSED' } },
      ...(TARGETS[kind] as object),
    });
    const ctx = {
      targetName: kind,
      target,
      grant: { id: 'g', user: 'bench', role: 'bench', target: kind, expiresAt: new Date(Date.now() + 86_400_000) },
      secret: async () => '',
      audit: () => {},
      requestApproval: async () => ({ status: 'denied', id: '' }),
      signal: new AbortController().signal,
    } as unknown as GatewayContext<PostgresTarget>;
    void relay({
      client,
      upstream,
      ctx,
      policy: createPolicy(target, kind),
      masker: createMasker(target.masking),
      txStatus: 'I',
      clientLeftover: Buffer.alloc(0),
      upstreamLeftover: Buffer.alloc(0),
    });
  }
  return {
    run: () =>
      new Promise<void>((resolve) => {
        left = STATEMENTS_PER_ITERATION;
        finished = resolve;
        client.push(query());
      }),
  };
}

describe(`${STATEMENTS_PER_ITERATION} pgbench selects, one after the other`, () => {
  for (const kind of ['bare', 'plain', 'guarded'] as const) {
    const s = session(kind);
    bench(kind === 'bare' ? 'bare pass-through' : `gate relay, ${kind} target`, () => s.run(), { warmupTime: 1_000 });
  }
});
