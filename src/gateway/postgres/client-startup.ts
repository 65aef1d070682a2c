/**
 * The client's side of connection start: SSL/GSS encryption requests are
 * declined (the tunnel is already local or TLS), a CancelRequest is returned
 * for the caller to route, and a StartupMessage's parameters are read. gate
 * does not trust `user`/`database` from the client; they are kept for audit.
 */
import { negotiateProtocolVersion } from './backend.js';
import { ProtocolError } from './framing.js';
import { CANCEL_REQUEST_CODE, GSSENC_REQUEST_CODE, parseStartupParams, SSL_REQUEST_CODE } from './frontend.js';
import type { SocketReader } from './socket-reader.js';

const MAX_STARTUP = 10_000;

export type ClientStart =
  | { kind: 'cancel'; pid: number; key: number }
  | { kind: 'startup'; params: Record<string, string>; negotiate?: Buffer };

export async function readClientStart(reader: SocketReader, write: (b: Buffer) => void): Promise<ClientStart> {
  for (let attempt = 0; attempt < 4; attempt++) {
    const body = await reader.readUntyped(MAX_STARTUP);
    const code = body.readInt32BE(0);
    if (code === SSL_REQUEST_CODE || code === GSSENC_REQUEST_CODE) {
      // Anything sent before our answer would be a plaintext-injection attempt.
      if (reader.buffered > 0) throw new ProtocolError('unexpected data after the encryption request');
      write(Buffer.from('N'));
      continue;
    }
    if (code === CANCEL_REQUEST_CODE) {
      if (body.length < 12) throw new ProtocolError('short CancelRequest');
      return { kind: 'cancel', pid: body.readInt32BE(4), key: body.readInt32BE(8) };
    }
    const major = code >>> 16;
    const minor = code & 0xffff;
    if (major !== 3) throw new ProtocolError(`unsupported frontend protocol ${major}.${minor}: gate speaks 3.0`);
    const params = parseStartupParams(body, 4);
    const unsupported = Object.keys(params).filter((k) => k.startsWith('_pq_.'));
    for (const k of unsupported) delete params[k];
    const negotiate = minor > 0 || unsupported.length > 0 ? negotiateProtocolVersion(0, unsupported) : undefined;
    return { kind: 'startup', params, negotiate };
  }
  throw new ProtocolError('too many encryption requests');
}
