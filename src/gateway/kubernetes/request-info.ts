import { canonicalTarget, splitTarget } from '../path/canonical.js';

/**
 * Classifies an API server request the way kube-apiserver's
 * RequestInfoFactory (k8s.io/apiserver/pkg/endpoints/request/requestinfo.go)
 * does, so guardrails and audit lines use the same verbs and resources as
 * Kubernetes RBAC and audit logs.
 */

/** What one HTTP request to the API server means, in Kubernetes terms. */
export interface RequestInfo {
  /** False for `/api`, `/apis`, `/version`, `/healthz`, `/openapi/...` and the like. */
  isResourceRequest: boolean;
  /** URL path without query string. */
  path: string;
  /**
   * RBAC verb: get, list, watch, create, update, patch, delete,
   * deletecollection, proxy; for non-resource requests the lower-cased HTTP
   * method (`get`, `post`, …).
   */
  verb: string;
  /**
   * The verb a person would say: the subresource for the streaming and
   * proxying ones (`exec`, `attach`, `portforward`, `log`, `proxy`), else the
   * verb. Guardrail `verbs` match either this or `verb`.
   */
  action: string;
  /** `api` or `apis` for resource requests. */
  apiPrefix: string;
  /** `''` for the core group. */
  apiGroup: string;
  apiVersion: string;
  /** `''` for cluster-scoped requests. For a Namespace object this is its own name, as in Kubernetes. */
  namespace: string;
  resource: string;
  subresource: string;
  name: string;
  /**
   * Whether the request can run a command in a container or on a node:
   * `pods/exec`, `pods/attach`, `pods/ephemeralcontainers` writes and any
   * `nodes/proxy` request (the kubelet's own exec/run/attach endpoints sit
   * behind it). Guardrail `verbs: [exec]` matches all of them.
   */
  runsCommand: boolean;
}

/** Subresources whose everyday name is a verb of its own (`kubectl exec`, `kubectl logs`, …). */
const ACTION_SUBRESOURCES = new Set(['exec', 'attach', 'portforward', 'log', 'proxy']);
const SPECIAL_VERBS = new Set(['proxy', 'watch']);
const NAMESPACE_SUBRESOURCES = new Set(['status', 'finalize']);

function methodVerb(method: string): string {
  switch (method.toUpperCase()) {
    case 'POST':
      return 'create';
    case 'GET':
    case 'HEAD':
      return 'get';
    case 'PUT':
      return 'update';
    case 'PATCH':
      return 'patch';
    case 'DELETE':
      return 'delete';
    default:
      return '';
  }
}

/** apimachinery's Convert_Slice_string_To_bool: only `0`, `f` and `false` are false. */
function queryBool(value: string | null): boolean {
  if (value === null) return false;
  return !(value === '0' || /^(f|false)$/i.test(value));
}

/** `metadata.name=x` (or `==`) in a field selector pins a list to one name, as the API server reads it. */
function exactName(fieldSelector: string | null): string {
  if (!fieldSelector) return '';
  for (const term of fieldSelector.split(',')) {
    const m = /^\s*metadata\.name\s*==?\s*([^=!\s]+)\s*$/.exec(term);
    if (m && /^[^/%]+$/.test(m[1]!) && m[1] !== '.' && m[1] !== '..') return m[1]!;
  }
  return '';
}

const WRITE_VERBS = new Set(['create', 'update', 'patch']);

/** See RequestInfo.runsCommand. */
function canRunCommand(resource: string, subresource: string, verb: string): boolean {
  if (resource === 'pods') {
    if (subresource === 'exec' || subresource === 'attach') return true;
    if (subresource === 'ephemeralcontainers') return WRITE_VERBS.has(verb);
    return false;
  }
  // `/api/v1/nodes/N/proxy/...` and the older `/api/v1/proxy/nodes/N/...`.
  return resource === 'nodes' && (subresource === 'proxy' || verb === 'proxy');
}

/** A request the gateway classified, with the one target it forwards; or why its path is refused. */
export type Classified = { ok: true; info: RequestInfo; target: string } | { ok: false; reason: string; info: RequestInfo };

