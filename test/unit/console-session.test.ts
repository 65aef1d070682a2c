import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { createSealer } from '../../src/server/console/session.js';
import { loadOrCreateSigningKey } from '../../src/server/keys.js';

const dirs: string[] = [];
const dir = async () => {
  const d = await mkdtemp(join(tmpdir(), 'gate-console-key-'));
  dirs.push(d);
  return d;
};
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

const session = { token: 'gate-token-placeholder', csrf: 'csrf-placeholder' };
const inAnHour = () => new Date(Date.now() + 3600_000);

it('a console session sealed by one replica opens on another that shares the signing key, and after a restart', async () => {
  const a = await dir();
  const b = await dir();
  const keyA = await loadOrCreateSigningKey(a);
  // The second replica is given the first one's key file, as docs/deploy.md says.
  await copyFile(join(a, 'signing-key.jwk.json'), join(b, 'signing-key.jwk.json'));
  const keyB = await loadOrCreateSigningKey(b);
  const cookie = await createSealer(keyA.derive('console-cookie')).seal(session, inAnHour(), 'session');

  expect(await createSealer(keyB.derive('console-cookie')).open(cookie, 'session', new Date())).toMatchObject(session);
  // A restart loads the key again from the data dir: the session still opens.
  const restarted = await loadOrCreateSigningKey(a);
  expect(await createSealer(restarted.derive('console-cookie')).open(cookie, 'session', new Date())).toMatchObject(session);
});

it('a server with another signing key, or another purpose of the same key, cannot open it', async () => {
  const key = await loadOrCreateSigningKey(await dir());
  const other = await loadOrCreateSigningKey(await dir());
  const cookie = await createSealer(key.derive('console-cookie')).seal(session, inAnHour(), 'session');
  expect(await createSealer(other.derive('console-cookie')).open(cookie, 'session', new Date())).toBeUndefined();
  expect(await createSealer(key.derive('something-else')).open(cookie, 'session', new Date())).toBeUndefined();
  // The sign-in flow's cookie is never taken for a session.
  expect(await createSealer(key.derive('console-cookie')).open(cookie, 'flow', new Date())).toBeUndefined();
});
