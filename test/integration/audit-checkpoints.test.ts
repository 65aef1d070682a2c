/**
 * Audit integrity beyond the chain (issue 13, issue 20): signed checkpoints
 * catch a cut tail and a full re-hash, whoever kept them; a reordered row is
 * caught by the chain. A real gate server on SQLite, the CLI in-process, and
 * an attacker with write access to gate.db.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventHash, GENESIS_HASH } from '../../src/server/audit/chain.js';
import type { AuditRow } from '../../src/store/store.js';
import { runCli } from '../helpers/stack.js';
import { startTokenStack, type TokenStack } from '../helpers/token-stack.js';

let stack: TokenStack;
let dir: string;
let carol: string;
let alice: string;
const sinkFile = () => join(dir, 'offsite-checkpoints.jsonl');

const cli = (args: string[]) => runCli(args, { env: { GATE_TOKEN: carol, GATE_SERVER: stack.url } });
const db = () => new Database(join(stack.dataDir, 'gate.db'));

/** Some activity: grant requests, each a few audit events. */
async function activity(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await stack.api(alice, 'POST', '/v1/grants', { target: 'echo' });
  await stack.server.ctx.audit.flush();
}

/** Rewrites the whole chain from scratch the way an attacker with the database (but not the key) would. */
function rehashAll(d: Database.Database): void {
  const rows = d.prepare('SELECT * FROM audit_events ORDER BY seq').all() as (AuditRow & { seq: number })[];
  let prev = GENESIS_HASH;
  const update = d.prepare('UPDATE audit_events SET prev_hash = ?, hash = ? WHERE seq = ?');
  for (const { seq, ...row } of rows) {
    const fixed = { ...row, prev_hash: prev };
    const hash = eventHash(fixed);
    update.run(prev, hash, seq);
    prev = hash;
  }
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'gate-audit-cp-'));
  stack = await startTokenStack(`targets:
  echo: { type: tcp, address: '127.0.0.1:9' }
admins: [platform]
policies:
  - { name: eng, groups: [engineering], targets: [echo], roles: [default], max_duration: 1h, approval: auto }
audit:
  checkpoint_every: 1000000
  checkpoint_interval: 1d
  checkpoint_file: ${join(dir, 'offsite-checkpoints.jsonl')}
`);
  carol = await stack.human('carol', ['platform']);
  alice = await stack.human('alice', ['engineering']);
});

