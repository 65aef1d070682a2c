import type { ClientRequest, IncomingMessage, ServerResponse } from 'node:http';
import type { KubernetesTarget } from '../../config/schema.js';
import { auditRefusal } from '../fail-closed.js';
import type { GatewayContext } from '../types.js';
import { localGuard } from './local-guard.js';
import { admit, auditDetails } from './policy.js';
import { classifyRequest, type RequestInfo } from './request-info.js';
import { type KubeStatus, kubeStatus } from './status.js';
import {
  describeUpstreamError,
  downstreamHeaders,
  openUpstreamRequest,
  type Upstream,
  UpstreamSetupError,
  upstreamHeaders,
} from './upstream.js';

/** Per-tunnel state the request and upgrade paths share. */
export interface TunnelState {
  ctx: GatewayContext<KubernetesTarget>;
  /** Resolves (once per tunnel) the credential, CA and agent. */
  upstream(): Promise<Upstream>;
  /** Registers a function that ends one in-flight exchange when the grant ends; returns the unregister. */
  track(stop: (message: string) => void): () => void;
  /** The message to give clients once the grant has ended, else undefined. */
  endedMessage(): string | undefined;
}

/**
 * Sends a gateway-made refusal. Resource requests get a JSON `Status`, which
 * kubectl prints as `Error from server (<reason>): <message>`. Non-resource
 * requests (discovery: `/api`, `/apis`, `/version`) get the message as
 * text/plain: client-go's discovery client cannot decode a Status there and
 * only shows a body it recognises as text, and it replaces any 503 body with
 * a fixed sentence, so a 503 is sent as a 502 there.
 */
function sendStatus(res: ServerResponse, status: KubeStatus, info: RequestInfo, close = false): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const text = !info.isResourceRequest;
  const body = text ? `${status.message}\n` : JSON.stringify(status);
  const code = text && status.code === 503 ? 502 : status.code;
  res.writeHead(code, {
    'Content-Type': text ? 'text/plain; charset=utf-8' : 'application/json',
    'Content-Length': Buffer.byteLength(body),
    ...(close ? { Connection: 'close' } : {}),
  });
  res.end(body);
}

/** The local guard's refusal (see local-guard.ts), audited; undefined when the request may go on. */
export function guardRefusal(t: TunnelState, req: IncomingMessage, info: RequestInfo): KubeStatus | undefined {
  const status = localGuard(req, t.ctx.localPassword);
  if (!status) return undefined;
  t.ctx.audit({
    action: 'k8s.request',
    result: 'denied',
    details: { ...auditDetails(info, info.path, status.code), rule: 'local-listener', error: status.message },
  });
  return status;
}

/** Status (400) and audit for a request path refused as ambiguous; the raw path is audited as sent. */
export function refusedPath(t: TunnelState, info: RequestInfo, rawUrl: string, reason: string): KubeStatus {
  const message = `gate: refused the request path: ${reason}; send the canonical path instead.`;
  t.ctx.audit({
    action: 'k8s.request',
    result: 'denied',
    details: { ...auditDetails(info, rawUrl, 400), path: info.path, rule: 'canonical-path' },
  });
  return kubeStatus(400, 'BadRequest', message);
}

/** Status and audit for a failure to reach or set up the upstream. */
export function upstreamFailure(
  t: TunnelState,
  info: RequestInfo,
  url: string,
  err: unknown,
  up: Upstream | undefined,
): KubeStatus {
  let { code, reason, message } =
    err instanceof UpstreamSetupError
      ? { code: err.code, reason: 'InternalError', message: err.message }
      : describeUpstreamError(err, t.ctx.targetName, up);
  // See sendStatus: discovery clients only show the text of a non-503 answer.
  if (!info.isResourceRequest && code === 503) code = 502;
  t.ctx.audit({ action: 'k8s.request', result: 'error', details: auditDetails(info, url, code, { error: message }) });
  return kubeStatus(code, reason, message, info);
}

