import type { GatewayContext } from './types.js';

/**
 * Fail closed: while audit events cannot be kept anywhere (the store, the
 * spool and the journal all refuse them), nothing new is forwarded. Returns
 * the sentence the client is shown, naming what is held back (`statements`,
 * `requests`, `calls`), or undefined when audit is fine.
 */
export function auditRefusal(ctx: Pick<GatewayContext, 'auditUnavailable' | 'targetName'>, what: string): string | undefined {
  const why = ctx.auditUnavailable?.();
  return why === undefined ? undefined : `gate: ${why}; ${what} are not forwarded to ${ctx.targetName} until audit events can be kept again`;
}
