import type { GateConfig } from '../../config/schema.js';
import { reasonOf, withTimeout } from './secrets.js';
import type { CheckItem, ProbeContext } from './types.js';

/** Discovery and JWKS of the people IdP and of every workload issuer: what token verification needs at run time. */
export async function checkIdentity(config: GateConfig, ctx: ProbeContext): Promise<CheckItem[]> {
  const issuers: { name: string; issuer: string; required: boolean }[] = [];
  if (config.identity.oidc) issuers.push({ name: 'oidc', issuer: config.identity.oidc.issuer, required: true });
  for (const w of config.identity.workloads) issuers.push({ name: `workload ${w.name}`, issuer: w.issuer, required: false });
  const items: CheckItem[] = [];
  if (!config.identity.oidc) {
    items.push({ component: 'idp', name: 'oidc', status: 'error', message: 'no identity.oidc section: `gate server` needs your IdP (issuer, client_id)' });
  }
  for (const i of issuers) items.push(await checkIssuer(i.name, i.issuer, ctx));
  return items;
}

async function checkIssuer(name: string, issuer: string, ctx: ProbeContext): Promise<CheckItem> {
  const url = `${issuer.replace(/\/$/, '')}/.well-known/openid-configuration`;
  try {
    return await withTimeout(`the IdP at ${issuer}`, ctx.timeoutMs, async (signal) => {
      const res = await fetch(url, { signal, redirect: 'error' });
      if (!res.ok) return { component: 'idp', name, status: 'error', message: `discovery at ${url} answered HTTP ${res.status}` } satisfies CheckItem;
      const doc = (await res.json()) as { issuer?: string; jwks_uri?: string };
      // Tokens carry the discovery document's issuer: a mismatch (localhost vs 127.0.0.1, a trailing /) fails every login.
      if (doc.issuer !== issuer) {
        return { component: 'idp', name, status: 'error', message: `discovery says issuer ${JSON.stringify(doc.issuer)}, gate.yaml says ${JSON.stringify(issuer)}: they must match exactly` } satisfies CheckItem;
      }
      if (!doc.jwks_uri) return { component: 'idp', name, status: 'error', message: `discovery at ${url} has no jwks_uri` } satisfies CheckItem;
      const jwks = await fetch(doc.jwks_uri, { signal, redirect: 'error' });
      const keys = jwks.ok ? (((await jwks.json()) as { keys?: unknown[] }).keys ?? []) : [];
      if (!jwks.ok || keys.length === 0) {
        return { component: 'idp', name, status: 'error', message: `JWKS at ${doc.jwks_uri} ${jwks.ok ? 'holds no keys' : `answered HTTP ${jwks.status}`}` } satisfies CheckItem;
      }
      return { component: 'idp', name, status: 'ok', message: `${issuer}: discovery and JWKS (${keys.length} key${keys.length === 1 ? '' : 's'}) reachable`, details: { issuer, keys: keys.length } } satisfies CheckItem;
    });
  } catch (err) {
    const cause = (err as { cause?: unknown }).cause;
    return { component: 'idp', name, status: 'error', message: `cannot reach ${url}: ${reasonOf(cause ?? err)}` };
  }
}
