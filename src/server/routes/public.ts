import type { FastifyInstance } from 'fastify';
import { VERSION } from '../../version.js';
import type { ServerContext } from '../context.js';

/** Routes anyone may call: health and what the CLI needs to log in. */
export function publicRoutes(app: FastifyInstance, ctx: ServerContext): void {
  app.get('/v1/health', async () => ({ status: 'ok', version: VERSION }));

  // Liveness (/v1/health) says the process serves; readiness says it can do its work, which needs the store.
  app.get('/v1/ready', async (_req, reply) => {
    const reason = await storeUnreachable(ctx);
    if (reason === undefined) return { status: 'ready', store: 'ok', version: VERSION };
    reply.code(503);
    return { status: 'unavailable', store: 'unreachable', message: `The store cannot be reached (${reason}): grants and audit are refused until it is back.`, version: VERSION };
  });

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

const READY_TIMEOUT_MS = 2_000;

/** Undefined when a cheap store read answers in time, else why not (no host or credential in it). */
async function storeUnreachable(ctx: ServerContext): Promise<string | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<string>((resolve) => {
    timer = setTimeout(() => resolve(`no answer within ${READY_TIMEOUT_MS / 1000} s`), READY_TIMEOUT_MS);
  });
  try {
    return await Promise.race([
      ctx.store.audit.tip().then(
        () => undefined,
        (err: { code?: string }) => (err?.code && /^[0-9A-Z]{5}$|^E[A-Z]+$/.test(err.code) ? err.code : 'error'),
      ),
      timeout,
    ]);
  } finally {
    clearTimeout(timer);
  }
}
