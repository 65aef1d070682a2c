import { request } from 'undici';

export interface PostResult {
  ok: boolean;
  status: number | null;
  /** Why it failed, safe to show: never the URL's path or query (they can hold a secret), never a secret. */
  error?: string;
}

/**
 * POSTs one notification with undici: a timeout on the whole exchange, no
 * redirects followed (a 3xx is a failure: the sink's URL is wrong), the
 * response body read and dropped.
 */
export async function postJson(
  url: URL,
  body: string,
  headers: Record<string, string>,
  options: { timeoutMs: number; signal?: AbortSignal; secrets: string[] },
): Promise<PostResult> {
  const signal = options.signal ? AbortSignal.any([options.signal, AbortSignal.timeout(options.timeoutMs)]) : AbortSignal.timeout(options.timeoutMs);
  try {
    const res = await request(url, {
      method: 'POST',
      body,
      headers: { 'content-type': 'application/json', ...headers },
      headersTimeout: options.timeoutMs,
      bodyTimeout: options.timeoutMs,
      signal,
    });
    const text = await res.body.text().catch(() => '');
    if (res.statusCode >= 200 && res.statusCode < 300) return { ok: true, status: res.statusCode };
    const said = text.replace(/\s+/g, ' ').trim().slice(0, 200);
    return { ok: false, status: res.statusCode, error: scrub(`HTTP ${res.statusCode}${said ? `: ${said}` : ''}`, url, options.secrets) };
  } catch (err) {
    const e = err as Error & { code?: string; cause?: { code?: string; message?: string } };
    const why = signal.aborted && !options.signal?.aborted ? `timed out after ${options.timeoutMs} ms` : (e.cause?.code ?? e.code ?? e.message);
    return { ok: false, status: null, error: scrub(`${why} (${url.host})`, url, options.secrets) };
  }
}

/** Removes the URL's path, query and user-info, and the secrets, from a message. */
function scrub(message: string, url: URL, secrets: string[]): string {
  let out = message;
  const parts = [url.href, `${url.pathname}${url.search}`, url.search, url.username, url.password, ...secrets];
  for (const p of parts) if (p && p !== '/' && p.length >= 4) out = out.split(p).join('[redacted]');
  return out;
}
