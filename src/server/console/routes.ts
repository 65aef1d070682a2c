/**
 * The web console at /ui: server-rendered pages over the gate API (called in
 * process as the signed-in user, see api.ts), OIDC code flow + PKCE sign-in
 * (sign-in.ts), an encrypted cookie session (session.ts), CSRF checks on every
 * POST (csrf.ts), live updates by server-sent events (events.ts).
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { authenticate, isAdmin } from '../auth.js';
import type { Caller, ServerContext } from '../context.js';
import type { TunnelRegistry } from '../tunnel-endpoint.js';
import { apiFor } from './api.js';
import { assetRoutes } from './assets.js';
import type { ViewerKey } from './cards.js';
import { crossSiteRefusal, csrfTokenMatches } from './csrf.js';
import { createLiveEvents } from './events.js';
import { html } from './html.js';
import { page } from './layout.js';
import { approvalPage, approvalsPage } from './pages/approvals.js';
import { auditPage } from './pages/audit.js';
import type { PageContext } from './pages/context.js';
import { grantPage, grantsPage } from './pages/grants.js';
import { livePage, mayTerminate } from './pages/live.js';
import { sessionPage, sessionsPage } from './pages/sessions.js';
import type { ConsoleSession } from './session.js';
import { createSealer } from './session.js';
import { createSignIn, safeBack } from './sign-in.js';

export interface ConsoleOptions {
  tunnels: TunnelRegistry;
}

/** Thrown by a page to answer with the API's refusal (its status and message). */
class PageError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly title = status === 404 ? 'Not found' : status === 403 ? 'Not allowed' : 'Something went wrong',
  ) {
    super(message);
  }
}

/** Success messages after an action: fixed texts, picked by key, so a link cannot put words on the page. */
const DONE: Record<string, string> = {
  approved: 'Approved.',
  denied: 'Denied.',
  revoked: 'Revoked: its tunnels are being cut.',
  terminated: 'Terminated: the tunnel is cut.',
};

const SECURITY_HEADERS = {
  'content-type': 'text/html; charset=utf-8',
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'same-origin',
  // The player compiles its terminal emulator from WebAssembly; it sets inline styles.
  'content-security-policy':
    "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
};

function sendPage(reply: FastifyReply, status: number, body: string): FastifyReply {
  return reply.status(status).headers(SECURITY_HEADERS).send(body);
}

function errorPage(reply: FastifyReply, status: number, title: string, message: string, viewer?: ViewerKey, back?: string): FastifyReply {
  const body = html`<p class="notice error" role="alert">${message}</p><p><a href="${back ?? '/ui/approvals'}">Back</a></p>`;
  return sendPage(reply, status, page({ title, viewer, body }));
}

