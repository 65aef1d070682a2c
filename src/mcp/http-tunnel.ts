import { request as httpRequest } from 'node:http';
import type { Socket } from 'node:net';
import type { GrantWire, TargetSummary } from '../api/wire-grants.js';
import type { McpContext } from './context.js';
import { ToolError } from './tool-error.js';
import { openToolTunnel } from './tunnel.js';

export interface HttpCall {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string;
}

export interface HttpAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  /** More than `maxBytes` came back: `body` holds the first `maxBytes`. */
  truncated: boolean;
}

const TIMEOUT_MS = 120_000;

/**
 * Sends one HTTP/1.1 request over one tunnel to the gateway's HTTP handler,
 * opened in-process as `gate connect`'s listener would for a connection: the
 * target's rules, approvals, masking and audit apply unchanged, and the
 * request carries this MCP session's id and correlation id. The gateway
 * checks the Host as for a local client, so it is a loopback name.
 */
export async function httpOverTunnel(mcp: McpContext, target: TargetSummary, grant: GrantWire, call: HttpCall, maxBytes: number): Promise<HttpAnswer> {
  const socket = await openToolTunnel(mcp, target, grant);
  const body = call.body === undefined ? undefined : Buffer.from(call.body, 'utf8');
  try {
    return await new Promise<HttpAnswer>((resolve, reject) => {
      const req = httpRequest({
        // node:http takes any duplex here; a framed tunnel stream is one.
        createConnection: () => socket as Socket,
        method: call.method,
        path: call.path,
        headers: {
          ...call.headers,
          host: '127.0.0.1',
          connection: 'close',
          ...(body ? { 'content-length': String(body.length) } : {}),
        },
        timeout: TIMEOUT_MS,
        signal: mcp.cli.signal,
      });
      req.on('timeout', () => req.destroy(new Error(`no answer within ${TIMEOUT_MS / 1000}s`)));
      req.on('error', (err) => reject(new ToolError('error', `gate: the request to ${target.name} failed: ${err.message}`, { target: target.name })));
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        let truncated = false;
        const finish = () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks), truncated });
        res.on('data', (chunk: Buffer) => {
          if (truncated) return;
          const room = maxBytes - size;
          if (chunk.length > room) {
            chunks.push(chunk.subarray(0, room));
            size = maxBytes;
            truncated = true;
            // The agent gets the first part only: stop reading the rest.
            finish();
            res.destroy();
            return;
          }
          chunks.push(chunk);
          size += chunk.length;
        });
        res.on('end', () => !truncated && finish());
        res.on('error', (err) => !truncated && reject(new ToolError('error', `gate: the answer from ${target.name} was cut: ${err.message}`, { target: target.name })));
      });
      req.end(body);
    });
  } finally {
    socket.destroy();
  }
}
