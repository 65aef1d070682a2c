/**
 * One canonical form for request paths, shared by every HTTP-speaking
 * gateway (Kubernetes, HTTP targets). Guardrails classify the canonical path
 * and the gateway forwards exactly that path, so what was checked is what the
 * upstream receives.
 *
 * Why this shape: servers disagree on encoded paths. Go's net/http (and so
 * kube-apiserver) decodes `%2F` into `/` before routing, WHATWG URL parsing
 * resolves `..` and `%2e%2e` but not `%2F`, some proxies decode twice, some
 * treat `\` as `/`. Any byte sequence two of them could read differently is
 * refused rather than guessed at:
 *
 * - an encoded `/` or `\` inside a segment (`web%2Fexec`),
 * - `.` and `..` segments, raw or encoded (`%2e%2e`), which could climb out
 *   of a path-prefixed upstream address,
 * - a raw `\`, a `%` that survives one decoding (`%252F`, double encoding),
 *   NUL and other control characters, malformed `%` escapes or invalid UTF-8,
 * - anything but an origin-form target (`/…`): no `*`, no absolute URLs.
 *
 * Empty segments (`//api/…`, `a//b`) are not ambiguous in what they name but
 * are read differently by different routers, so they are collapsed: the
 * canonical path never has two slashes in a row. Every kept segment is
 * re-encoded the same way (RFC 3986 `pchar`, upper-case escapes), so `%41`
 * and `A` give one path.
 */

/** A path that passed: its decoded segments and the one encoding gate forwards. */
export interface CanonicalOk {
  ok: true;
  /** Re-encoded origin-form path, always starting with `/`, never `//`, no dot segments. */
  path: string;
  /** Decoded segments, no empty ones (`/` alone gives `[]`). */
  segments: string[];
  /** Whether the original path ended in `/` (kept in `path`). */
  trailingSlash: boolean;
}

/** A path refused as ambiguous; `reason` is a sentence fit for a 400 answer. */
export interface CanonicalRefused {
  ok: false;
  reason: string;
}

export type CanonicalPath = CanonicalOk | CanonicalRefused;

/** A request-target split at the first `?`: raw path and raw query (without `?`, `''` if none). */
export interface SplitTarget {
  path: string;
  query: string;
}

/** Splits an HTTP request-target (`req.url`) into raw path and raw query; a fragment is dropped. */
export function splitTarget(target: string): SplitTarget {
  const noFragment = target.split('#', 1)[0]!;
  const q = noFragment.indexOf('?');
  return q < 0 ? { path: noFragment, query: '' } : { path: noFragment.slice(0, q), query: noFragment.slice(q + 1) };
}

// RFC 3986 pchar minus pct-encoded: unreserved / sub-delims / ":" / "@".
const PCHAR = /^[A-Za-z0-9\-._~!$&'()*+,;=:@]$/;
// C0 controls, DEL.
const CONTROL = /[\u0000-\u001f\u007f]/;

function refuse(reason: string): CanonicalRefused {
  return { ok: false, reason };
}

function decodeSegment(raw: string): string | CanonicalRefused {
  if (raw.includes('\\')) return refuse('a backslash in a URL path is read as "/" by some servers and not by others');
  if (/%(?![0-9A-Fa-f]{2})/.test(raw)) return refuse('the URL path has a malformed percent escape');
  let decoded: string;
  try {
    decoded = decodeURIComponent(raw);
  } catch {
    return refuse('the URL path does not decode to valid UTF-8');
  }
  if (decoded.includes('/')) return refuse('an encoded "/" (%2F) inside a path segment is ambiguous');
  if (decoded.includes('\\')) return refuse('an encoded "\\" (%5C) inside a path segment is ambiguous');
  if (decoded.includes('%')) return refuse('a double-encoded URL path (an escape such as %25..) is ambiguous');
  if (CONTROL.test(decoded)) return refuse('the URL path contains a control character');
  if (decoded === '.' || decoded === '..') {
    return refuse('"." and ".." segments (also as %2e) are not allowed in a URL path');
  }
  return decoded;
}

/** Percent-encodes one decoded segment the single way gate forwards it. */
export function encodeSegment(segment: string): string {
  let out = '';
  for (const ch of segment) {
    if (PCHAR.test(ch)) out += ch;
    else for (const b of Buffer.from(ch, 'utf8')) out += `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/**
 * Canonicalises a raw origin-form path (no query). Returns the decoded
 * segments and the path to forward, or why the path is refused.
 */
export function canonicalPath(rawPath: string): CanonicalPath {
  if (!rawPath.startsWith('/')) return refuse('the request target must be a path starting with "/"');
  const segments: string[] = [];
  for (const raw of rawPath.split('/')) {
    if (raw === '') continue;
    const decoded = decodeSegment(raw);
    if (typeof decoded !== 'string') return decoded;
    segments.push(decoded);
  }
  const trailingSlash = rawPath.length > 1 && rawPath.endsWith('/') && segments.length > 0;
  const path = `/${segments.map(encodeSegment).join('/')}${trailingSlash ? '/' : ''}`;
  return { ok: true, path, segments, trailingSlash };
}

/**
 * Canonicalises a whole request-target (`req.url`): the path as in
 * {@link canonicalPath}, the query kept as sent (only control characters
 * refused). `target` is `path` or `path?query`.
 */
export function canonicalTarget(target: string): (CanonicalOk & { query: string; target: string }) | CanonicalRefused {
  const { path, query } = splitTarget(target);
  const c = canonicalPath(path);
  if (!c.ok) return c;
  if (CONTROL.test(query)) return refuse('the query string contains a control character');
  return { ...c, query, target: query === '' ? c.path : `${c.path}?${query}` };
}

/**
 * Joins a canonical path under an upstream address's own path prefix
 * (`https://rancher/k8s/clusters/c-1` + `/api/v1/pods`). Safe only for a
 * path from {@link canonicalPath}: it has no dot segments, so the result can
 * never climb out of the prefix.
 */
export function joinUnderPrefix(prefix: string, canonical: string): string {
  return prefix.replace(/\/+$/, '') + canonical;
}