/**
 * Serves one plain (non-upgrade) request: guardrails, then a streaming
 * reverse proxy to the API server with the role's credential. Watches and
 * `logs -f` flow chunk by chunk; nothing is buffered.
 */
export async function forwardRequest(t: TunnelState, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const classified = classifyRequest(req.method ?? 'GET', req.url ?? '/');
  const { info } = classified;
  const ended = t.endedMessage();
  if (ended) return sendStatus(res, kubeStatus(403, 'Forbidden', ended, info), info, true);
  const unaudited = auditRefusal(t.ctx, 'requests');
  if (unaudited) return sendStatus(res, kubeStatus(503, 'ServiceUnavailable', unaudited, info), info);
  const guard = guardRefusal(t, req, info);
  if (guard) return sendStatus(res, guard, info, true);
  if (!classified.ok) {
    const status = refusedPath(t, info, req.url ?? '/', classified.reason);
    return sendStatus(res, status, { ...info, isResourceRequest: true });
  }
  // From here on only the canonical form: it is what was classified and what the API server gets.
  const url = classified.target;

  let stopped = false;
  let upReq: ClientRequest | undefined;
  let upRes: IncomingMessage | undefined;
  // Watch streams are JSON lines; when the last byte relayed ended a line we may
  // append an ERROR event, which kubectl prints, instead of cutting the stream.
  let atEventBoundary = true;
  let jsonWatch = false;

  const untrack = t.track((message) => {
    stopped = true;
    upRes?.unpipe(res);
    upReq?.destroy();
    if (!res.headersSent) return sendStatus(res, kubeStatus(403, 'Forbidden', message, info), info, true);
    if (jsonWatch && atEventBoundary && !res.writableEnded) {
      res.end(`${JSON.stringify({ type: 'ERROR', object: kubeStatus(403, 'Forbidden', message, info) })}\n`);
      return;
    }
    res.destroy();
  });
  res.once('close', () => {
    untrack();
    // The client went away (Ctrl-C on a watch): stop the upstream stream too.
    if (!upRes?.complete) upReq?.destroy();
  });

  const admission = await admit(t.ctx, info, url);
  if (stopped || res.destroyed) return;
  if (!admission.allowed) return sendStatus(res, admission.status, info);

  let up: Upstream;
  try {
    up = await t.upstream();
  } catch (err) {
    if (!stopped) sendStatus(res, upstreamFailure(t, info, url, err, undefined), info);
    return;
  }
  if (stopped || res.destroyed) return;

  const request = openUpstreamRequest(up, req.method ?? 'GET', url, upstreamHeaders(req.rawHeaders, req.headers, up, false));
  upReq = request;
  request.on('response', (response) => {
    upRes = response;
    const code = response.statusCode ?? 502;
    t.ctx.audit({
      action: 'k8s.request',
      result: code < 400 ? 'ok' : 'error',
      details: auditDetails(info, url, code),
    });
    jsonWatch =
      info.verb === 'watch' &&
      /^application\/json\b/i.test(String(response.headers['content-type'] ?? '')) &&
      response.headers['content-encoding'] === undefined;
    response.on('data', (chunk: Buffer) => {
      atEventBoundary = chunk.length > 0 && chunk[chunk.length - 1] === 0x0a;
    });
    response.on('error', () => res.destroy());
    response.on('close', () => {
      if (!response.complete && !stopped) res.destroy();
    });
    res.writeHead(code, response.statusMessage, downstreamHeaders(response.rawHeaders));
    // Send headers now: kubectl waits for them before it shows the first watch event.
    res.flushHeaders();
    response.pipe(res);
  });
  request.on('error', (err) => {
    if (stopped) return;
    if (res.headersSent) res.destroy();
    else sendStatus(res, upstreamFailure(t, info, url, err, up), info);
  });
  req.on('error', () => request.destroy());
  req.pipe(request);
}
