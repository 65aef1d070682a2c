import type { FastifyInstance } from 'fastify';
import { VERSION } from '../../version.js';
import type { ServerContext } from '../context.js';

/** Routes anyone may call: health and what the CLI needs to log in. */
export function publicRoutes(app: FastifyInstance, ctx: ServerContext): void {
  app.get('/v1/health', async () => ({ status: 'ok', version: VERSION }));

  app.get('/v1/config', async () => {
    // A server for CI only (workload rules, service tokens) has no IdP for
    // people, but still tells jobs which audience to ask their platform for.
    const oidc = ctx.oidc();
    return {
      issuer: oidc?.issuer,
      client_id: oidc?.client_id,
      scopes: oidc?.scopes ?? [],
      workload_audience: ctx.config.identity.workloads[0]?.audience,
      version: VERSION,
    };
  });
}
