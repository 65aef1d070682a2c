import { type JWTPayload, jwtVerify } from 'jose';
import type { Identity } from '../../api/wire.js';
import type { WorkloadRule } from '../../config/schema.js';
import { describeJoseError } from '../tokens.js';
import { createIssuerKeys, type IssuerKeys, type IssuerKeysOptions } from './issuer-keys.js';
import { TokenRejected } from './oidc.js';

/** Algorithms a workload token may use (CI platforms sign with RS256 or ES256); never `none` or HMAC. */
export const WORKLOAD_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'EdDSA'];

/** A gate identity that came from a workload trust rule. */
export interface WorkloadIdentity extends Identity {
  kind: 'workload';
  /** The name of the rule that admitted the token. */
  workload: string;
}

/** Why one rule did not admit a token, for the server log. */
export interface RuleMiss {
  rule: string;
  reason: string;
}

/** No rule admitted the token. `misses` names every rule tried and why; it goes to the log only. */
export class WorkloadRejected extends TokenRejected {
  readonly misses: RuleMiss[];
  constructor(reason: string, misses: RuleMiss[] = []) {
    super(reason);
    this.name = 'WorkloadRejected';
    this.misses = misses;
  }
}

export type WorkloadVerifier = {
  /** True when some rule trusts `issuer` (the token's unverified `iss`), so this verifier should decide. */
  handles(issuer: string | undefined): boolean;
  /** Verifies the token and returns the identity of the first rule that fits; throws WorkloadRejected. */
  verify(token: string): Promise<WorkloadIdentity>;
};

/**
 * Verifies CI platforms' OIDC tokens against `identity.workloads` trust rules.
 * The signature, issuer and expiry are checked once per token against the
 * issuer's JWKS; then the rules for that issuer are tried in config order and
 * the first whose audience and `match` fit wins.
 */
export function createWorkloadVerifier(rules: WorkloadRule[], options: IssuerKeysOptions = {}): WorkloadVerifier {
  const keysByIssuer = new Map<string, IssuerKeys>();
  for (const rule of rules) if (!keysByIssuer.has(rule.issuer)) keysByIssuer.set(rule.issuer, createIssuerKeys(rule.issuer, options));

  return {
    handles: (issuer) => issuer !== undefined && keysByIssuer.has(issuer),
    async verify(token) {
      const { iss } = safeDecode(token);
      const keys = iss === undefined ? undefined : keysByIssuer.get(iss);
      if (!iss || !keys) throw new WorkloadRejected(`no workload rule trusts issuer ${iss ?? '(none)'}`);
      const candidates = rules.filter((r) => r.issuer === iss);
      let claims: JWTPayload;
      try {
        ({ payload: claims } = await jwtVerify(token, await keys(), {
          issuer: iss,
          algorithms: WORKLOAD_ALGORITHMS,
          clockTolerance: 30,
          requiredClaims: ['exp', 'iat'],
        }));
      } catch (err) {
        const reason = err instanceof TokenRejected ? err.reason : describeJoseError(err);
        throw new WorkloadRejected(reason, candidates.map((r) => ({ rule: r.name, reason })));
      }
      const misses: RuleMiss[] = [];
      for (const rule of candidates) {
        const miss = ruleMiss(rule, claims);
        if (miss) {
          misses.push({ rule: rule.name, reason: miss });
          continue;
        }
        const sub = claims[rule.subject_claim];
        if (typeof sub !== 'string' || sub === '') {
          misses.push({ rule: rule.name, reason: `claim "${rule.subject_claim}" (subject_claim) is missing` });
          continue;
        }
        return { sub, groups: [...rule.groups], kind: 'workload', workload: rule.name };
      }
      throw new WorkloadRejected('no workload rule matched the token', misses);
    },
  };
}

/** Why `rule` does not fit the verified `claims`, or undefined when it does. */
export function ruleMiss(rule: Pick<WorkloadRule, 'audience' | 'match'>, claims: JWTPayload): string | undefined {
  const aud = claims.aud;
  const audiences = Array.isArray(aud) ? aud : typeof aud === 'string' ? [aud] : [];
  if (!audiences.includes(rule.audience)) return `audience ${JSON.stringify(audiences)} does not include ${JSON.stringify(rule.audience)}`;
  for (const [claim, expected] of Object.entries(rule.match)) {
    const actual = claims[claim];
    if (actual === undefined) return `claim "${claim}" is missing`;
    const value = typeof actual === 'string' ? actual : JSON.stringify(actual);
    const patterns = Array.isArray(expected) ? expected : [expected];
    if (!patterns.some((p) => claimMatches(p, value))) {
      return `claim "${claim}" is ${JSON.stringify(value)}, expected ${patterns.map((p) => JSON.stringify(p)).join(' or ')}`;
    }
  }
  return undefined;
}

/**
 * One `match` pattern against a claim value: string equality, or a prefix
 * match when the pattern ends in `*` (`refs/heads/*`). Only a trailing `*` is
 * special, so `repo:org/*` cannot widen into something unexpected mid-string.
 */
export function claimMatches(pattern: string, value: string): boolean {
  if (pattern.endsWith('*')) return value.startsWith(pattern.slice(0, -1));
  return value === pattern;
}

function safeDecode(token: string): { iss?: string } {
  try {
    const part = token.split('.')[1];
    if (!part) return {};
    const payload = JSON.parse(Buffer.from(part, 'base64url').toString('utf8')) as { iss?: unknown };
    return typeof payload.iss === 'string' ? { iss: payload.iss } : {};
  } catch {
    return {};
  }
}
