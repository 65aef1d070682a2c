import type { JWK } from 'jose';
import { type Configuration, interactionPolicy, type OidcContext } from 'oidc-provider';
import type { DevUser } from '../../config/schema.js';
import { claimsFor, findUser } from './accounts.js';
import { confirmPage, deviceCodePage, messagePage, successPage } from './pages.js';

const DEVICE_CODE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';

/** The scopes the dev IdP offers; the CLI asks for all of them. */
export const DEV_SCOPES = ['openid', 'email', 'profile', 'offline_access', 'groups'] as const;

const IDENTITY_CLAIMS = ['sub', 'email', 'email_verified', 'name', 'preferred_username', 'groups'];

export interface ProviderConfigInput {
  clientId: string;
  users: readonly DevUser[];
  /** Path prefix of the issuer (`''` or e.g. `/idp`); our own routes live under it. */
  mountPath: string;
  jwks: { keys: JWK[] };
  cookieKeys: string[];
  /** Where the web console's authorization-code flow may return (`<server>/ui/callback`). */
  redirectUris: string[];
}

// Lifetimes: short enough for dev, long enough that a developer's session
// survives a coffee break; refresh tokens let the CLI renew silently.
const TTL = {
  AccessToken: 60 * 60,
  IdToken: 60 * 60,
  DeviceCode: 10 * 60,
  Interaction: 10 * 60,
  Session: 24 * 60 * 60,
  Grant: 14 * 24 * 60 * 60,
  RefreshToken: 14 * 24 * 60 * 60,
};

function html(ctx: OidcContext, body: string): void {
  ctx.type = 'html';
  ctx.body = body;
}

interface RenderOut {
  error?: string;
  error_description?: string;
}

/** The device page, and the page for every way a code can fail. */
async function userCodeInputSource(ctx: OidcContext, form: string, out?: RenderOut, err?: Error): Promise<void> {
  switch (err?.name) {
    case undefined:
      return html(ctx, deviceCodePage({ form }));
    case 'AbortedError':
      return html(
        ctx,
        messagePage({
          title: 'Sign-in cancelled',
          message: 'Access was denied and the terminal will say so. You may close this window.',
          error: true,
        }),
      );
    case 'ExpiredError':
      return html(
        ctx,
        deviceCodePage({
          form,
          title: 'This code has expired',
          error: 'The code has expired. Run gate login again for a new code, then enter it here.',
        }),
      );
    case 'AlreadyUsedError':
      return html(
        ctx,
        deviceCodePage({
          form,
          title: 'This code was already used',
          error: 'That code has already been used or denied. Run gate login again for a new code.',
        }),
      );
    case 'NotFoundError':
      return html(ctx, deviceCodePage({ form, error: 'That code was not found. Check it against your terminal.' }));
    case 'NoCodeError':
      return html(ctx, deviceCodePage({ form, error: 'Enter the code shown in your terminal.' }));
    default:
      return html(
        ctx,
        deviceCodePage({ form, error: `Something went wrong: ${out?.error_description ?? out?.error ?? 'unknown error'}` }),
      );
  }
}

async function userCodeConfirmSource(
  ctx: OidcContext,
  form: string,
  client: { clientId: string; clientName?: string },
  _deviceInfo: unknown,
  userCode: string,
): Promise<void> {
  html(ctx, confirmPage({ form, clientName: client.clientName ?? client.clientId, userCode }));
}

async function successSource(ctx: OidcContext): Promise<void> {
  html(ctx, successPage({ username: ctx.oidc.deviceCode?.accountId ?? ctx.oidc.session?.accountId }));
}

async function renderError(ctx: OidcContext, out: RenderOut): Promise<void> {
  html(
    ctx,
    messagePage({
      title: 'Sign-in failed',
      message: out.error_description ?? out.error ?? 'The request could not be completed.',
      error: true,
    }),
  );
}

/**
 * Asks for username and password on every device login, even when the
 * browser still holds a session: dev users switch identities often
 * (requester, approver, admin) and a silent reuse would sign in the wrong one.
 */
function alwaysLoginPolicy() {
  const policy = interactionPolicy.base();
  const { Check } = interactionPolicy;
  policy
    .get('login')
    ?.checks.push(
      new Check('dev_always_login', 'the dev IdP asks who is signing in every time', (ctx) =>
        ctx.oidc.result?.login ? Check.NO_NEED_TO_PROMPT : Check.REQUEST_PROMPT,
      ),
    );
  return policy;
}

/** The oidc-provider configuration for the dev IdP. */
export function providerConfiguration(input: ProviderConfigInput): Configuration {
  const { users, mountPath } = input;
  return {
    clients: [
      {
        client_id: input.clientId,
        client_name: 'gate',
        token_endpoint_auth_method: 'none',
        application_type: 'native',
        // The CLI's device flow, and the web console's authorization-code flow (PKCE is
        // required of a public native client, so a stolen code alone redeems nothing).
        grant_types: [DEVICE_CODE_GRANT, 'authorization_code', 'refresh_token'],
        response_types: ['code'],
        redirect_uris: input.redirectUris,
        id_token_signed_response_alg: 'RS256',
      },
    ],
    scopes: [...DEV_SCOPES],
    // Identity claims ride on `openid` as well as their usual scopes: the gate
    // server reads them from the ID token, whatever scopes a client asked for.
    claims: {
      openid: IDENTITY_CLAIMS,
      email: ['email', 'email_verified'],
      profile: ['name', 'preferred_username'],
      groups: ['groups'],
    },
    // Otherwise scope claims go only to userinfo once an access token is issued.
    conformIdTokenClaims: false,
    async findAccount(_ctx: unknown, sub: string) {
      const user = findUser(users, sub);
      if (!user) return undefined;
      return { accountId: sub, claims: async () => claimsFor(user) };
    },
    // The CLI renews silently, so every device login gets a refresh token,
    // not only those that asked for offline_access.
    issueRefreshToken: async (_ctx: unknown, client: { grantTypeAllowed(grant: string): boolean }) =>
      client.grantTypeAllowed('refresh_token'),
    features: {
      devInteractions: { enabled: false },
      deviceFlow: { enabled: true, userCodeInputSource, userCodeConfirmSource, successSource },
      revocation: { enabled: true },
    },
    interactions: {
      policy: alwaysLoginPolicy(),
      url: (_ctx: unknown, interaction: { uid: string }) => `${mountPath}/interaction/${interaction.uid}`,
    },
    renderError,
    // The only client is a CLI; no browser origin needs CORS.
    clientBasedCORS: () => false,
    jwks: input.jwks,
    cookies: { keys: input.cookieKeys },
    ttl: TTL,
  };
}
