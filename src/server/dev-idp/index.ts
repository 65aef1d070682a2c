/**
 * The OpenID provider embedded in `gate dev`: a real oidc-provider with the
 * device flow, one public client and the users from `dev.users`, so the whole
 * login runs on one machine. Dev only: in-memory storage, keys made at start.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Provider } from 'oidc-provider';
import type { DevUser } from '../../config/schema.js';
import { ConfigError } from '../../errors.js';
import { handleInteraction } from './interactions.js';
import { generateCookieKeys, generateSigningKeys } from './keys.js';
import { messagePage } from './pages.js';
import { providerConfiguration } from './provider-config.js';

export { DEV_SCOPES } from './provider-config.js';

export interface DevIdpOptions {
  /**
   * The issuer URL, e.g. `http://127.0.0.1:8080/idp`. A path is the mount
   * prefix: every request under it must reach `handle` with its original URL.
   * A trailing slash is dropped; use `DevIdp.issuer` as the canonical value.
   */
  issuer: string;
  /** The one public client's id (device code + refresh token grants). */
  clientId: string;
  /** Who may sign in; from `dev.users` in gate.yaml. */
  users: DevUser[];
  /**
   * Redirect URIs of the web console's code flow. Default: `/ui/callback` on
   * the issuer's origin, where `gate dev` serves the console.
   */
  redirectUris?: string[];
}

export interface DevIdp {
  /** The issuer exactly as discovery and the ID token's `iss` carry it. */
  issuer: string;
  /**
   * Serves one request whose URL (prefix included) is under the issuer path.
   * Consumes the raw request body itself: do not parse it beforehand.
   */
  handle(req: IncomingMessage, res: ServerResponse): void;
  close(): Promise<void>;
}

interface MountableRequest extends IncomingMessage {
  // oidc-provider derives its mount path from this (the Express convention).
  originalUrl?: string;
}

function parseIssuer(text: string): { issuer: string; mountPath: string } {
  let url: URL;
  try {
    url = new URL(text);
  } catch (cause) {
    throw new ConfigError(`dev IdP issuer is not a URL: ${JSON.stringify(text)}`, { cause });
  }
  if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.search || url.hash || url.username) {
    throw new ConfigError(`dev IdP issuer must be a plain http(s) URL without query or credentials: ${url.origin}`);
  }
  const mountPath = url.pathname.replace(/\/+$/, '');
  return { issuer: `${url.origin}${mountPath}`, mountPath };
}

/** Returns the URL with the mount prefix removed, or undefined when outside it. */
function stripMount(url: string, mountPath: string): string | undefined {
  if (!mountPath) return url;
  if (url === mountPath) return '/';
  if (url.startsWith(`${mountPath}/`)) return url.slice(mountPath.length);
  if (url.startsWith(`${mountPath}?`)) return `/${url.slice(mountPath.length)}`;
  return undefined;
}

/**
 * Builds the dev IdP without listening. Mount `handle` for every request
 * under the issuer's path.
 */
export async function createDevIdp(options: DevIdpOptions): Promise<DevIdp> {
  const { issuer, mountPath } = parseIssuer(options.issuer);
  if (!options.clientId) throw new ConfigError('dev IdP needs a client id');
  if (options.users.length === 0) {
    throw new ConfigError('gate dev has no users to sign in', { hint: 'Add users under dev.users in gate.yaml.' });
  }
  const users = [...options.users];
  const provider = new Provider(
    issuer,
    providerConfiguration({
      clientId: options.clientId,
      users,
      mountPath,
      jwks: await generateSigningKeys(),
      cookieKeys: generateCookieKeys(),
      redirectUris: options.redirectUris ?? [`${new URL(issuer).origin}/ui/callback`],
    }),
  );
  const callback = provider.callback();
  const interactions = { provider, users, mountPath };

  function handle(req: IncomingMessage, res: ServerResponse): void {
    const original = req.url ?? '/';
    const inner = stripMount(original, mountPath);
    if (inner === undefined) {
      res.statusCode = 404;
      res.setHeader('Content-Type', 'text/html; charset=utf-8');
      res.end(messagePage({ title: 'Not found', message: 'There is no page here.', error: true }));
      return;
    }
    const path = inner.split('?', 1)[0] ?? '/';
    if (path.startsWith('/interaction/')) {
      void handleInteraction(interactions, req, res, path);
      return;
    }
    if (mountPath) {
      (req as MountableRequest).originalUrl = original;
      req.url = inner;
    }
    callback(req, res);
  }

  return {
    issuer,
    handle,
    // Nothing to release: storage is in memory and oidc-provider keeps no timers.
    close: async () => {},
  };
}

export interface StartDevIdpOptions {
  /** Interface to listen on; 127.0.0.1 unless given. */
  host?: string;
  /** 0 (the default) picks a free port. */
  port?: number;
  clientId: string;
  users: DevUser[];
  /** Optional issuer path, e.g. `/idp`. */
  path?: string;
}

/**
 * Runs the dev IdP on its own HTTP server (tests, or an issuer separate from
 * the gate server). The issuer is `http://<host>:<port><path>`.
 */
export async function startDevIdp(options: StartDevIdpOptions): Promise<DevIdp & { port: number }> {
  const host = options.host ?? '127.0.0.1';
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  // A wildcard address is not something a browser can reach; name loopback.
  const urlHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  let idp: DevIdp;
  try {
    idp = await createDevIdp({
      issuer: `http://${urlHost}:${port}${options.path ?? ''}`,
      clientId: options.clientId,
      users: options.users,
    });
  } catch (err) {
    server.close();
    throw err;
  }
  server.on('request', idp.handle);
  return {
    ...idp,
    port,
    async close() {
      await idp.close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
