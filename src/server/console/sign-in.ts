/**
 * Sign-in: the OIDC authorization-code flow with PKCE (S256) against the
 * server's configured IdP, as a public client with the same client id the
 * CLI uses, so the ID token passes the same verifier. The ID token is then
 * exchanged at `POST /v1/auth/token`, in process: the identity goes through
 * exactly the mapping (principal key, groups claim, audit `auth.login`) a
 * `gate login` goes through, and the console holds the same gate token.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { Configuration } from 'openid-client';
import { discoverIssuer } from '../../auth/oidc-client.js';
import type { ServerContext } from '../context.js';
import { clearCookie, readCookie, setCookie } from './cookies.js';
import type { ConsoleSession, FlowState, Sealer } from './session.js';
import { newCsrfToken } from './session.js';

export const SESSION_COOKIE = 'gate_console';
export const FLOW_COOKIE = 'gate_console_flow';
const FLOW_TTL_S = 10 * 60;
/** Scopes the console asks for: identity only, no refresh token (a console session ends with its gate token). */
const CONSOLE_SCOPES = ['openid', 'email', 'profile', 'groups'];

export const isHttps = (request: FastifyRequest): boolean => request.protocol === 'https';
export const ownOrigin = (request: FastifyRequest): string => `${request.protocol}://${request.host}`;

/** Only console paths are places to return to after sign-in (no open redirect). */
export function safeBack(value: unknown): string {
  return typeof value === 'string' && /^\/ui(\/[A-Za-z0-9_\-/.?=&%]*)?$/.test(value) && !/(^|\/)\.\.?(\/|$|\?)/.test(value) && !/%2e/i.test(value) ? value : '/ui/approvals';
}

export interface SignIn {
  /** Redirects the browser to the IdP. */
  start(request: FastifyRequest, reply: FastifyReply, back: string): Promise<FastifyReply>;
  callback(request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply>;
  /** The session the request's cookie carries, if it is valid and unexpired. */
  session(request: FastifyRequest): Promise<ConsoleSession | undefined>;
  signOut(request: FastifyRequest, reply: FastifyReply): void;
}

export function createSignIn(app: FastifyInstance, ctx: ServerContext, sealer: Sealer, errorPage: (reply: FastifyReply, status: number, title: string, message: string) => FastifyReply): SignIn {
  let discovered: { issuer: string; clientId: string; config: Promise<Configuration> } | undefined;
  function idp(): Promise<Configuration> | undefined {
    const oidc = ctx.oidc();
    if (!oidc) return undefined;
    if (discovered?.issuer !== oidc.issuer || discovered.clientId !== oidc.client_id) {
      const config = discoverIssuer(oidc.issuer, oidc.client_id);
      // A failed discovery is tried again on the next sign-in.
      config.catch(() => {
        discovered = undefined;
      });
      discovered = { issuer: oidc.issuer, clientId: oidc.client_id, config };
    }
    return discovered.config;
  }
  const redirectUri = (request: FastifyRequest) => `${ownOrigin(request)}/ui/callback`;

  return {
    async start(request, reply, back) {
      const pending = idp();
      if (!pending) return errorPage(reply, 503, 'Sign-in is not configured', 'This gate server has no identity provider (identity.oidc in gate.yaml).');
      let config: Configuration;
      try {
        config = await pending;
      } catch (err) {
        return errorPage(reply, 502, 'The identity provider cannot be reached', (err as Error).message);
      }
      const oidc = await import('openid-client');
      const verifier = oidc.randomPKCECodeVerifier();
      const state = oidc.randomState();
      const flow: FlowState = { verifier, state, back };
      setCookie(reply, FLOW_COOKIE, await sealer.seal({ ...flow }, new Date(ctx.now().getTime() + FLOW_TTL_S * 1000), 'flow'), {
        path: '/ui/callback',
        maxAgeS: FLOW_TTL_S,
        secure: isHttps(request),
      });
      const url = oidc.buildAuthorizationUrl(config, {
        redirect_uri: redirectUri(request),
        scope: CONSOLE_SCOPES.join(' '),
        code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
        code_challenge_method: 'S256',
        state,
      });
      return reply.redirect(url.href, 303);
    },

    async callback(request, reply) {
      const flow = await sealer.open<FlowState>(readCookie(request, FLOW_COOKIE), 'flow', ctx.now());
      clearCookie(reply, FLOW_COOKIE, { path: '/ui/callback', secure: isHttps(request) });
      const query = request.query as Record<string, string | undefined>;
      if (query.error) return errorPage(reply, 401, 'Sign-in was not completed', query.error_description ?? query.error);
      if (!flow) return errorPage(reply, 400, 'This sign-in has expired', 'Start again from the sign-in page.');
      const pending = idp();
      if (!pending) return errorPage(reply, 503, 'Sign-in is not configured', 'This gate server has no identity provider.');
      const oidc = await import('openid-client');
      let idToken: string | undefined;
      try {
        const config = await pending;
        const current = new URL(request.url, ownOrigin(request));
        const tokens = await oidc.authorizationCodeGrant(config, current, { pkceCodeVerifier: flow.verifier, expectedState: flow.state });
        idToken = tokens.id_token;
      } catch (err) {
        ctx.log.warn('console sign-in failed', { reason: (err as Error).message });
        return errorPage(reply, 401, 'Sign-in failed', 'The identity provider did not confirm the sign-in. Try again.');
      }
      if (!idToken) return errorPage(reply, 401, 'Sign-in failed', 'The identity provider sent no ID token.');
      const exchanged = await app.inject({
        method: 'POST',
        url: '/v1/auth/token',
        remoteAddress: request.ip,
        headers: { 'content-type': 'application/json' },
        payload: {
          grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
          subject_token: idToken,
          subject_token_type: 'urn:ietf:params:oauth:token-type:id_token',
        },
      });
      const body = exchanged.json() as { access_token?: string; expires_in?: number; error?: { message?: string } };
      if (exchanged.statusCode !== 200 || !body.access_token) {
        return errorPage(reply, 401, 'Sign-in refused', body.error?.message ?? 'The gate server refused the identity.');
      }
      const ttl = body.expires_in ?? 3600;
      const exp = Math.floor(ctx.now().getTime() / 1000) + ttl;
      const session: ConsoleSession = { token: body.access_token, csrf: newCsrfToken(), exp };
      setCookie(reply, SESSION_COOKIE, await sealer.seal({ ...session }, new Date(exp * 1000), 'session'), { path: '/ui', maxAgeS: ttl, secure: isHttps(request) });
      return reply.redirect(safeBack(flow.back), 303);
    },

    session: (request) => sealer.open<ConsoleSession>(readCookie(request, SESSION_COOKIE), 'session', ctx.now()),

    signOut(request, reply) {
      clearCookie(reply, SESSION_COOKIE, { path: '/ui', secure: isHttps(request) });
    },
  };
}
