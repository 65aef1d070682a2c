import type { KubernetesTarget } from '../../config/schema.js';
import { splitTarget } from '../path/canonical.js';
import type { GatewayAuditEvent, GatewayContext } from '../types.js';
import { checkGuardrails } from './guardrails.js';
import { describeRequest, type RequestInfo, resourcePath } from './request-info.js';
import { type KubeStatus, kubeStatus } from './status.js';

/** Either the request may go upstream, or the client gets this Status (already audited). */
export type Admission = { allowed: true } | { allowed: false; status: KubeStatus };

/** Audit details for one request; never the query string's secrets, never a credential. */
export function auditDetails(info: RequestInfo, url: string, status: number | undefined, extra: Record<string, unknown> = {}) {
  const details: Record<string, unknown> = {
    verb: info.verb,
    action: info.action,
    resource: info.resource,
    subresource: info.subresource,
    namespace: info.namespace,
    name: info.name,
    apiGroup: info.apiGroup,
    path: info.path,
    status,
    ...extra,
  };
  const command = execCommand(info, url);
  if (command) details.command = command;
  return details;
}

/** The `command` query parameters of an exec request (what `kubectl exec POD -- cmd` runs). */
export function execCommand(info: RequestInfo, url: string): string[] | undefined {
  if (info.subresource !== 'exec') return undefined;
  const command = new URLSearchParams(splitTarget(url).query).getAll('command');
  return command.length ? command : undefined;
}

/** What an approver sees and what a later approval must match: `<verb> <resource> <ns>/<name>[ -- <command>]`. */
export function approvalText(info: RequestInfo, url: string): string {
  // kubectl tries exec over WebSocket (GET) and falls back to SPDY (POST): one
  // approval must cover both, so connect subresources read as `create`, the
  // verb Kubernetes itself authorizes them with.
  const normalized = CONNECT_SUBRESOURCES.has(info.subresource) ? { ...info, verb: 'create' } : info;
  const command = execCommand(info, url);
  return command ? `${describeRequest(normalized)} -- ${command.join(' ')}` : describeRequest(normalized);
}

const CONNECT_SUBRESOURCES = new Set(['exec', 'attach', 'portforward']);

/**
 * Applies the target's guardrails: `deny` → 403 Status; `require_approval`
 * → asks the server, and only an approved request passes. Audits refusals
 * (`denied` / `held`); allowed requests are audited when their response starts.
 */
export async function admit(ctx: GatewayContext<KubernetesTarget>, info: RequestInfo, url: string): Promise<Admission> {
  const decision = checkGuardrails(ctx.target.guardrails, info);
  if (!decision) return { allowed: true };
  const what = info.isResourceRequest ? `${info.verb} ${resourcePath(info)}` : `${info.verb} ${info.path}`;
  const refuse = (result: GatewayAuditEvent['result'], status: KubeStatus, extra: Record<string, unknown>): Admission => {
    ctx.audit({ action: 'k8s.request', result, details: auditDetails(info, url, status.code, { rule: decision.rule, ...extra }) });
    return { allowed: false, status };
  };

  if (decision.kind === 'deny') {
    const message = decision.message ?? `gate: ${what} is not allowed on target "${ctx.targetName}" (guardrail: ${decision.rule}).`;
    return refuse('denied', kubeStatus(403, 'Forbidden', message, info), {});
  }

  let check: Awaited<ReturnType<typeof ctx.requestApproval>>;
  try {
    check = await ctx.requestApproval({ text: approvalText(info, url), rule: decision.rule, message: decision.message });
  } catch {
    const status = kubeStatus(503, 'ServiceUnavailable', `gate: could not check the approval for ${what}; retry in a moment.`, info);
    return refuse('error', status, {});
  }
  if (check.status === 'approved') return { allowed: true };
  const lead = decision.message ?? `${what} on target "${ctx.targetName}" needs approval (guardrail: ${decision.rule})`;
  if (check.status === 'denied') {
    const status = kubeStatus(403, 'Forbidden', `${lead}: approval request ${check.id} was denied.`, info);
    return refuse('denied', status, { approval: check.id });
  }
  const status = kubeStatus(
    403,
    'Forbidden',
    `${lead}: approval request ${check.id} is pending. Run \`gate approve ${check.id}\` (or ask an approver to), then retry.`,
    info,
  );
  return refuse('held', status, { approval: check.id });
}
