import { ApiError } from '../../api/errors.js';
import type { GateConfig } from '../../config/schema.js';
import { isSelf } from '../identity/principal.js';
import { approverGroupsFor } from './policy.js';
import type { CommandApproval, Grant } from './types.js';

/** The caller of a grant operation. */
export interface Actor {
  sub: string;
  /** Identity key (src/server/identity/principal.ts): what ownership compares. */
  key: string;
  /** The person this actor acts for (null: a workload, or a token made by one). */
  actsFor: string | null;
  /** When the credential that authenticated this request ends (null: never, for this check). */
  expiresAt?: Date | null;
  email?: string;
  groups: string[];
  kind: string;
  ip?: string;
  correlationId?: string;
}

export function isAdminActor(config: GateConfig, who: Actor): boolean {
  return who.groups.some((g) => config.admins.includes(g));
}

const inAny = (who: Actor, groups: string[]) => who.groups.some((g) => groups.includes(g));

/** Approvers of the grant's own policy. */
export function isGrantApprover(who: Actor, grant: Grant): boolean {
  return inAny(who, grant.approvers);
}

/** Approvers of any policy on the grant's target (they see and may revoke its grants). */
export function isTargetApprover(config: GateConfig, who: Actor, target: string): boolean {
  return inAny(who, approverGroupsFor(config, target));
}

/**
 * Who sees a grant: its requester, an approver of its target, an admin.
 * Everyone else gets 404, so a grant id reveals nothing.
 */
export function canSeeGrant(config: GateConfig, who: Actor, grant: Grant): boolean {
  return isSelf(grant.requester_key, who) || isAdminActor(config, who) || isGrantApprover(who, grant) || isTargetApprover(config, who, grant.target);
}

/** Requester, an approver of the grant or its target, or an admin may revoke. */
export function canRevoke(config: GateConfig, who: Actor, grant: Grant): boolean {
  return canSeeGrant(config, who, grant);
}

export function canSeeApproval(config: GateConfig, who: Actor, approval: CommandApproval): boolean {
  return isSelf(approval.requester_key ?? `legacy-user:${approval.requester}`, who) || isAdminActor(config, who) || inAny(who, approval.approvers);
}

/** Targets whose grants the caller sees as an approver. */
export function targetsApprovedByActor(config: GateConfig, who: Actor): string[] {
  return Object.keys(config.targets).filter((t) => isTargetApprover(config, who, t));
}

/**
 * Four eyes count people. A service token acts for the person who created it
 * and approves only when `approvals.tokens_may_approve` is on; a workload acts
 * for nobody and never approves. Throws 403 naming why.
 */
export function refuseTokenApprover(config: GateConfig, who: Actor, what: string): void {
  if (who.kind === 'user') return;
  if (!config.approvals.tokens_may_approve) {
    throw new ApiError(
      'forbidden',
      `A ${who.kind === 'service' ? 'service token' : 'workload'} cannot approve or deny ${what}: approvals count people, and approvals.tokens_may_approve is off.`,
    );
  }
  if (!who.actsFor) {
    throw new ApiError('forbidden', `${who.sub} acts for no person, so it cannot approve or deny ${what}: approvals count people.`);
  }
}
