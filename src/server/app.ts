import { httpTargetWarnings } from '../config/http-target.js';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import Fastify, { type FastifyInstance } from 'fastify';
import { ApiError } from '../api/errors.js';
import { UsageError } from '../errors.js';
import { type GateConfig, parseDuration } from '../config/schema.js';
import { openStore } from '../store/open.js';
import type { Store } from '../store/store.js';
import type { ServerContext } from './context.js';
import { createOidcVerifier, type TokenVerifier } from './identity/oidc.js';
import { loadOrCreateSigningKey } from './keys.js';
import { createLogger, type Logger, redact } from './log.js';
import { createCheckpointer } from './audit/checkpoints.js';
import { isStoreUnavailable, STORE_UNAVAILABLE_MESSAGE } from './store-errors.js';
import { createAuditJournal } from './audit/journal.js';
import { lockDataDir } from './data-dir-lock.js';
import { createAuditSpool } from './audit/spool.js';
import { createAuditLog } from './audit/log.js';
import { createGrantService } from './grants/service.js';
import { createNotifier } from './notify/index.js';
import type { DelivererOptions } from './notify/deliverer.js';
import { approvalRoutes } from './routes/approvals.js';
import { auditRoutes } from './routes/audit.js';
import { authRoutes } from './routes/auth.js';
import { grantRoutes } from './routes/grants.js';
import { notificationRoutes } from './routes/notifications.js';
import { pendingRoutes } from './routes/pending.js';
import { publicRoutes } from './routes/public.js';
import { sessionRoutes } from './routes/sessions.js';
import { targetRoutes } from './routes/targets.js';
import { tokenRoutes } from './routes/tokens.js';
import { createWorkloadVerifier } from './identity/workload.js';
import { closeHttpPools } from '../gateway/http/upstream.js';
import { cancelHeldQuery } from '../gateway/postgres/cancel-registry.js';
import { tunnelDeps } from './gateway-deps.js';
import { clientErrorHandler, httpServerTimeouts } from './http-limits.js';
import { attachTunnelEndpoint } from './tunnel-endpoint.js';
import { consoleRoutes } from './console/routes.js';

export interface ServerOptions {
  config: GateConfig;
  dataDir: string;
  /** Default: what `config.store` names (SQLite in `dataDir` unless `store: postgres://…`). */
  store?: Store;
  logger?: Logger;
  env?: NodeJS.ProcessEnv;
  now?: () => Date;
  /** How often events spooled while the store was down are retried into it (default 1 s; tests lower it). */
  auditRetryMs?: number;
  /** Least time between workload JWKS refetches on an unknown key id (default 30 s; tests lower it). */
  jwksCooldownMs?: number;
  /** Notification retry timing (tests shorten it). */
  notify?: Pick<DelivererOptions, 'retryBaseMs' | 'retryMaxMs' | 'pollMs'>;
}

/** A raw HTTP handler mounted under a path prefix ahead of the API (the dev IdP). */
export type MountedHandler = (req: IncomingMessage, res: ServerResponse) => void;

export interface GateServer {
  app: FastifyInstance;
  ctx: ServerContext;
  /** Serves every request under `prefix` with `handler` (bodies untouched by fastify). */
  mount(prefix: string, handler: MountedHandler): void;
  /** Replaces the OIDC settings, e.g. once the embedded IdP knows its URL. */
  setOidc(oidc: NonNullable<GateConfig['identity']['oidc']>): void;
  /** Listens and returns the base URL (http://host:port). */
  listen(options: { host?: string; port?: number }): Promise<string>;
  close(): Promise<void>;
}

const ROUTES = [publicRoutes, authRoutes, targetRoutes, grantRoutes, approvalRoutes, pendingRoutes, auditRoutes, tokenRoutes, sessionRoutes, notificationRoutes];

/**
 * Builds the gate server without listening (fastify's testing guide): tests
 * call `listen({ port: 0 })` and `close()` in teardown.
 */