/**
 * Canonicalises the request-target (see src/gateway/path/canonical.ts), then
 * classifies it. Forward `target`, never the raw URL: the API server decodes
 * `%2F` before routing, and WHATWG URL resolves `..`, so only the canonical
 * form is read the same way by the guardrails and the API server.
 */
export function classifyRequest(method: string, rawUrl: string): Classified {
  const c = canonicalTarget(rawUrl);
  if (!c.ok) {
    const info = parseRequestInfo(method, '/');
    return { ok: false, reason: c.reason, info: { ...info, path: splitTarget(rawUrl).path } };
  }
  return { ok: true, info: parseRequestInfo(method, c.target), target: c.target };
}

function decodeSegment(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/**
 * Parses method + an already canonical request-target (from
 * {@link classifyRequest}) into a RequestInfo. Segments are split like the
 * API server's splitPath on the decoded path.
 */
export function parseRequestInfo(method: string, rawUrl: string): RequestInfo {
  const split = splitTarget(rawUrl);
  const url = { searchParams: new URLSearchParams(split.query) };
  const path = split.path;
  const info: RequestInfo = {
    isResourceRequest: false,
    path,
    verb: method.toLowerCase(),
    action: method.toLowerCase(),
    apiPrefix: '',
    apiGroup: '',
    apiVersion: '',
    namespace: '',
    resource: '',
    subresource: '',
    name: '',
    runsCommand: false,
  };
  let parts = path.replace(/^\/+|\/+$/g, '').split('/').filter((p) => p !== '').map(decodeSegment);
  if (parts.length < 3) return info;
  const prefix = parts[0]!;
  if (prefix !== 'api' && prefix !== 'apis') return info;
  parts = parts.slice(1);
  let group = '';
  if (prefix === 'apis') {
    if (parts.length < 3) return info;
    group = parts[0]!;
    parts = parts.slice(1);
  }
  const version = parts[0]!;
  parts = parts.slice(1);

  let verb: string;
  if (SPECIAL_VERBS.has(parts[0]!)) {
    // `/watch/...` and `/proxy/...`; a bare special verb is malformed: leave it non-resource.
    if (parts.length < 2) return info;
    verb = parts[0]!;
    parts = parts.slice(1);
  } else {
    verb = methodVerb(method);
  }

  let namespace = '';
  if (parts[0] === 'namespaces' && parts.length > 1) {
    namespace = parts[1]!;
    if (parts.length > 2 && !NAMESPACE_SUBRESOURCES.has(parts[2]!)) parts = parts.slice(2);
  }

  let resource = '';
  let name = '';
  let subresource = '';
  if (parts.length >= 3 && verb !== 'proxy') subresource = parts[2]!;
  if (parts.length >= 2) name = parts[1]!;
  if (parts.length >= 1) resource = parts[0]!;

  if (name === '' && verb === 'get') {
    verb = queryBool(url.searchParams.get('watch')) ? 'watch' : 'list';
    name = exactName(url.searchParams.get('fieldSelector'));
  }
  if (name === '' && verb === 'delete') verb = 'deletecollection';

  return {
    isResourceRequest: true,
    path,
    verb,
    action: ACTION_SUBRESOURCES.has(subresource) ? subresource : verb,
    apiPrefix: prefix,
    apiGroup: group,
    apiVersion: version,
    namespace,
    resource,
    subresource,
    name,
    runsCommand: canRunCommand(resource, subresource, verb),
  };
}

/** `pods/exec`, `deployments`, … */
export function resourcePath(info: RequestInfo): string {
  return info.subresource ? `${info.resource}/${info.subresource}` : info.resource;
}

/**
 * One-line description used in approval requests and messages:
 * `<verb> <resource>[/<sub>] <ns>/<name>` (cluster-scoped: `<name>`; a list:
 * `<ns>`), or `<verb> <path>` for non-resource requests.
 */
export function describeRequest(info: RequestInfo): string {
  if (!info.isResourceRequest) return `${info.verb} ${info.path}`;
  const where = info.namespace && info.name && !(info.resource === 'namespaces' && info.namespace === info.name)
    ? `${info.namespace}/${info.name}`
    : info.name || info.namespace;
  return [info.verb, resourcePath(info), where].filter((s) => s !== '').join(' ');
}
