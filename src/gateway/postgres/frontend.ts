/**
 * Frontend messages: readers for what clients send, and builders for what
 * gate sends upstream while it logs in on the client's behalf.
 */
import { cstring, cstringAt, int32 } from './backend.js';

export const F = {
  Query: 0x51, // Q
  Parse: 0x50, // P
  Bind: 0x42, // B
  Describe: 0x44, // D
  Execute: 0x45, // E
  Close: 0x43, // C
  Sync: 0x53, // S
  Flush: 0x48, // H
  Terminate: 0x58, // X
  CopyData: 0x64, // d
  CopyDone: 0x63, // c
  CopyFail: 0x66, // f
  FunctionCall: 0x46, // F
  Password: 0x70, // p
} as const;

export const SSL_REQUEST_CODE = 80877103;
export const GSSENC_REQUEST_CODE = 80877104;
export const CANCEL_REQUEST_CODE = 80877102;
export const PROTOCOL_3 = 3 << 16;

function typed(type: number, body: Buffer): Buffer {
  const out = Buffer.allocUnsafe(5 + body.length);
  out[0] = type;
  out.writeInt32BE(4 + body.length, 1);
  body.copy(out, 5);
  return out;
}

export function sslRequest(): Buffer {
  return Buffer.concat([int32(8), int32(SSL_REQUEST_CODE)]);
}

export function cancelRequest(pid: number, key: number): Buffer {
  return Buffer.concat([int32(16), int32(CANCEL_REQUEST_CODE), int32(pid), int32(key)]);
}

export function startupMessage(params: Record<string, string>): Buffer {
  const parts = [int32(PROTOCOL_3)];
  for (const [k, v] of Object.entries(params)) parts.push(cstring(k), cstring(v));
  parts.push(Buffer.from([0]));
  const body = Buffer.concat(parts);
  return Buffer.concat([int32(body.length + 4), body]);
}

export function passwordMessage(password: string): Buffer {
  return typed(F.Password, cstring(password));
}

export function saslInitialResponse(mechanism: string, data: Buffer): Buffer {
  return typed(F.Password, Buffer.concat([cstring(mechanism), int32(data.length), data]));
}

export function saslResponse(data: Buffer): Buffer {
  return typed(F.Password, data);
}

export function terminate(): Buffer {
  return typed(F.Terminate, Buffer.alloc(0));
}

/** Key/value pairs of a StartupMessage body (after the protocol version). */
export function parseStartupParams(body: Buffer, offset: number): Record<string, string> {
  const out: Record<string, string> = {};
  let i = offset;
  while (i < body.length && body[i] !== 0) {
    const [k, a] = cstringAt(body, i);
    const [v, b] = cstringAt(body, a);
    out[k] = v;
    i = b;
  }
  return out;
}

export interface ParseMsg {
  name: string;
  text: string;
}

export function parseParse(body: Buffer): ParseMsg {
  const [name, a] = cstringAt(body, 0);
  const [text] = cstringAt(body, a);
  return { name, text };
}

export function parseQuery(body: Buffer): string {
  return cstringAt(body, 0)[0];
}

export interface BindMsg {
  portal: string;
  statement: string;
  /** Result format codes as sent: [] = all text, [f] = all f, else one per column. */
  resultFormats: number[];
}

export function parseBind(body: Buffer): BindMsg {
  const [portal, a] = cstringAt(body, 0);
  const [statement, b] = cstringAt(body, a);
  let i = b;
  const nFormats = body.readInt16BE(i);
  i += 2 + nFormats * 2;
  const nParams = body.readInt16BE(i);
  i += 2;
  for (let p = 0; p < nParams; p++) {
    const len = body.readInt32BE(i);
    i += 4 + Math.max(len, 0);
  }
  const nResults = body.readInt16BE(i);
  i += 2;
  const resultFormats: number[] = [];
  for (let r = 0; r < nResults; r++) resultFormats.push(body.readInt16BE(i + r * 2));
  return { portal, statement, resultFormats };
}

/** Describe and Close: a kind byte ('S' statement, 'P' portal) and a name. */
export function parseTargetRef(body: Buffer): { kind: 'S' | 'P'; name: string } {
  const kind = body[0] === 0x53 ? 'S' : 'P';
  return { kind, name: cstringAt(body, 1)[0] };
}

export function parseExecute(body: Buffer): { portal: string } {
  return { portal: cstringAt(body, 0)[0] };
}
