/**
 * Client side of SCRAM-SHA-256 (RFC 5802/7677) as PostgreSQL speaks it: the
 * user name in the client-first message is empty (the server uses the startup
 * user) and no channel binding is offered ("n,,").
 */
import { createHash, createHmac, pbkdf2, randomBytes, timingSafeEqual } from 'node:crypto';
import { promisify } from 'node:util';

const pbkdf2Async = promisify(pbkdf2);

/**
 * PostgreSQL sends a role the same salt and iteration count at every login, so
 * the 4096-round PBKDF2 (most of a new tunnel's CPU) is done once per
 * password, salt and count and kept in memory only, beside the password the
 * server already holds. The key is a hash, so a rotated password or a new salt
 * misses.
 */
const SALTED_CACHE_ENTRIES = 256;
const saltedCache = new Map<string, Buffer>();

async function saltedPassword(password: string, salt: string, iterations: number): Promise<Buffer> {
  const key = createHash('sha256').update(`${iterations}\0${salt}\0`).update(password, 'utf8').digest('base64');
  const hit = saltedCache.get(key);
  if (hit) return hit;
  const salted = await pbkdf2Async(password, Buffer.from(salt, 'base64'), iterations, 32, 'sha256');
  if (saltedCache.size >= SALTED_CACHE_ENTRIES) saltedCache.delete(saltedCache.keys().next().value as string);
  saltedCache.set(key, salted);
  return salted;
}

export interface ScramClient {
  /** The SASLInitialResponse payload. */
  clientFirst: Buffer;
  /** Takes the server-first message, returns the client-final payload. */
  respond(serverFirst: string): Promise<Buffer>;
  /** Checks the server-final message; throws when the server cannot prove it knows the password. */
  verify(serverFinal: string): void;
}

/**
 * `username` stays empty for PostgreSQL (it takes the startup user); `nonce` is
 * injectable for test vectors.
 */
export function scramClient(password: string, nonce = randomBytes(18).toString('base64'), username = ''): ScramClient {
  const clientFirstBare = `n=${username},r=${nonce}`;
  let expectedServerSignature: Buffer | undefined;
  return {
    clientFirst: Buffer.from(`n,,${clientFirstBare}`, 'utf8'),
    async respond(serverFirst) {
      const attrs = parseAttributes(serverFirst);
      const serverNonce = attrs.get('r');
      const salt = attrs.get('s');
      const iterations = Number(attrs.get('i'));
      if (!serverNonce || !salt || !Number.isInteger(iterations) || iterations < 1) {
        throw new Error('SCRAM: malformed server-first message');
      }
      if (!serverNonce.startsWith(nonce) || serverNonce.length === nonce.length) {
        throw new Error('SCRAM: server nonce does not extend the client nonce');
      }
      const salted = await saltedPassword(password, salt, iterations);
      const clientKey = hmac(salted, 'Client Key');
      const storedKey = createHash('sha256').update(clientKey).digest();
      const clientFinalWithoutProof = `c=biws,r=${serverNonce}`;
      const authMessage = `${clientFirstBare},${serverFirst},${clientFinalWithoutProof}`;
      const clientSignature = hmac(storedKey, authMessage);
      const proof = Buffer.alloc(clientKey.length);
      for (let i = 0; i < proof.length; i++) proof[i] = clientKey[i]! ^ clientSignature[i]!;
      expectedServerSignature = hmac(hmac(salted, 'Server Key'), authMessage);
      return Buffer.from(`${clientFinalWithoutProof},p=${proof.toString('base64')}`, 'utf8');
    },
    verify(serverFinal) {
      const attrs = parseAttributes(serverFinal);
      if (attrs.has('e')) throw new Error(`SCRAM: server error ${attrs.get('e')}`);
      const v = attrs.get('v');
      if (!v || !expectedServerSignature) throw new Error('SCRAM: missing server signature');
      const got = Buffer.from(v, 'base64');
      if (got.length !== expectedServerSignature.length || !timingSafeEqual(got, expectedServerSignature)) {
        throw new Error('SCRAM: server signature does not match');
      }
    },
  };
}

function hmac(key: Buffer, data: string): Buffer {
  return createHmac('sha256', key).update(data).digest();
}

function parseAttributes(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of text.split(',')) {
    const eq = part.indexOf('=');
    if (eq === 1) out.set(part[0]!, part.slice(2));
  }
  return out;
}
