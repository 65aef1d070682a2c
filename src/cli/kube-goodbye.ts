import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { GateError } from '../errors.js';
import { classifyRequest } from '../gateway/kubernetes/request-info.js';
import { kubeStatus, rawStatusResponse } from '../gateway/kubernetes/status.js';
import { createFramer, type MessageHead } from './http-framing.js';

/**
 * The CLI's own Kubernetes words for kubectl, so that however a tunnel ends
 * (Ctrl-C or SIGTERM of gate, the server gone, a token expired, a refused
 * grant) kubectl prints `Error from server (…): gate: …` instead of "EOF" or
 * "connection reset by peer". The bytes between kubectl and the gateway are
 * only watched for HTTP framing, so gate knows what it may still say: a whole
 * response to a request still waiting for one, or a final ERROR event on a
 * watch stream between two events.
 */

export interface KubeCause {
  code: number;
  reason: string;
  message: string;
}

interface Exchange {
  method: string;
  target: string;
}

export interface KubeConnectionWatch {
  /** Stops watching and relaying the gateway's side; returns what to tell the client (undefined: nothing can be said). */
  farewell(cause: KubeCause): string | undefined;
  stop(): void;
}

/** A Status as a whole HTTP response for this request: JSON for resources, text for discovery (see sendStatus in the gateway). */
export function kubeRefusalResponse(cause: KubeCause, request: { method: string; target: string } | undefined): string {
  const info = request ? classifyRequest(request.method, request.target).info : undefined;
  if (info?.isResourceRequest) return rawStatusResponse(kubeStatus(cause.code, cause.reason, cause.message, info));
  // client-go's discovery shows only a text body, and only for a code it has no fixed sentence for (not 401/403/503).
  const body = `${cause.message}\n`;
  return `HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`;
}

/** A watch ERROR event carrying the Status, as the last chunk of a chunked watch stream, then the stream's end. */
function watchErrorChunks(cause: KubeCause, request: Exchange): string {
  const info = classifyRequest(request.method, request.target).info;
  const event = Buffer.from(`${JSON.stringify({ type: 'ERROR', object: kubeStatus(cause.code, cause.reason, cause.message, info) })}\n`);
  return `${event.length.toString(16)}\r\n${event.toString('utf8')}\r\n0\r\n\r\n`;
}

function isWatch(target: string): boolean {
  const q = target.indexOf('?');
  if (q < 0) return false;
  const watch = new URLSearchParams(target.slice(q + 1)).get('watch');
  return watch !== null && watch !== '0' && watch !== 'false';
}

/** Watches one kubectl connection relayed through a tunnel (see the module comment). */
export function watchKubeConnection(local: Socket, remote: Duplex): KubeConnectionWatch {
  const waiting: Exchange[] = [];
  let answering: { request: Exchange; jsonWatch: boolean; atEventEnd: boolean } | undefined;
  let upgraded = false;
  const requests = createFramer('request', {
    onHead: (head) => waiting.push({ method: head.method ?? 'GET', target: head.target ?? '/' }),
    onEnd: () => {},
  });
  const interim = (head: MessageHead) => (head.status ?? 0) >= 100 && (head.status ?? 0) < 200 && head.status !== 101;
  const responses = createFramer(
    'response',
    {
      onHead(head) {
        if (head.status === 101) upgraded = true;
        if (interim(head) || upgraded) return;
        const request = waiting.shift() ?? { method: 'GET', target: '/' };
        const type = head.headers.get('content-type') ?? '';
        const jsonWatch = isWatch(request.target) && /^application\/json\b/i.test(type) && !head.headers.has('content-encoding');
        answering = { request, jsonWatch, atEventEnd: true };
      },
      onBody(data) {
        if (answering && data.length) answering.atEventEnd = data[data.length - 1] === 0x0a;
      },
      onEnd() {
        answering = undefined;
      },
    },
    {
      bodyless: (head) => interim(head) || head.status === 204 || head.status === 304 || waiting[0]?.method === 'HEAD',
      upgrades: (head) => head.status === 101,
    },
  );
  const onLocal = (c: Buffer) => !upgraded && requests.push(c);
  const onRemote = (c: Buffer) => !upgraded && responses.push(c);
  local.on('data', onLocal);
  remote.on('data', onRemote);
  const stop = () => {
    local.off('data', onLocal);
    remote.off('data', onRemote);
  };
  return {
    stop,
    farewell(cause) {
      stop();
      remote.unpipe(local);
      if (upgraded || responses.raw) return undefined;
      if (answering) {
        if (answering.jsonWatch && responses.betweenChunks && answering.atEventEnd) return watchErrorChunks(cause, answering.request);
        return undefined;
      }
      if (waiting.length > 0 && responses.atBoundary) return kubeRefusalResponse(cause, waiting[0]);
      return undefined;
    },
  };
}

