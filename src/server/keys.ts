import { hkdfSync, randomUUID } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { exportJWK, generateKeyPair, importJWK, type JWK, type CryptoKey } from 'jose';

export interface SigningKey {
  kid: string;
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  publicJwk: JWK;
  /**
   * A 32-byte secret for `purpose`, derived from the private key (HKDF-SHA256):
   * the same on every replica that shares this key, and across restarts.
   */
  derive(purpose: string): Uint8Array;
}

/**
 * Loads the server's Ed25519 signing key from the data dir, creating it (0600)
 * on first start. Replicas sharing a data dir share the key.
 */
export async function loadOrCreateSigningKey(dataDir: string): Promise<SigningKey> {
  const file = join(dataDir, 'signing-key.jwk.json');
  let stored: { kid: string; jwk: JWK } | undefined;
  try {
    stored = JSON.parse(await readFile(file, 'utf8'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  if (!stored) {
    const { privateKey } = await generateKeyPair('EdDSA', { crv: 'Ed25519', extractable: true });
    stored = { kid: randomUUID(), jwk: await exportJWK(privateKey) };
    await mkdir(dataDir, { recursive: true, mode: 0o700 });
    // `wx`: two processes starting at once must not overwrite each other's key.
    try {
      await writeFile(file, JSON.stringify(stored), { mode: 0o600, flag: 'wx' });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      stored = JSON.parse(await readFile(file, 'utf8'));
    }
  }
  const { kid, jwk } = stored as { kid: string; jwk: JWK };
  const { d: _private, ...pub } = jwk;
  return {
    kid,
    privateKey: (await importJWK(jwk, 'EdDSA')) as CryptoKey,
    publicKey: (await importJWK(pub, 'EdDSA')) as CryptoKey,
    publicJwk: { ...pub, kid, alg: 'EdDSA', use: 'sig' },
    derive: (purpose) => new Uint8Array(hkdfSync('sha256', Buffer.from(jwk.d ?? '', 'base64url'), kid, `gate ${purpose}`, 32)),
  };
}
