/**
 * Backend messages: the ones gate writes to the client itself, and readers for
 * the few upstream messages it needs to look inside.
 */

/** Byte values of the backend message types gate looks at. */
export const B = {
  Authentication: 0x52, // R
  BackendKeyData: 0x4b, // K
  ParameterStatus: 0x53, // S
  ReadyForQuery: 0x5a, // Z
  ErrorResponse: 0x45, // E
  NoticeResponse: 0x4e, // N
  NotificationResponse: 0x41, // A
  RowDescription: 0x54, // T
  DataRow: 0x44, // D
  CommandComplete: 0x43, // C
  EmptyQueryResponse: 0x49, // I
  PortalSuspended: 0x73, // s
  ParseComplete: 0x31, // 1
  BindComplete: 0x32, // 2
  CloseComplete: 0x33, // 3
  ParameterDescription: 0x74, // t
  NoData: 0x6e, // n
  CopyInResponse: 0x47, // G
  CopyOutResponse: 0x48, // H
  CopyBothResponse: 0x57, // W
  CopyData: 0x64, // d
  CopyDone: 0x63, // c
  FunctionCallResponse: 0x56, // V
  NegotiateProtocolVersion: 0x76, // v
} as const;

/** Builds a typed message from a body. */
export function message(type: number, body: Buffer): Buffer {
  const out = Buffer.allocUnsafe(5 + body.length);
  out[0] = type;
  out.writeInt32BE(4 + body.length, 1);
  body.copy(out, 5);
  return out;
}

export function authenticationOk(): Buffer {
  return message(B.Authentication, int32(0));
}

export function authenticationCleartextPassword(): Buffer {
  return message(B.Authentication, int32(3));
}

export function backendKeyData(pid: number, key: number): Buffer {
  const body = Buffer.allocUnsafe(8);
  body.writeInt32BE(pid, 0);
  body.writeInt32BE(key, 4);
  return message(B.BackendKeyData, body);
}

export type TxStatus = 'I' | 'T' | 'E';

export function readyForQuery(status: TxStatus): Buffer {
  return message(B.ReadyForQuery, Buffer.from(status, 'latin1'));
}

export function negotiateProtocolVersion(minor: number, unsupported: string[]): Buffer {
  const parts = [int32(minor), int32(unsupported.length), ...unsupported.map(cstring)];
  return message(B.NegotiateProtocolVersion, Buffer.concat(parts));
}

export interface ErrorFields {
  severity: 'ERROR' | 'FATAL' | 'NOTICE' | 'WARNING';
  code: string;
  message: string;
  detail?: string;
  hint?: string;
}

/** An ErrorResponse (or NoticeResponse when `notice`) with the fields psql and drivers show. */
export function errorResponse(fields: ErrorFields, notice = false): Buffer {
  const parts: Buffer[] = [
    field('S', fields.severity),
    field('V', fields.severity),
    field('C', fields.code),
    field('M', fields.message),
  ];
  if (fields.detail) parts.push(field('D', fields.detail));
  if (fields.hint) parts.push(field('H', fields.hint));
  parts.push(Buffer.from([0]));
  return message(notice ? B.NoticeResponse : B.ErrorResponse, Buffer.concat(parts));
}

/** Reads the fields of an ErrorResponse/NoticeResponse body, keyed by their one-letter code. */
export function parseErrorFields(body: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let i = 0;
  while (i < body.length && body[i] !== 0) {
    const code = String.fromCharCode(body[i]!);
    const end = body.indexOf(0, i + 1);
    if (end < 0) break;
    out[code] = body.toString('utf8', i + 1, end);
    i = end + 1;
  }
  return out;
}

/** Rows affected or returned, from a CommandComplete tag such as `SELECT 3` or `INSERT 0 2`. */
export function rowsFromTag(tag: string): number | undefined {
  const m = /\s(\d+)$/.exec(tag);
  return m ? Number(m[1]) : undefined;
}

export function cstringAt(body: Buffer, offset: number): [string, number] {
  const end = body.indexOf(0, offset);
  if (end < 0) throw new RangeError('unterminated string');
  return [body.toString('utf8', offset, end), end + 1];
}

export function int32(n: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeInt32BE(n, 0);
  return b;
}

export function cstring(s: string): Buffer {
  return Buffer.concat([Buffer.from(s, 'utf8'), Buffer.from([0])]);
}

function field(code: string, value: string): Buffer {
  return Buffer.concat([Buffer.from(code, 'latin1'), cstring(value)]);
}