/** Why a tunnel that is going away ends a kubectl exchange. */
export function kubeCauseForEnd(end: { reason: string; message: string }): KubeCause {
  if (end.reason === 'interrupted') {
    return { code: 503, reason: 'ServiceUnavailable', message: 'gate: gate was stopped (Ctrl-C or SIGTERM), so the tunnel closed' };
  }
  if (end.reason === 'server_gone') return { code: 503, reason: 'ServiceUnavailable', message: `gate: ${end.message}` };
  return { code: 403, reason: 'Forbidden', message: `gate: the tunnel closed: ${end.message}` };
}

/** Why a new connection's tunnel could not be opened, in Kubernetes terms. */
export function kubeCauseForRefusal(err: unknown, hint: string | undefined): KubeCause {
  const gateErr = err instanceof GateError ? err : undefined;
  const text = `gate: ${gateErr?.message ?? `the tunnel could not be opened: ${String((err as Error)?.message ?? err)}`}${hint ? ` ${hint}` : ''}`;
  switch (gateErr?.code) {
    case 'GATE_ERR_AUTH_REQUIRED':
    case 'GATE_ERR_AUTH_FAILED':
      return { code: 401, reason: 'Unauthorized', message: text };
    case 'GATE_ERR_ACCESS_DENIED':
    case 'GATE_ERR_NOT_FOUND':
      return { code: 403, reason: 'Forbidden', message: text };
    default:
      return { code: 503, reason: 'ServiceUnavailable', message: text };
  }
}

/**
 * A new kubectl connection whose tunnel could not be opened: read its first
 * request head (so the answer is not an unsolicited response), then answer it
 * with the Status and close.
 */
export function refuseKube(local: Socket, cause: KubeCause): Promise<void> {
  return new Promise((done) => {
    let head: Exchange | undefined;
    const framer = createFramer('request', { onHead: (h) => (head ??= { method: h.method ?? 'GET', target: h.target ?? '/' }), onEnd: () => {} });
    const finish = () => {
      local.off('data', onData);
      clearTimeout(timer);
      if (!local.destroyed && local.writable) local.end(kubeRefusalResponse(cause, head));
      const cut = setTimeout(() => local.destroy(), 2_000);
      local.once('close', () => {
        clearTimeout(cut);
        done();
      });
    };
    const onData = (chunk: Buffer) => {
      framer.push(chunk);
      if (head) finish();
    };
    // A client that never sends a request still hears why, before the socket goes.
    const timer = setTimeout(finish, 5_000);
    timer.unref();
    local.on('data', onData);
    local.on('error', () => {});
    local.resume();
  });
}

/** Ends a relayed kubectl connection with what can still be said, then the end of the socket. */
export function sayKubeGoodbye(local: Socket, remote: Duplex, watch: KubeConnectionWatch, cause: KubeCause): void {
  const last = watch.farewell(cause);
  // Keep reading (and dropping) the gateway's side, so its end arrives and the relay can settle.
  remote.resume();
  if (local.destroyed || !local.writable) return;
  if (last) local.end(last);
  else local.destroy();
}
