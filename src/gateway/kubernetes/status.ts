import { STATUS_CODES } from 'node:http';
import type { RequestInfo } from './request-info.js';

/** A `meta/v1 Status` object: what kubectl prints as `Error from server (<reason>): <message>`. */
export interface KubeStatus {
  kind: 'Status';
  apiVersion: 'v1';
  metadata: Record<string, never>;
  status: 'Failure';
  message: string;
  reason: string;
  details?: { name?: string; group?: string; kind?: string };
  code: number;
}

/** Builds a failure Status; `details` follows the API server (name, group, kind = resource). */
export function kubeStatus(code: number, reason: string, message: string, info?: RequestInfo): KubeStatus {
  const status: KubeStatus = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code };
  if (info?.isResourceRequest) {
    status.details = { ...(info.name ? { name: info.name } : {}), group: info.apiGroup, kind: info.resource };
  }
  return status;
}

/** The Status as a complete raw HTTP/1.1 response, for sockets no longer owned by an http.Server (upgrades). */
export function rawStatusResponse(status: KubeStatus): string {
  const body = JSON.stringify(status);
  return (
    `HTTP/1.1 ${status.code} ${STATUS_CODES[status.code] ?? 'Error'}\r\n` +
    'Content-Type: application/json\r\n' +
    `Content-Length: ${Buffer.byteLength(body)}\r\n` +
    'Connection: close\r\n\r\n' +
    body
  );
}
