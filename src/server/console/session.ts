/**
 * Console sessions are stateless: an encrypted, authenticated cookie (JWE,
 * dir + A256GCM, jose) holding the gate token the user's sign-in was exchanged
 * for and the session's CSRF token. No store table and no migration. The key
 * is derived from the server's signing key, which every replica shares, so a
 * session sealed by one replica opens on another and survives a restart.
 */
import { randomBytes } from 'node:crypto';
import { EncryptJWT, jwtDecrypt } from 'jose';

export interface ConsoleSession {
  /** The gate token (same as `gate login` gets): every console action calls the API with it. */
  token: string;
  /** Per-session CSRF token, in every form. */
  csrf: string;
  /** Seconds since the epoch. */
  exp: number;
}

/** The sign-in in flight: PKCE verifier, state, where to go afterwards. */
export interface FlowState {
  verifier: string;
  state: string;
  back: string;
}

export interface Sealer {
  seal(payload: Record<string, unknown>, expiresAt: Date, purpose: string): Promise<string>;
  open<T>(jwe: string | undefined, purpose: string, now: Date): Promise<T | undefined>;
}

export function createSealer(key: Uint8Array): Sealer {
  return {
    async seal(payload, expiresAt, purpose) {
      return new EncryptJWT({ ...payload, purpose })
        .setProtectedHeader({ alg: 'dir', enc: 'A256GCM' })
        .setExpirationTime(Math.floor(expiresAt.getTime() / 1000))
        .encrypt(key);
    },
    async open<T>(jwe: string | undefined, purpose: string, now: Date) {
      if (!jwe) return undefined;
      try {
        const { payload } = await jwtDecrypt(jwe, key, { currentDate: now });
        // A flow cookie is never a session and the other way round.
        return payload.purpose === purpose ? (payload as T) : undefined;
      } catch {
        return undefined;
      }
    },
  };
}

export const newCsrfToken = (): string => randomBytes(24).toString('base64url');
