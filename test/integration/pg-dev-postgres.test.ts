/**
 * `gate dev`'s demo database: a persistent embedded cluster with a read and a
 * write role whose generated passwords sit in 0600 files and survive restarts.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { removeDemoPostgres, startDemoPostgres } from '../../src/server/dev-postgres.js';

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

async function connectAs(address: string, database: string, role: { username: string; password: string }) {
  const [host, port] = address.split(':');
  const c = new pg.Client({ host, port: Number(port), database, user: role.username, password: role.password });
  await c.connect();
  return c;
}

describe('demo postgres for gate dev', () => {
  it('serves sample data to the read role, refuses its writes, and keeps cluster and passwords across restarts', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'gate-dev-pg-'));
    dirs.push(dir);
    // mkdtemp makes a 0700 dir; as root the server (user postgres) must traverse it to keep the cluster inside.
    await chmod(dir, 0o755);
    const first = await startDemoPostgres(join(dir, 'postgres'));
    let readPassword: string;
    try {
      await expect(stat(join(dir, 'postgres', 'cluster', 'PG_VERSION'))).resolves.toBeTruthy();
      expect(first.address).toMatch(/^127\.0\.0\.1:\d+$/);
      const ref = first.roles.read.passwordRef;
      expect(ref).toMatch(/^file:\//);
      expect((await stat(ref.slice(5))).mode & 0o777).toBe(0o600);
      expect((await readFile(ref.slice(5), 'utf8')).trim()).toBe(first.roles.read.password);
      expect(first.roles.read.password).not.toBe(first.roles.write.password);
      readPassword = first.roles.read.password;

      const reader = await connectAs(first.address, first.database, first.roles.read);
      const customers = await reader.query('select name, email, card_number, country from customers order by id');
      expect(customers.rows.length).toBeGreaterThanOrEqual(3);
      expect(customers.rows[0]).toMatchObject({ name: 'Ada Lovelace', email: 'ada@example.com' });
      expect((await reader.query('select count(*)::int as n from orders')).rows[0].n).toBeGreaterThan(0);
      await expect(reader.query(`insert into customers (name, email) values ('x', 'x@example.com')`)).rejects.toThrow(
        /permission denied/,
      );
      await reader.end();
      const writer = await connectAs(first.address, first.database, first.roles.write);
      await writer.query(`insert into customers (name, email, country) values ('New', 'new@example.com', 'NL')`);
      await writer.end();
    } finally {
      await first.stop();
    }

    const second = await startDemoPostgres(join(dir, 'postgres'));
    try {
      expect(second.roles.read.password).toBe(readPassword);
      const reader = await connectAs(second.address, second.database, second.roles.read);
      const found = await reader.query(`select count(*)::int as n from customers where name = 'New'`);
      expect(found.rows[0].n).toBe(1);
      await reader.end();
    } finally {
      await second.stop();
    }
  });

  it('under a parent the postgres user cannot enter (root): a deleted data dir starts clean, and --reset removes the cluster outside it', async () => {
    const parent = await mkdtemp(join(tmpdir(), 'gate-dev-closed-'));
    dirs.push(parent);
    await chmod(parent, 0o700);
    const dataDir = join(parent, 'postgres');
    const root = process.getuid?.() === 0;
    // As root the cluster must live where `postgres` can reach it: /var/tmp, under a name derived from the data dir.
    const outside = join('/var/tmp', `gate-dev-postgres-${createHash('sha256').update(dataDir).digest('hex').slice(0, 16)}`);
    const clusterDir = root ? join(outside, 'cluster') : join(dataDir, 'cluster');

    const first = await startDemoPostgres(dataDir);
    await first.stop();
    expect(existsSync(join(clusterDir, 'PG_VERSION'))).toBe(true);

    // The user deletes the data dir (its secrets with it); the cluster in /var/tmp outlives it.
    await rm(dataDir, { recursive: true, force: true });
    const second = await startDemoPostgres(dataDir);
    try {
      // It used to fail here with "password authentication failed": the old cluster, the new passwords.
      const reader = await connectAs(second.address, second.database, second.roles.read);
      expect((await reader.query('select count(*)::int as n from customers')).rows[0].n).toBeGreaterThan(0);
      await reader.end();
    } finally {
      await second.stop();
    }

    // `gate dev --reset`: nothing of the demo cluster stays, wherever it lived.
    await removeDemoPostgres(dataDir);
    expect(existsSync(clusterDir)).toBe(false);
  }, 120_000);
});
