import { authenticate } from './auth.js';
import type { ServerContext } from './context.js';
import { actorOfCaller } from './grants/actor.js';
import { isSelf } from './identity/principal.js';
import type { TunnelDeps } from './tunnel-endpoint.js';
import { tunnelLimitsFrom } from './tunnel-limits.js';
import { heartbeatFrom } from '../tunnel/heartbeat.js';
import { readEnv } from '../env.js';

/**
 * Connects the tunnel endpoint to the rest of the server: authentication, the
 * grant service (active check, end-of-grant push, command approvals) and the
 * audit log.
 */
export function tunnelDeps(ctx: ServerContext): TunnelDeps {
  const { tunnelPing } = readEnv(ctx.env);
  return {
    log: ctx.log,
    env: ctx.env,
    targets: ctx.config.targets,
    authenticate: (header) => authenticate(ctx, header),
    async activeGrant(id, caller) {
      const grant = await ctx.grants.activeGrant(id);
      // Someone else's grant id reveals nothing: same answer as a missing one.
      if (!grant || !isSelf(grant.requester_key, caller)) {
        let state: string | undefined;
        try {
          state = (await ctx.grants.get(actorOfCaller(caller), id)).state;
        } catch {
          state = undefined;
        }
        if (state && state !== 'active') return { refused: `Grant ${id} is ${state}; request a new one with \`gate request\`.`, status: 403 };
        return { refused: `No active grant ${id} of yours.`, status: 404 };
      }
      return {
        id: grant.id,
        target: grant.target,
        role: grant.role,
        user: grant.requester,
        email: grant.requester_email,
        expiresAt: new Date(grant.expires_at!),
      };
    },
    onGrantEnded(id, cb) {
      return ctx.grants.onEnded(id, (reason, grant) =>
        cb({ reason, message: `gate grant ${grant.id} ${reason === 'revoked' ? 'was revoked' : 'expired'}` }),
      );
    },
    audit(caller, grant, meta, event) {
      ctx.audit.fromGateway(event, { grant, actorKind: caller.kind, actorKey: caller.key, sessionId: meta.sessionId, correlationId: meta.correlationId, ip: meta.ip });
    },
    auditSync: () => ctx.audit.sync(),
    auditUnavailable: () => ctx.audit.unavailable(),
    forwardCancel: ctx.store.cancels && ((key) => ctx.store.cancels!.ask(key)),
    requestApproval: (_caller, grant, input) => ctx.grants.requestCommandApproval({ grant, ...input }),
    session: (id) => ctx.store.sessions.get(id),
    limits: tunnelLimitsFrom(ctx.config.limits),
    heartbeat: heartbeatFrom(tunnelPing.interval, tunnelPing.timeout),
  };
}