/** Registers every /ui route on the server's fastify app. */
export function consoleRoutes(app: FastifyInstance, ctx: ServerContext, options: ConsoleOptions): void {
  const sealer = createSealer(ctx.key.derive('console-cookie'));
  const signIn = createSignIn(app, ctx, sealer, (reply, status, title, message) => errorPage(reply, status, title, message));
  const live = createLiveEvents(ctx);
  app.addHook('preClose', async () => live.closeAll());
  assetRoutes(app);

  /** The signed-in caller, or undefined (cookie missing, expired, or the token no longer verifies). */
  async function who(request: FastifyRequest): Promise<{ session: ConsoleSession; caller: Caller; viewer: ViewerKey } | undefined> {
    const session = await signIn.session(request);
    if (!session) return undefined;
    let caller: Caller;
    try {
      caller = await authenticate(ctx, `Bearer ${session.token}`);
    } catch {
      return undefined;
    }
    const viewer: ViewerKey = { sub: caller.sub, name: caller.name, email: caller.email, groups: caller.groups, admin: isAdmin(ctx, caller), csrf: session.csrf, key: caller.key };
    return { session, caller, viewer };
  }

  function pageContext(request: FastifyRequest, signed: NonNullable<Awaited<ReturnType<typeof who>>>): PageContext {
    const query = request.query as Record<string, string | undefined>;
    return {
      viewer: signed.viewer,
      api: apiFor(app, request, signed.session.token),
      ctx,
      tunnels: options.tunnels,
      query,
      flash: { ok: query.done ? DONE[query.done] : undefined },
      apiError(status, message) {
        throw new PageError(status, message);
      },
    };
  }

  type Render = (p: PageContext, request: FastifyRequest, caller: Caller) => Promise<string> | string;
  function get(path: string, render: Render): void {
    app.get(path, async (request, reply) => {
      const signed = await who(request);
      if (!signed) return reply.redirect(`/ui/login?back=${encodeURIComponent(safeBack(request.url))}`, 303);
      try {
        return sendPage(reply, 200, await render(pageContext(request, signed), request, signed.caller));
      } catch (err) {
        if (err instanceof PageError) return errorPage(reply, err.status, err.title, err.message, signed.viewer);
        throw err;
      }
    });
  }

  type Act = (
    p: PageContext,
    body: Record<string, string>,
    request: FastifyRequest,
    caller: Caller,
  ) => Promise<{ status: number; message?: string; done?: string; signOut?: boolean }>;
  /** Every state change: same-origin check first, then the session, then its CSRF token, then the action. */
  function post(path: string, act: Act): void {
    app.post(path, async (request, reply) => {
      const crossSite = crossSiteRefusal(request);
      if (crossSite) {
        ctx.log.warn('console refused a cross-site request', { path: request.url.split('?')[0], ip: request.ip });
        return errorPage(reply, 403, 'Cross-site request refused', `gate refused this request: ${crossSite}. Use the console's own pages.`);
      }
      const body = (request.body && typeof request.body === 'object' ? request.body : {}) as Record<string, string>;
      const back = safeBack(body.back);
      const signed = await who(request);
      if (!signed) return errorPage(reply, 401, 'Signed out', 'Your console session has ended. Sign in again, then repeat the action.', undefined, `/ui/login?back=${encodeURIComponent(back)}`);
      if (!csrfTokenMatches(signed.session.csrf, body.csrf)) {
        return errorPage(reply, 403, 'Form expired', 'The form did not carry this session’s security token (it may be from an older session). Reload the page and try again.', signed.viewer, back);
      }
      const result = await act(pageContext(request, signed), body, request, signed.caller);
      if (result.status >= 400) return errorPage(reply, result.status, result.status === 403 ? 'Not allowed' : 'Not done', result.message ?? 'The action failed.', signed.viewer, back);
      if (result.signOut) {
        signIn.signOut(request, reply);
        return reply.redirect('/ui/login', 303);
      }
      const sep = back.includes('?') ? '&' : '?';
      return reply.redirect(`${back.replace(/[?&]done=[a-z]+/, '')}${sep}done=${result.done ?? ''}`, 303);
    });
  }

  app.get('/ui', async (_request, reply) => reply.redirect('/ui/approvals', 303));
  app.get('/ui/', async (_request, reply) => reply.redirect('/ui/approvals', 303));
  app.get('/ui/login', async (request, reply) => {
    const back = safeBack((request.query as Record<string, string>).back);
    if (await who(request)) return reply.redirect(back, 303);
    const oidc = ctx.oidc();
    const body = html`<p>Sign in with your organisation’s identity provider${oidc ? html` (<code>${oidc.issuer}</code>)` : ''} to see and decide access requests, grants, sessions and the audit log.</p>
<p><a class="button" id="sign-in" href="/ui/login/start?back=${encodeURIComponent(back)}">Sign in</a></p>`;
    return sendPage(reply, 200, page({ title: 'Sign in to gate', body }));
  });
  app.get('/ui/login/start', async (request, reply) => signIn.start(request, reply, safeBack((request.query as Record<string, string>).back)));
  app.get('/ui/callback', async (request, reply) => signIn.callback(request, reply));
  // Signing out is a state change like any other: CSRF-checked, then the cookie goes.
  post('/ui/logout', async () => ({ status: 200, signOut: true }));

  app.get('/ui/events', async (request, reply) => {
    const signed = await who(request);
    if (!signed) return reply.status(401).type('text/plain').send('Sign in first.');
    reply.hijack();
    live.stream(reply.raw, signed.caller);
  });

  get('/ui/approvals', (p) => approvalsPage(p));
  get('/ui/approvals/:id', (p, r) => approvalPage(p, (r.params as { id: string }).id));
  get('/ui/grants', (p) => grantsPage(p));
  get('/ui/grants/:id', (p, r) => grantPage(p, (r.params as { id: string }).id));
  get('/ui/sessions', (p) => sessionsPage(p));
  get('/ui/sessions/:id', (p, r) => sessionPage(p, (r.params as { id: string }).id));
  get('/ui/live', (p, _r, caller) => livePage(p, caller));
  get('/ui/audit', (p) => auditPage(p));

  app.get<{ Params: { id: string } }>('/ui/sessions/:id/recording.cast', async (request, reply) => {
    const signed = await who(request);
    if (!signed) return reply.status(401).type('text/plain').send('Sign in first.');
    const res = await apiFor(app, request, signed.session.token)('GET', `/v1/sessions/${encodeURIComponent(request.params.id)}/recording`);
    if (!res.ok) return reply.status(res.status).type('text/plain').send(res.body.error?.message ?? 'Not found.');
    return reply.type('application/x-asciicast').header('cache-control', 'no-store').send(res.raw);
  });

  const decision = (d: string | undefined) => (d === 'approve' || d === 'deny' ? d : undefined);
  const comment = (body: Record<string, string>) => (body.comment?.trim() ? { comment: body.comment.trim().slice(0, 1000) } : {});

  post('/ui/grants/:id/decide', async (p, body, request) => {
    const d = decision(body.decision);
    if (!d) return { status: 400, message: 'Choose approve or deny.' };
    const res = await p.api('POST', `/v1/grants/${encodeURIComponent((request.params as { id: string }).id)}/${d}`, comment(body));
    return res.ok ? { status: 200, done: d === 'approve' ? 'approved' : 'denied' } : { status: res.status, message: res.body.error?.message };
  });
  post('/ui/grants/:id/revoke', async (p, body, request) => {
    const res = await p.api('POST', `/v1/grants/${encodeURIComponent((request.params as { id: string }).id)}/revoke`, comment(body));
    return res.ok ? { status: 200, done: 'revoked' } : { status: res.status, message: res.body.error?.message };
  });
  post('/ui/approvals/:id/decide', async (p, body, request) => {
    const d = decision(body.decision);
    if (!d) return { status: 400, message: 'Choose approve or deny.' };
    const res = await p.api('POST', `/v1/approvals/${encodeURIComponent((request.params as { id: string }).id)}/${d}`, comment(body));
    return res.ok ? { status: 200, done: d === 'approve' ? 'approved' : 'denied' } : { status: res.status, message: res.body.error?.message };
  });
  post('/ui/live/:id/terminate', async (_p, _body, request, caller) => {
    const id = (request.params as { id: string }).id;
    const tunnel = options.tunnels.list().find((t) => t.id === id);
    if (!tunnel) return { status: 404, message: 'That tunnel is no longer open.' };
    if (!mayTerminate(ctx, caller, tunnel)) return { status: 403, message: `Only admins and approvers of ${tunnel.target} may terminate its tunnels.` };
    options.tunnels.terminate(id, `the tunnel was terminated by ${caller.sub} from the gate console`);
    await ctx.audit.append({
      action: 'tunnel.terminated',
      actor: caller.sub,
      actorKind: caller.kind,
      actorKey: caller.key,
      target: tunnel.target,
      role: tunnel.role,
      grantId: tunnel.grantId,
      sessionId: tunnel.sessionId,
      ip: request.ip,
      details: { tunnel: tunnel.id, user: tunnel.user },
    });
    return { status: 200, done: 'terminated' };
  });
}
