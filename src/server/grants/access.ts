import type { GateConfig } from '../../config/schema.js';
import { approverGroupsFor } from './policy.js';
import type { CommandApproval, Grant } from './types.js';

/** The caller of a grant operation. */
export interface Actor {
  sub: string;
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
  return grant.requester === who.sub || isAdminActor(config, who) || isGrantApprover(who, grant) || isTargetApprover(config, who, grant.target);
}

/** Requester, an approver of the grant or its target, or an admin may revoke. */
export function canRevoke(config: GateConfig, who: Actor, grant: Grant): boolean {
  return canSeeGrant(config, who, grant);
}

export function canSeeApproval(config: GateConfig, who: Actor, approval: CommandApproval): boolean {
  return approval.requester === who.sub || isAdminActor(config, who) || inAny(who, approval.approvers);
}

/** Targets whose grants the caller sees as an approver. */
export function targetsApprovedByActor(config: GateConfig, who: Actor): string[] {
  return Object.keys(config.targets).filter((t) => isTargetApprover(config, who, t));
}