afterAll(async () => {
  await stack?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('signed audit checkpoints', () => {
  it('a checkpoint is signed on demand, listed as JSON, and written to the configured file', async () => {
    await activity(3);
    const taken = await cli(['audit', 'checkpoints', '--now', '--json']);
    expect(taken.code).toBe(0);
    const { checkpoints } = JSON.parse(taken.stdout) as { checkpoints: { count: number; head: string; signature: string }[] };
    expect(checkpoints).toHaveLength(1);
    expect(checkpoints[0]!.signature.split('.')).toHaveLength(3);
    const lines = (await readFile(sinkFile(), 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
    expect(lines).toEqual(checkpoints);
    const ok = await cli(['audit', 'verify']);
    expect(ok.code).toBe(0);
    expect(ok.stderr + ok.stdout).toMatch(/Audit log intact: \d+ events verified, 1 signed checkpoints hold/);
  });

  it('a cut tail is detected by the stored checkpoints, and by the ones kept outside once those are deleted too', async () => {
    await activity(2);
    await cli(['audit', 'checkpoints', '--now']);
    // Keep a copy away from the server, as an auditor would.
    const kept = join(dir, 'kept.jsonl');
    await writeFile(kept, await readFile(sinkFile(), 'utf8'));
    const d = db();
    // The attacker drops the last two events: the server's own checkpoints see it.
    d.prepare('DELETE FROM audit_events WHERE seq IN (SELECT seq FROM audit_events ORDER BY seq DESC LIMIT 2)').run();
    const stored = await cli(['audit', 'verify']);
    expect(stored.code).toBe(1);
    expect(stored.stdout + stored.stderr).toMatch(/events were removed from its end/);
    // Then drops those checkpoints too; the chain alone still holds: that is the gap kept checkpoints close.
    d.prepare('DELETE FROM audit_checkpoints').run();
    d.close();
    expect((await cli(['audit', 'verify'])).code).toBe(0);
    const caught = await cli(['audit', 'verify', '--checkpoints', kept]);
    expect(caught.code).toBe(1);
    expect(caught.stdout + caught.stderr).toMatch(/Audit checkpoint contradicted: the log has \d+ events, but a checkpoint signed at \S+ saw \d+: events were removed from its end/);
  });

  it('a full re-hash after an edit is detected by a kept checkpoint', async () => {
    const kept = join(dir, 'kept.jsonl');
    const d = db();
    const victim = d.prepare("SELECT seq FROM audit_events WHERE action = 'grant.requested' ORDER BY seq LIMIT 1").get() as { seq: number };
    d.prepare(`UPDATE audit_events SET details = '{"note":"nothing to see"}' WHERE seq = ?`).run(victim.seq);
    rehashAll(d);
    d.close();
    const chainOnly = await cli(['audit', 'verify']);
    expect(chainOnly.code).toBe(0);
    const caught = await cli(['audit', 'verify', '--checkpoints', kept, '--json']);
    expect(caught.code).toBe(1);
    const result = JSON.parse(caught.stdout) as { ok: boolean; checkpoints: { failure?: { reason: string } } };
    expect(result.ok).toBe(false);
    expect(result.checkpoints.failure?.reason).toMatch(/event #\d+ is not the one signed at \S+: the chain was rewritten \(re-hashed\) since/);
  });

  it('a forged checkpoint (not signed by the server) is refused', async () => {
    const kept = (await readFile(join(dir, 'kept.jsonl'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { count: number });
    const forged = join(dir, 'forged.jsonl');
    await writeFile(forged, `${JSON.stringify({ ...kept[0], count: kept[0]!.count + 1 })}\n`);
    const r = await cli(['audit', 'verify', '--checkpoints', forged]);
    expect(r.code).toBe(1);
    expect(r.stdout + r.stderr).toMatch(/does not match what was signed/);
  });
});

describe('the chain itself (issue 20)', () => {
  it('a reordered audit row is detected', async () => {
    // A fresh log: the tests above left this one rewritten on purpose.
    const fresh = await startTokenStack(`admins: [platform]
targets:
  echo: { type: tcp, address: '127.0.0.1:9' }
policies:
  - { name: eng, groups: [engineering], targets: [echo], roles: [default], max_duration: 1h, approval: auto }
`);
    try {
      const admin = await fresh.human('carol', ['platform']);
      const user = await fresh.human('alice', ['engineering']);
      for (let i = 0; i < 3; i++) await fresh.api(user, 'POST', '/v1/grants', { target: 'echo' });
      await fresh.server.ctx.audit.flush();
      const verify = () => runCli(['audit', 'verify'], { env: { GATE_TOKEN: admin, GATE_SERVER: fresh.url } });
      expect((await verify()).code).toBe(0);
      const d = new Database(join(fresh.dataDir, 'gate.db'));
      const [a, b] = d.prepare('SELECT seq FROM audit_events ORDER BY seq DESC LIMIT 2 OFFSET 1').all() as { seq: number }[];
      // Swap two neighbours: every row keeps its own valid hash, only the order changes.
      d.transaction(() => {
        d.prepare('UPDATE audit_events SET seq = -1 WHERE seq = ?').run(a!.seq);
        d.prepare('UPDATE audit_events SET seq = ? WHERE seq = ?').run(a!.seq, b!.seq);
        d.prepare('UPDATE audit_events SET seq = ? WHERE seq = -1').run(b!.seq);
      })();
      d.close();
      const r = await verify();
      expect(r.code).toBe(1);
      expect(r.stdout + r.stderr).toMatch(/Audit chain broken at event \S+ \(#\d+\): its prev_hash does not match the hash of the event before it \(an event was removed, inserted or reordered\)/);
    } finally {
      await fresh.close();
    }
  });
});

describe('periodic checkpoints', () => {
  it('the server signs checkpoints by itself once enough events or time passed', async () => {
    const own = await startTokenStack(`admins: [platform]
targets:
  echo: { type: tcp, address: '127.0.0.1:9' }
policies:
  - { name: eng, groups: [engineering], targets: [echo], roles: [default], max_duration: 1h, approval: auto }
audit: { checkpoint_every: 3, checkpoint_interval: 1s }
`);
    try {
      const admin = await own.human('carol', ['platform']);
      const user = await own.human('alice', ['engineering']);
      await own.api(user, 'POST', '/v1/grants', { target: 'echo' });
      await own.server.ctx.audit.flush();
      let listed: { count: number }[] = [];
      // Wait for the server's own timer: the first signed checkpoint covers the events so far.
      for (let i = 0; i < 300 && listed.length === 0; i++) {
        listed = (await own.api<{ checkpoints: { count: number }[] }>(admin, 'GET', '/v1/audit/checkpoints')).body.checkpoints;
        if (listed.length === 0) await new Promise((r) => setTimeout(r, 100));
      }
      expect(listed.length).toBeGreaterThan(0);
      expect(listed[0]!.count).toBeGreaterThanOrEqual(3);
      const ok = await runCli(['audit', 'verify', '--json'], { env: { GATE_TOKEN: admin, GATE_SERVER: own.url } });
      const result = JSON.parse(ok.stdout) as { ok: boolean; checkpoints: { checked: number } };
      expect(result.ok).toBe(true);
      expect(result.checkpoints.checked).toBeGreaterThanOrEqual(listed.length);
    } finally {
      await own.close();
    }
  });
});

