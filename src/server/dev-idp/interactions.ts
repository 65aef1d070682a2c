import type { IncomingMessage, ServerResponse } from 'node:http';
import { debuglog } from 'node:util';
import type { InteractionDetails, Provider } from 'oidc-provider';
import type { DevUser } from '../../config/schema.js';
import { authenticate } from './accounts.js';
import { readForm } from './body.js';
import { loginPage, messagePage } from './pages.js';
import { DEV_SCOPES } from './provider-config.js';

const debug = debuglog('gate');

const ROUTE = /^\/interaction\/([A-Za-z0-9_-]+)(?:\/(login|abort))?\/?$/;

export interface InteractionContext {
  provider: Provider;
  users: readonly DevUser[];
  mountPath: string;
}

function send(res: ServerResponse, status: number, body: string): void {
  res.statusCode = status;
  res.setHeader('Content-Type', 'text/html; charset=utf-8');
  res.setHeader('Cache-Control', 'no-store');
  res.setHeader('Content-Length', Buffer.byteLength(body));
  res.end(body);
}

// The one client is the gate CLI; its name is what the user recognises.
const CLIENT_NAME = 'gate';

/**
 * Saves a grant for the scopes the device asked for (those the dev IdP
 * knows), which is the automatic consent: dev users have nothing to decline.
 */
async function grantRequested(ctx: InteractionContext, details: InteractionDetails, accountId: string): Promise<string> {
  const { Grant } = ctx.provider;
  const clientId = String(details.params.client_id);
  // A grant left by another user in this browser must not be reused.
  const existing = details.grantId && details.session?.accountId === accountId ? await Grant.find(details.grantId) : undefined;
  const grant = existing ?? new Grant({ accountId, clientId });
  const known = new Set<string>(DEV_SCOPES);
  const requested = String(details.params.scope ?? 'openid')
    .split(' ')
    .filter((scope) => known.has(scope));
  grant.addOIDCScope([...new Set(['openid', ...requested, ...(details.prompt.details.missingOIDCScope ?? [])])].join(' '));
  if (details.prompt.details.missingOIDCClaims?.length) grant.addOIDCClaims(details.prompt.details.missingOIDCClaims);
  for (const [resource, scopes] of Object.entries(details.prompt.details.missingResourceScopes ?? {})) {
    grant.addResourceScope(resource, scopes.join(' '));
  }
  return grant.save();
}

function renderLogin(
  ctx: InteractionContext,
  res: ServerResponse,
  details: InteractionDetails,
  status: number,
  extra: { username?: string; error?: string } = {},
): void {
  const base = `${ctx.mountPath}/interaction/${details.uid}`;
  send(
    res,
    status,
    loginPage({ action: `${base}/login`, abortAction: `${base}/abort`, clientName: CLIENT_NAME, ...extra }),
  );
}

async function route(ctx: InteractionContext, req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
  const match = ROUTE.exec(path);
  if (!match) {
    send(res, 404, messagePage({ title: 'Not found', message: 'There is no page here.', error: true }));
    return;
  }
  const [, uid, action] = match;
  const method = req.method ?? 'GET';
  if ((action === undefined && method !== 'GET') || (action !== undefined && method !== 'POST')) {
    res.setHeader('Allow', action === undefined ? 'GET' : 'POST');
    send(res, 405, messagePage({ title: 'Method not allowed', message: 'Use the sign-in form.', error: true }));
    return;
  }

  const details = await ctx.provider.interactionDetails(req, res);
  if (details.uid !== uid) throw Object.assign(new Error('interaction uid does not match the cookie'), { name: 'SessionNotFound' });

  if (action === 'abort') {
    await ctx.provider.interactionFinished(
      req,
      res,
      { error: 'access_denied', error_description: 'End-User aborted interaction' },
      { mergeWithLastSubmission: false },
    );
    return;
  }

  if (action === 'login') {
    const form = await readForm(req);
    const username = (form.get('username') ?? '').trim();
    const user = authenticate(ctx.users, username, form.get('password') ?? '');
    if (!user) {
      debug('dev-idp: failed sign-in for %j', username);
      renderLogin(ctx, res, details, 400, { username, error: 'Wrong username or password. Try again.' });
      return;
    }
    const grantId = await grantRequested(ctx, details, user.username);
    await ctx.provider.interactionFinished(
      req,
      res,
      { login: { accountId: user.username }, consent: { grantId } },
      { mergeWithLastSubmission: false },
    );
    return;
  }

  switch (details.prompt.name) {
    case 'login':
      renderLogin(ctx, res, details, 200);
      return;
    case 'consent': {
      const accountId = details.session?.accountId;
      if (!accountId) break;
      const grantId = await grantRequested(ctx, details, accountId);
      await ctx.provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
      return;
    }
  }
  send(
    res,
    400,
    messagePage({ title: 'Sign-in failed', message: `Unsupported prompt: ${details.prompt.name}`, error: true }),
  );
}

/**
 * Serves the dev IdP's own interaction pages (`/interaction/:uid`, its
 * `/login` and `/abort` posts). `path` is the request path with the mount
 * prefix removed. Never throws: every failure becomes an HTML page.
 */
export async function handleInteraction(
  ctx: InteractionContext,
  req: IncomingMessage,
  res: ServerResponse,
  path: string,
): Promise<void> {
  try {
    await route(ctx, req, res, path);
  } catch (err) {
    if (res.headersSent) {
      res.destroy();
      return;
    }
    const name = err instanceof Error ? err.name : '';
    if (name === 'SessionNotFound') {
      send(
        res,
        400,
        messagePage({
          title: 'This sign-in has expired',
          message: 'The sign-in took too long or was already finished. Run gate login again.',
          error: true,
        }),
      );
      return;
    }
    debug('dev-idp: interaction failed: %s', err instanceof Error ? err.message : String(err));
    send(res, 500, messagePage({ title: 'Sign-in failed', message: 'The dev IdP hit an internal error.', error: true }));
  }
}
