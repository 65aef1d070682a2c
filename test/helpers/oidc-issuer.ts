/**
 * A stand-in for a CI platform's OIDC issuer: discovery and JWKS on
 * 127.0.0.1 with keys made in the test, a `sign()` for job tokens, key
 * rotation, and (optionally) GitHub Actions' runner token endpoint.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { exportJWK, generateKeyPair, type JWK, type JWTPayload, SignJWT, type CryptoKey } from 'jose';

export interface TestKey {
  kid: string;
  privateKey: CryptoKey;
  jwk: JWK;
}

export interface TestIssuer {
  issuer: string;
  /** The key the JWKS publishes first. */
  key: TestKey;
  /** How many times the JWKS was fetched. */
  jwksFetches: number;
  /** Every request the runner endpoint saw: its query and Authorization header. */
  runnerRequests: { audience: string | null; authorization: string | undefined }[];
  /** GitHub Actions' ACTIONS_ID_TOKEN_REQUEST_URL for this issuer (already has a query, like the real one). */
  runnerUrl: string;
  /** Claims the runner endpoint puts in the tokens it hands out (aud comes from the request). */
  runnerClaims: JWTPayload;
  newKey(): Promise<TestKey>;
  /** Replaces the published JWKS. */
  publish(keys: TestKey[]): void;
  sign(claims: JWTPayload, options?: { key?: TestKey; expiresIn?: number; iat?: number }): Promise<string>;
  close(): Promise<void>;
}

export const RUNNER_REQUEST_TOKEN = 'runner-request-token-for-tests';

export async function startTestIssuer(): Promise<TestIssuer> {
  let published: TestKey[] = [];
  const newKey = async (): Promise<TestKey> => {
    const { privateKey, publicKey } = await generateKeyPair('RS256');
    const kid = randomUUID();
    return { kid, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' } };
  };
  const first = await newKey();
  published = [first];

  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', issuer.issuer);
    const json = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (url.pathname === '/.well-known/openid-configuration') {
      return json(200, { issuer: issuer.issuer, jwks_uri: `${issuer.issuer}/jwks`, id_token_signing_alg_values_supported: ['RS256'] });
    }
    if (url.pathname === '/jwks') {
      issuer.jwksFetches += 1;
      return json(200, { keys: published.map((k) => k.jwk) });
    }
    if (url.pathname === '/runner/token') {
      issuer.runnerRequests.push({ audience: url.searchParams.get('audience'), authorization: req.headers.authorization });
      if (req.headers.authorization !== `bearer ${RUNNER_REQUEST_TOKEN}`) return json(401, { message: 'bad request token' });
      const aud = url.searchParams.get('audience') ?? 'https://github.com/test-org';
      void issuer.sign({ ...issuer.runnerClaims, aud }).then((value) => json(200, { count: 1, value }));
      return;
    }
    json(404, {});
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;

  const issuer: TestIssuer = {
    issuer: `http://127.0.0.1:${port}`,
    key: first,
    jwksFetches: 0,
    runnerRequests: [],
    runnerUrl: `http://127.0.0.1:${port}/runner/token?api-version=2.0`,
    runnerClaims: {},
    newKey,
    publish(keys) {
      published = keys;
    },
    async sign(claims, options = {}) {
      const key = options.key ?? first;
      const now = Math.floor(Date.now() / 1000);
      const iat = options.iat ?? now;
      return new SignJWT(claims)
        .setProtectedHeader({ alg: 'RS256', kid: key.kid, typ: 'JWT' })
        .setIssuer(issuer.issuer)
        .setIssuedAt(iat)
        .setExpirationTime(iat + (options.expiresIn ?? 300))
        .sign(key.privateKey);
    },
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
  return issuer;
}