export async function buildServer(options: ServerOptions): Promise<GateServer> {
  const log = options.logger ?? createLogger();
  for (const w of httpTargetWarnings(options.config.targets)) log.warn(w.message, { target: w.target });
  const store = options.store ?? (await openStore(options.config, options.dataDir, { env: options.env, log }));
  const key = await loadOrCreateSigningKey(options.dataDir).catch(async (err) => {
    if (!options.store) await store.close().catch(() => {});
    throw err;
  });
  // The audit journal below has one writer per data dir (src/server/data-dir-lock.ts).
  const lock = await lockDataDir(options.dataDir);
  if (lock.busy) {
    log.warn(
      'another gate server is running on this data dir: this one runs without the audit journal, so a kill -9 of it can lose the audit events of its last 10 ms; give every replica its own data dir (docs/deploy.md)',
      { data_dir: options.dataDir, lock: lock.busy.path },
    );
  } else if (lock.unlocked) log.warn('the data dir is not locked against a second gate server', { data_dir: options.dataDir, reason: lock.unlocked });
  const mounts: { prefix: string; handler: MountedHandler }[] = [];

  const now = options.now ?? (() => new Date());
  const audit = createAuditLog(
    store.audit,
    now,
    (err, lost) => log.error('audit append failed', { action: lost.action, events: lost.events, error: String((err as Error)?.message ?? err) }),
    // Gateway events are journaled before their answer leaves (a kill -9 loses none); while the store
    // cannot take events they wait, fsync'd, in the spool. Both live in the data dir (docs/store.md).
    {
      journal: lock.busy ? undefined : createAuditJournal(options.dataDir),
      spool: createAuditSpool(options.dataDir),
      retryMs: options.auditRetryMs,
      report: (level, message, fields) => log[level](message, fields),
    },
  );
  const notifier = createNotifier({ config: options.config, store, audit, log, now, env: options.env ?? process.env, tuning: options.notify });
  // Grant and approval events enqueue their notifications as they are audited (src/server/notify).
  const grants = createGrantService({ config: options.config, store, audit: notifier.watch(audit), log, now });
  const checkpoints = createCheckpointer({ audit, repo: store.audit, key, config: options.config.audit, log, now });
  // Grants whose time passed while the server was down end now; the rest get their timers back.
  await grants.start();
  // Notifications a stopped server left pending go out now.
  notifier.start();
  // Another replica's client may cancel a query this one holds (src/store/postgres/cancel-bus.ts).
  const stopServingCancels = store.cancels?.serve((k) => cancelHeldQuery(k.pid, k.key, k.grantId));

  let oidc = options.config.identity.oidc;
  let verifier: TokenVerifier | undefined;
  const ctx: ServerContext = {
    config: options.config,
    dataDir: options.dataDir,
    store,
    key,
    log,
    tokenIssuer: `gate:${key.kid}`,
    tokenTtlMs: parseDuration(options.config.server.token_ttl),
    env: options.env ?? process.env,
    now,
    grants,
    audit,
    checkpoints,
    notifications: notifier,
    oidc: () => oidc,
    workloads: createWorkloadVerifier(options.config.identity.workloads, { cooldownMs: options.jwksCooldownMs }),
    userVerifier() {
      if (!oidc) return undefined;
      verifier ??= createOidcVerifier({ issuer: oidc.issuer, audience: oidc.client_id, algorithms: oidc.algorithms });
      return verifier;
    },
  };

  const limits = options.config.limits;
  const app = Fastify({
    logger: false,
    bodyLimit: limits.max_request_bytes,
    clientErrorHandler: clientErrorHandler(audit, limits),
    serverFactory: (handler) =>
      createServer(httpServerTimeouts(limits), (req, res) => {
        const mount = mounts.find((m) => req.url === m.prefix || req.url?.startsWith(`${m.prefix}/`));
        if (mount) mount.handler(req, res);
        else handler(req, res);
      }),
  });
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => {
    try {
      done(null, body === '' ? {} : JSON.parse(body as string));
    } catch {
      done(new ApiError('bad_request', 'Request body is not valid JSON.'), undefined);
    }
  });
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string' }, (_req, body, done) => {
    done(null, Object.fromEntries(new URLSearchParams(body as string)));
  });
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

  app.setErrorHandler((err, request, reply) => {
    if (err instanceof ApiError) {
      return reply.status(err.status).send({ error: { code: err.code, message: err.message, details: err.details } });
    }
    const status = (err as { statusCode?: number }).statusCode;
    if (status === 413) {
      const limit = request.routeOptions.bodyLimit ?? limits.max_request_bytes;
      audit
        .append({ action: 'http.limit', result: 'denied', ip: request.ip, details: { limit: 'max_request_bytes', max: limit, path: request.url.split('?')[0] } })
        .catch(() => {});
      return reply.status(413).send({
        error: { code: 'payload_too_large', message: `The request body is larger than the ${limit} bytes this endpoint accepts (limits.max_request_bytes).` },
      });
    }
    if (status && status >= 400 && status < 500) {
      return reply.status(status).send({ error: { code: 'bad_request', message: redact((err as Error).message) } });
    }
    if (isStoreUnavailable(err)) {
      log.warn('request failed: store unavailable', { method: request.method, url: request.url.split('?')[0], error: redact(String((err as Error)?.message ?? err)) });
      return reply.status(503).send({ error: { code: 'unavailable', message: STORE_UNAVAILABLE_MESSAGE } });
    }
    log.error('request failed', { method: request.method, url: request.url, error: redact(String((err as Error)?.stack ?? err)) });
    return reply.status(500).send({ error: { code: 'internal', message: 'Internal server error.' } });
  });
  app.setNotFoundHandler((request, reply) =>
    reply.status(404).send({ error: { code: 'not_found', message: `No route ${request.method} ${request.url.split('?')[0]}.` } }),
  );
  app.addHook('onResponse', async (request, reply) => {
    log.debug('request', { method: request.method, url: request.url.split('?')[0], status: reply.statusCode });
  });

  for (const register of ROUTES) register(app, ctx);
  const tunnels = attachTunnelEndpoint(app.server, tunnelDeps(ctx));
  consoleRoutes(app, ctx, { tunnels });

  return {
    app,
    ctx,
    mount(prefix, handler) {
      mounts.push({ prefix: prefix.replace(/\/$/, ''), handler });
    },
    setOidc(next) {
      oidc = next;
      verifier = undefined;
    },
    async listen({ host = '127.0.0.1', port = 0 }) {
      try {
        await app.listen({ host, port });
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL') {
          const why = code === 'EADDRINUSE' ? 'is already in use' : code === 'EACCES' ? 'needs privileges gate does not have' : 'is not an address of this machine';
          throw new UsageError(`Cannot listen on ${host}:${port}: it ${why}.`, { hint: 'Pass another --port (or --host), or stop the process that holds it.', cause: err });
        }
        throw err;
      }
      const addr = app.server.address();
      if (!addr || typeof addr === 'string') throw new Error('server has no TCP address');
      const shownHost = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
      return `http://${shownHost}:${addr.port}`;
    },
    async close() {
      // Release long-polls first: app.close() waits for in-flight requests.
      grants.close();
      stopServingCancels?.();
      tunnels.closeAll();
      await app.close();
      await notifier.close();
      // HTTP targets' keep-alive pools to their upstreams: their idle sockets would hold the process open.
      await closeHttpPools();
      await checkpoints.close();
      await audit.close();
      await store.close();
      await lock.release();
    },
  };
}
