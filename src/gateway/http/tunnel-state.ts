import type { HttpTarget } from '../../config/http-target.js';
import type { GatewayContext, GrantEnded } from '../types.js';
import type { HttpRefusal } from './errors.js';
import type { HttpMasker } from './masking.js';
import type { HttpUpstream } from './upstream.js';

/** Per-tunnel state the request and upgrade paths share. */
export interface HttpTunnel {
  ctx: GatewayContext<HttpTarget>;
  masker: HttpMasker | undefined;
  /** Resolves (once per tunnel) the credential and the pool. */
  upstream(): Promise<HttpUpstream>;
  /** Registers what ends one in-flight exchange when the grant ends; returns the unregister. */
  track(stop: (refusal: HttpRefusal) => void): () => void;
  /** Why access ended, once it has; else undefined. */
  ended(): HttpRefusal | undefined;
}

/** The client's answer once the grant is over: 401 when it expired, 403 when it was revoked. */
export function grantEndedRefusal(ctx: GatewayContext<HttpTarget>): HttpRefusal {
  const reason = ctx.signal.reason as Partial<GrantEnded> | undefined;
  const message = `gate: access to target "${ctx.targetName}" has ended: ${reason?.message ?? 'the grant is no longer active'}.`;
  switch (reason?.reason) {
    case 'expired':
      return { status: 401, code: 'grant_expired', message, details: { grant_id: ctx.grant.id } };
    case 'server_shutdown':
      return { status: 503, code: 'server_shutdown', message };
    default:
      return { status: 403, code: 'grant_revoked', message, details: { grant_id: ctx.grant.id } };
  }
}
