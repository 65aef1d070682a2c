import type { IncomingMessage, ServerResponse } from 'node:http';
import { Transform, type Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import { auditRefusal } from '../fail-closed.js';
import { admit, MAX_HELD_BODY, parseRequest, type ParsedRequest, ruleFor } from './admission.js';
import { BodySample, type ExchangeRecord, httpAuditDetails } from './audit.js';
import { readBounded, lineRewriter } from './body.js';
import { type HttpRefusal, refusalBody, sendRefusal } from './errors.js';
import { bodyKind, type BodyKind, maskBody, maskString } from './masking.js';
import type { HttpTunnel } from './tunnel-state.js';
import { describeHttpUpstreamError, downstreamHeaders, type HttpUpstream, HttpSetupError, upstreamRequestHeaders } from './upstream.js';

const NO_BODY_STATUS = (status: number) => status === 204 || status === 304 || (status >= 100 && status < 200);

function hasRequestBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

/**
 * Serves one plain request: local checks, canonical path, guardrails (a
 * held request's body is read whole and hashed for its approval), then the
 * upstream through the role's pool. The response streams back as it comes;
 * only a body that masking must read is held, up to `masking.max_body_bytes`.
 * Each request ends in one `http.request` audit event.
 */
export async function forwardHttpRequest(t: HttpTunnel, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const { ctx } = t;
  const target = ctx.target;
  const record: ExchangeRecord = { method: (req.method ?? 'GET').toUpperCase(), path: (req.url ?? '/').split('?', 1)[0]!, query: '', bytesIn: 0, bytesOut: 0, started: Date.now() };
  const samples = target.audit.bodies ? { req: new BodySample(target.audit.body_limit_bytes), res: new BodySample(target.audit.body_limit_bytes) } : undefined;
  let audited = false;
  const audit = (result: 'ok' | 'error' | 'denied' | 'held', extra: Record<string, unknown> = {}) => {
    if (audited) return;
    audited = true;
    const bodies = samples ? { request_body: samples.req.text(t.masker), response_body: samples.res.text(undefined) } : {};
    ctx.audit({ action: 'http.request', result, details: httpAuditDetails(target, record, { ...bodies, ...extra }) });
  };
  const refuse = (r: HttpRefusal, result: 'error' | 'denied' | 'held', extra: Record<string, unknown> = {}, close = false) => {
    record.status = r.status;
    sendRefusal(res, r, close);
    audit(result, { code: r.code, ...extra });
  };

  const ended = t.ended();
  if (ended) return refuse(ended, 'denied', {}, true);
  const unaudited = auditRefusal(ctx, 'requests');
  if (unaudited) return refuse({ status: 503, code: 'audit_unavailable', message: unaudited }, 'denied');
  const parsed = parseRequest(req, ctx.localPassword);
  if (!parsed.ok) return refuse(parsed.refusal, parsed.refusal.status === 400 ? 'error' : 'denied');
  const r: ParsedRequest = parsed.req;
  Object.assign(record, { path: r.path, query: r.query });

  const abort = new AbortController();
  let stopped = false;
  let upBody: Readable | undefined;
  let sse = false;
  const untrack = t.track((refusal) => {
    stopped = true;
    abort.abort();
    upBody?.destroy();
    if (!res.headersSent) return refuse(refusal, 'error', { ended: refusal.code }, true);
    audit('ok', { ended: refusal.code });
    // An event stream can be told why in its own framing; any other body can only be cut short.
    if (sse && !res.writableEnded) res.end(`event: gate-error\ndata: ${refusalBody(refusal)}\n\n`);
    else res.destroy();
  });
  res.once('close', () => {
    untrack();
    abort.abort();
    if (!audited) audit(res.writableFinished ? 'ok' : 'error', res.writableFinished ? {} : { error: 'the client went away' });
  });

  // Held requests are decided on the whole body; nothing else is read before the upstream is chosen.
  const decision = ruleFor(target, r);
  let held: Buffer | undefined;
  if (decision) {
    if (decision.kind === 'require_approval') {
      held = await readBounded(req, MAX_HELD_BODY);
      if (stopped) return;
      if (!held) {
        return refuse(
          { status: 413, code: 'held_body_too_large', message: `gate: a request held for approval may carry at most ${MAX_HELD_BODY} bytes of body.` },
          'error',
          { rule: decision.rule },
          true,
        );
      }
      record.bytesIn = held.length;
      samples?.req.add(held);
    }
    const admission = await admit(ctx, r, decision, held ?? Buffer.alloc(0));
    if (stopped) return;
    if (!admission.allowed) {
      return refuse(admission.refusal, admission.result, { rule: decision.rule, ...(admission.approvalId ? { approval: admission.approvalId } : {}) }, decision.kind === 'deny' && hasRequestBody(req));
    }
    if (admission.approvalId) Object.assign(record, { approval: admission.approvalId });
  }

  let up: HttpUpstream;
  try {
    up = await t.upstream();
  } catch (err) {
    const message = err instanceof HttpSetupError ? err.message : 'gate: the upstream could not be set up.';
    return refuse({ status: err instanceof HttpSetupError ? err.status : 500, code: 'upstream_setup', message }, 'error');
  }
  if (stopped) return;

  const kind: BodyKind | undefined = t.masker ? undefined : 'raw';
  const headers = upstreamRequestHeaders(req.rawHeaders, req.headers, up, target.strip_headers, { identity: t.masker !== undefined });
  let body: Buffer | Readable | undefined = held;
  if (!held && hasRequestBody(req)) {
    body = req.pipe(
      new Transform({
        transform(chunk: Buffer, _enc, cb) {
          record.bytesIn += chunk.length;
          samples?.req.add(chunk);
          cb(null, chunk);
        },
      }),
    );
  }
  if (held) headers['content-length'] = String(held.length);

  let response: Dispatcher.ResponseData;
  try {
    response = await up.pool.request({
      path: up.prefix + r.path + (r.query ? `?${r.query}` : ''),
      method: r.method as Dispatcher.HttpMethod,
      headers,
      body: body ?? null,
      signal: abort.signal,
    });
  } catch (err) {
    if (stopped) return;
    const d = describeHttpUpstreamError(err, ctx.targetName, up);
    return refuse({ status: d.status, code: 'upstream_unreachable', message: d.message }, 'error');
  }
  upBody = response.body;
  if (stopped) {
    response.body.destroy();
    return;
  }
  await relayResponse(t, r, response, res, record, samples?.res, kind, () => stopped, (v) => {
    sse = v;
  }, refuse);
}

/** Sends the upstream's answer: streamed as it comes, or read whole (bounded) when masking must see it. */
async function relayResponse(
  t: HttpTunnel,
  r: ParsedRequest,
  response: Dispatcher.ResponseData,
  res: ServerResponse,
  record: ExchangeRecord,
  sample: BodySample | undefined,
  forced: BodyKind | undefined,
  isStopped: () => boolean,
  setSse: (sse: boolean) => void,
  refuse: (r: HttpRefusal, result: 'error', extra?: Record<string, unknown>, close?: boolean) => void,
): Promise<void> {
  const { statusCode: status, headers } = response;
  record.status = status;
  const contentType = String(headers['content-type'] ?? '');
  const noBody = r.method === 'HEAD' || NO_BODY_STATUS(status);
  const masker = t.masker;
  const kind: BodyKind = noBody ? 'raw' : (forced ?? bodyKind(masker!, contentType));
  setSse(/^text\/event-stream\b/i.test(contentType));
  const encoded = headers['content-encoding'] !== undefined && String(headers['content-encoding']).toLowerCase() !== 'identity';

  if (kind !== 'raw' && encoded) {
    response.body.destroy();
    return refuse({ status: 502, code: 'masking_unreadable', message: `gate: the response of ${r.method} ${r.path} is ${headers['content-encoding']}-encoded and masking cannot read it; it is not passed unmasked.` }, 'error');
  }
  if (kind === 'json' || kind === 'text') {
    const limit = masker!.maxBody;
    let whole: Buffer | undefined;
    try {
      whole = await readBounded(response.body, limit);
    } catch {
      if (!isStopped()) res.destroy();
      return;
    }
    if (isStopped()) return;
    if (!whole) {
      return refuse(
        {
          status: 502,
          code: 'masked_body_too_large',
          message: `gate: the response of ${r.method} ${r.path} is larger than the ${limit} bytes masking may read (masking.max_body_bytes on target "${t.ctx.targetName}"); it is not passed unmasked.`,
        },
        'error',
        { upstream_status: status },
      );
    }
    const out = maskBody(masker!, kind, whole);
    record.bytesOut = out.length;
    sample?.add(out);
    res.writeHead(status, { ...downstreamHeaders(headers, ['content-length', 'etag', 'content-md5']), 'content-length': String(out.length) });
    res.end(out);
    return;
  }

  const lines = kind === 'lines' ? lineRewriter((line) => maskString(masker!, line), masker!.maxBody) : undefined;
  res.writeHead(status, downstreamHeaders(headers, lines ? ['content-length', 'etag', 'content-md5'] : []));
  // Send headers now: an event stream's client waits for them before its first event.
  res.flushHeaders();
  if (noBody) {
    response.body.resume();
    res.end();
    return;
  }
  const send = (chunk: Buffer) => {
    if (chunk.length === 0) return true;
    record.bytesOut += chunk.length;
    sample?.add(chunk);
    return res.write(chunk);
  };
  const body = response.body;
  body.on('data', (chunk: Buffer) => {
    if (!send(lines ? lines.push(chunk) : chunk)) body.pause();
  });
  res.on('drain', () => body.resume());
  body.once('end', () => {
    if (isStopped()) return;
    if (lines) send(lines.flush());
    res.end();
  });
  body.once('error', () => {
    if (!isStopped()) res.destroy();
  });
}
