import type { Identity } from '../api/wire.js';

/**
 * The one persistence interface the server uses. Every method is async, even
 * where SQLite is not, so a PostgreSQL store fits the same shape.
 */
export interface Store {
  readonly kind: 'sqlite' | 'postgres';
  /** Remembers who logged in last (for approver lists and `gate audit`). */
  recordLogin(who: Identity, at: Date): Promise<void>;
  close(): Promise<void>;
}
