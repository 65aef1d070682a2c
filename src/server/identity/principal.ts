/**
 * Identity keys: the one string gate compares and stores wherever it asks
 * "is this the same principal?" (grant ownership, tunnels, approvals,
 * sessions, audit). A bare `sub` is not enough: a CI job's subject claim is
 * whatever its platform puts there, and may well equal a person's `sub`.
 *
 * - a person:        `user:<issuer>#<sub>` (OIDC forbids a `#` in an issuer URL)
 * - a workload:      `workload:<rule>#<subject>` (rule names are config names)
 * - a service token: `service:<token id>` (never its name: names can be reused)
 *
 * Rows written before keys existed carry `legacy-user:<sub>` (a person, by the
 * audit log's record of who requested them) or `legacy-unowned:<sub>` (a
 * workload or token: nobody can prove to be it again, so nobody owns them).
 */
export const LEGACY_USER_PREFIX = 'legacy-user:';

export type PrincipalKind = 'user' | 'workload' | 'service';

export const userKey = (issuer: string, sub: string): string => `user:${issuer}#${sub}`;
export const workloadKey = (rule: string, sub: string): string => `workload:${rule}#${sub}`;
export const serviceKey = (tokenId: string): string => `service:${tokenId}`;

/** The parts of a caller identity comparisons need. */
export interface Principal {
  /** The identity key (see above). */
  key: string;
  kind: string;
  sub: string;
  /**
   * The person this principal acts for: a person acts for themselves, a
   * service token for the person who created it, a workload for nobody (null).
   */
  actsFor: string | null;
}

/** True when `stored` (a key kept in a row) names `who`; legacy rows match people by `sub` only. */
export function isSelf(stored: string | null | undefined, who: Pick<Principal, 'key' | 'kind' | 'sub'>): boolean {
  if (!stored) return false;
  if (stored === who.key) return true;
  return who.kind === 'user' && stored === `${LEGACY_USER_PREFIX}${who.sub}`;
}

/** Every stored key that may name `who` (for store queries). */
export function keysOf(who: Pick<Principal, 'key' | 'kind' | 'sub'>): string[] {
  return who.kind === 'user' ? [who.key, `${LEGACY_USER_PREFIX}${who.sub}`] : [who.key];
}

/** True when two stored person keys are the same person (a legacy key and a full one with the same sub count as one). */
export function samePerson(a: string | null | undefined, b: string | null | undefined): boolean {
  if (!a || !b) return false;
  if (a === b) return true;
  const sub = (k: string) => (k.startsWith(LEGACY_USER_PREFIX) ? k.slice(LEGACY_USER_PREFIX.length) : k.startsWith('user:') ? k.slice(k.indexOf('#') + 1) : undefined);
  const legacy = (k: string) => k.startsWith(LEGACY_USER_PREFIX);
  return (legacy(a) || legacy(b)) && sub(a) !== undefined && sub(a) === sub(b);
}

/** True for a key that names a person (a full `user:` key or a legacy one). */
export function isPersonKey(key: string | null | undefined): key is string {
  return !!key && (key.startsWith('user:') || key.startsWith(LEGACY_USER_PREFIX));
}
