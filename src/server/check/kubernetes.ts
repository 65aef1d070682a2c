import { Agent, request } from 'undici';
import type { KubernetesTarget } from '../../config/schema.js';
import { reasonOf, withTimeout } from './secrets.js';
import type { CheckItem, ProbeContext } from './types.js';

interface Rule {
  verbs?: string[];
  resources?: string[];
  apiGroups?: string[];
}

/** `/version` with each role's credential, then a SelfSubjectRulesReview in `default` to spot a cluster-admin role. */
export async function checkKubernetesTarget(name: string, target: KubernetesTarget, ctx: ProbeContext): Promise<CheckItem[]> {
  const items: CheckItem[] = [];
  for (const [role, cred] of Object.entries(target.roles)) {
    const base = { component: 'target', name, role } as const;
    let agent: Agent | undefined;
    try {
      const ca = target.tls.ca ? await ctx.secret(target.tls.ca) : undefined;
      const headers: Record<string, string> = {};
      let cert: string | undefined;
      let key: string | undefined;
      if ('token' in cred) headers.authorization = `Bearer ${await ctx.secret(cred.token)}`;
      else {
        cert = await ctx.secret(cred.client_cert);
        key = await ctx.secret(cred.client_key);
      }
      agent = new Agent({ connect: { ca, cert, key, rejectUnauthorized: !target.tls.insecure_skip_verify } });
      const dispatcher = agent;
      const base_url = target.address.replace(/\/$/, '');
      items.push(
        await withTimeout(`the API server at ${target.address}`, ctx.timeoutMs, async (signal) => {
          const v = await request(`${base_url}/version`, { headers, dispatcher, signal });
          const version = (await v.body.json().catch(() => ({}))) as { gitVersion?: string };
          if (v.statusCode === 401 || v.statusCode === 403) {
            return { ...base, status: 'error', message: `the API server at ${target.address} refused the role's credential (HTTP ${v.statusCode})` } satisfies CheckItem;
          }
          if (v.statusCode >= 400) return { ...base, status: 'error', message: `GET /version answered HTTP ${v.statusCode}` } satisfies CheckItem;
          const rules = await rulesReview(base_url, headers, dispatcher, signal);
          const admin = rules?.some((r) => r.verbs?.includes('*') && r.resources?.includes('*') && (r.apiGroups ?? ['*']).includes('*'));
          const details = { version: version.gitVersion ?? null, rules: rules?.length ?? null, cluster_admin: !!admin };
          const tls = target.tls.insecure_skip_verify ? ' (tls.insecure_skip_verify is on: the API certificate is not verified)' : '';
          if (admin) {
            return { ...base, status: 'warning', message: `reached ${target.address} (${version.gitVersion ?? 'unknown version'}), but the role may do anything (verbs * on resources *): it holds more than guardrails can narrow${tls}`, details } satisfies CheckItem;
          }
          return { ...base, status: tls ? 'warning' : 'ok', message: `reached ${target.address} (${version.gitVersion ?? 'unknown version'})${rules ? `; ${rules.length} rules in namespace default` : ''}${tls}`, details } satisfies CheckItem;
        }),
      );
    } catch (err) {
      items.push({ ...base, status: 'error', message: `cannot reach ${target.address}: ${reasonOf((err as { cause?: unknown }).cause ?? err)}` });
    } finally {
      await agent?.close().catch(() => {});
    }
  }
  return items;
}

/** The role's rules in `default`, or undefined when the API server does not offer the review. */
async function rulesReview(base: string, headers: Record<string, string>, dispatcher: Agent, signal: AbortSignal): Promise<Rule[] | undefined> {
  const res = await request(`${base}/apis/authorization.k8s.io/v1/selfsubjectrulesreviews`, {
    method: 'POST',
    headers: { ...headers, 'content-type': 'application/json' },
    body: JSON.stringify({ apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectRulesReview', spec: { namespace: 'default' } }),
    dispatcher,
    signal,
  });
  const body = (await res.body.json().catch(() => undefined)) as { status?: { resourceRules?: Rule[] } } | undefined;
  if (res.statusCode >= 300) return undefined;
  return body?.status?.resourceRules;
}
