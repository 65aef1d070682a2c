/**
 * What the fault suite asks of recordings once the fault is over: every
 * recorded `gate psql` session is in the store, closed, its hash chain
 * intact, and holds every answer its session was shown.
 */
import { expect } from 'vitest';
import { runGate } from '../../helpers/gate-bin.js';
import type { PsqlSession } from './clients.js';

/** Checks the recordings of `sessions` (all of `target`'s); returns how many were checked. */
export async function expectRecordingsComplete(sessions: PsqlSession[], target = 'db'): Promise<number> {
  // The next gate command sends what a session's CLI could not upload (its spool, in its config dir).
  const listed = await Promise.all([...new Set(sessions.map((s) => s.env))].map((env) => runGate(['sessions', '--json', '--target', target], { env })));
  for (const l of listed) expect(l.code).toBe(0);
  const env = sessions[0]!.env;
  const last = await runGate(['sessions', '--json', '--target', target], { env });
  const ids = (JSON.parse(last.stdout) as { sessions: { id: string }[] }).sessions.map((x) => x.id);
  expect(ids).toHaveLength(sessions.length);
  const recorded: string[] = [];
  for (const id of ids) {
    const verified = await runGate(['sessions', 'verify', id, '--json'], { env });
    expect({ id, code: verified.code, out: JSON.parse(verified.stdout) }).toMatchObject({ id, code: 0, out: { ok: true, closed: true, incomplete: false } });
    recorded.push((await runGate(['sessions', 'export', id], { env })).stdout);
  }
  for (const s of sessions) {
    // A session cut before its first answer showed nothing to look for.
    if (s.acked.length === 0) continue;
    const first = new RegExp(`${s.acked[0]}(?!\\d)`);
    const cast = recorded.find((c) => first.test(c));
    expect(cast, `no recording holds ${s.name}'s output (${s.acked.length} answers shown, the first ${s.acked[0]})`).toBeDefined();
    for (const m of s.acked) expect(cast).toContain(m);
  }
  return ids.length;
}
