/**
 * Backend message handling: each message the server sends is matched to the
 * head of the response queue, recorded for audit, masked when the target
 * masks, and passed on (as the view of the chunk it came in when unchanged).
 */
import { B, cstringAt, errorResponse, message, parseErrorFields, rowsFromTag, type TxStatus } from './backend.js';
import { auditRecord, flushInjects, type RelayCore } from './relay-core.js';
import type { StatementAnalysis } from '../sql/index.js';
import { type CopyMask, copyFormat, maskCopyRow } from './copy-masking.js';
import { type FieldInfo, maskDataRow, maskMessageFields, maskText, maskValue, readFields, rewriteDescription, withFormats } from './masking.js';
import { copyMaskedPositions, markMasked } from './result-masking.js';
import type { Entry } from './response-queue.js';
import { endsCycle } from './response-queue.js';
import { encodingSupported } from '../sql/index.js';

/** Server-order state of the relay that only this half needs. */
export interface ServerSide {
  /** Fields of the simple query's current result set. */
  queryFields?: FieldInfo[];
  copyOut: 'none' | 'mask' | 'block';
  copyMask?: CopyMask;
  /** Why a COPY was blocked (sent instead of its CommandComplete). */
  copyBlocked?: string;
  /** Result columns masked for the statement being answered (for its audit). */
  masked?: string[];
}

export function createServerSide(): ServerSide {
  return { copyOut: 'none' };
}

export function handleServerMessage(r: RelayCore, s: ServerSide, type: number): void {
  const head = r.queue.head;
  switch (type) {
    case B.DataRow:
      onDataRow(r, s, head);
      return;
    case B.CopyData:
      onCopyData(r, s);
      return;
    case B.RowDescription:
      onRowDescription(r, s, head);
      return;
    case B.CommandComplete:
      onCommandComplete(r, s, head);
      return;
    case B.EmptyQueryResponse:
    case B.PortalSuspended:
      if (type === B.EmptyQueryResponse && head?.kind === 'query') head.record.resultIndex = (head.record.resultIndex ?? 0) + 1;
      pass(r);
      if (head?.kind === 'execute') {
        r.queue.shift();
        flushInjects(r);
      }
      return;
    case B.ParseComplete:
      if (head?.kind === 'parse') r.session.statementFields.delete(head.name);
      popAndPass(r, 'parse');
      return;
    case B.BindComplete:
      if (head?.kind === 'bind') {
        const fields = r.session.statementFields.get(head.statement);
        r.session.portals.set(head.portal, {
          statement: head.statement,
          formats: head.formats,
          fields: fields ? withFormats(fields, head.formats) : undefined,
        });
      }
      popAndPass(r, 'bind');
      return;
    case B.CloseComplete:
      if (head?.kind === 'close') {
        if (head.target === 'S') r.session.statementFields.delete(head.name);
        else r.session.portals.delete(head.name);
      }
      popAndPass(r, 'close');
      return;
    case B.NoData:
      if (head?.kind === 'describe' && head.target === 'P') {
        const p = r.session.portals.get(head.name);
        if (p) p.fields = [];
      }
      if (head?.kind === 'describe' && head.own) {
        r.queue.shift();
        flushInjects(r);
        return;
      }
      popAndPass(r, 'describe');
      return;
    case B.CopyOutResponse:
      onCopyOut(r, s, head);
      return;
    case B.CopyDone:
      if (s.copyOut === 'block') return;
      pass(r);
      return;
    case B.ErrorResponse:
      onError(r, s, head);
      return;
    case B.ReadyForQuery:
      onReady(r, s);
      return;
    case B.ParameterStatus:
      onParameterStatus(r);
      return;
    case B.NoticeResponse:
      onNotice(r);
      return;
    case B.NotificationResponse:
      onNotification(r);
      return;
    case B.FunctionCallResponse:
      onFunctionResult(r);
      return;
    default:
      // ParameterDescription, CopyIn, …
      pass(r);
      return;
  }
}

function pass(r: RelayCore): void {
  r.toClient.addView(r.serverReader.buf, r.serverReader.start, r.serverReader.end);
}

function popAndPass(r: RelayCore, kind: Entry['kind']): void {
  r.queue.popIf(kind);
  pass(r);
  flushInjects(r);
}

function onDataRow(r: RelayCore, s: ServerSide, head: Entry | undefined): void {
  if (r.masker) {
    const fields = head?.kind === 'execute' ? r.session.portals.get(head.portal)?.fields : s.queryFields;
    const masked = maskDataRow(r.masker, fields, r.serverReader.body());
    if (masked) {
      r.toClient.add(message(B.DataRow, masked));
      return;
    }
  }
  pass(r);
}

function onCopyData(r: RelayCore, s: ServerSide): void {
  if (s.copyOut === 'block') return;
  if (s.copyOut === 'mask' && s.copyMask) {
    const masked = maskCopyRow(s.copyMask, r.serverReader.body().toString('utf8'));
    if (masked !== undefined) {
      r.toClient.add(message(B.CopyData, Buffer.from(masked, 'utf8')));
      return;
    }
  }
  pass(r);
}

/** The statement whose result the server is sending now. */
function currentStatement(r: RelayCore, head: Entry | undefined): StatementAnalysis | undefined {
  let stmt: StatementAnalysis | undefined;
  if (head?.kind === 'describe' || head?.kind === 'execute') stmt = head.analysis;
  else if (head?.kind === 'query') stmt = head.record.analyses?.[head.record.resultIndex ?? 0];
  // SQL EXECUTE returns the rows of its prepared body.
  if (stmt?.execute) return r.session.sqlPrepared.get(stmt.execute.name) ?? stmt;
  return stmt;
}

function onCopyOut(r: RelayCore, s: ServerSide, head: Entry | undefined): void {
  if (!r.masker) {
    pass(r);
    return;
  }
  const body = r.serverReader.body();
  const binary = body[0] === 1;
  const width = body.readInt16BE(1);
  const stmt = currentStatement(r, head);
  const positions = copyMaskedPositions(stmt, width, r.policy.masking, r.catalog);
  const masks = positions === 'all' || positions.length > 0;
  if (binary && (masks || r.masker.email || r.masker.card)) {
    s.copyOut = 'block';
    s.copyBlocked = `gate: binary COPY is refused on ${r.targetName} because its results are masked; use the text or csv format (COPY … WITH (FORMAT csv), or pg_dump --format=plain, custom, directory or tar)`;
    return;
  }
  const fmt = copyFormat(stmt?.text ?? '');
  s.copyOut = 'mask';
  s.copyMask = { ...fmt, positions: positions === 'all' ? 'all' : new Set(positions), detectors: r.masker };
  if (head?.kind === 'query' && masks) {
    head.record.masked = positions === 'all' ? ['*'] : positions.map((i) => `#${i + 1}`);
  }
  pass(r);
}

function onRowDescription(r: RelayCore, s: ServerSide, head: Entry | undefined): void {
  if (!r.masker) {
    if (head?.kind === 'describe') {
      r.queue.shift();
      pass(r);
      flushInjects(r);
      return;
    }
    pass(r);
    return;
  }
  const body = r.serverReader.body();
  const fields = readFields(body);
  const maskedNames = markMasked(fields, currentStatement(r, head), r.policy.masking, r.catalog);
  const rewritten = rewriteDescription(body, fields);
  if (head?.kind === 'describe') {
    if (head.target === 'S') r.session.statementFields.set(head.name, fields);
    else {
      const p = r.session.portals.get(head.name);
      // A portal's description already carries the formats its Bind chose.
      if (p) p.fields = fields;
      else r.session.portals.set(head.name, { statement: '', formats: [], fields });
    }
    r.queue.shift();
    // The Execute after gate's own Describe is audited with what was masked.
    const next = r.queue.head;
    if (head.own && next?.kind === 'execute' && maskedNames.length > 0) next.record.masked = maskedNames;
    flushInjects(r);
    // gate's own Describe: the client did not ask, it must not see the answer.
    if (head.own) return;
  } else {
    s.queryFields = fields;
    if (head?.kind === 'query' && maskedNames.length > 0) head.record.masked = [...(head.record.masked ?? []), ...maskedNames];
  }
  if (rewritten) {
    r.toClient.add(message(B.RowDescription, rewritten));
    return;
  }
  pass(r);
}

function onCommandComplete(r: RelayCore, s: ServerSide, head: Entry | undefined): void {
  const body = r.serverReader.body();
  const tag = body.toString('utf8', 0, Math.max(0, body.length - 1));
  const record = head?.kind === 'query' || head?.kind === 'execute' ? head.record : undefined;
  if (head?.kind === 'query') head.record.resultIndex = (head.record.resultIndex ?? 0) + 1;
  if (s.copyOut === 'block') {
    s.copyOut = 'none';
    const text = s.copyBlocked ?? `gate: COPY TO STDOUT is refused on ${r.targetName}`;
    if (record) record.error = { sqlstate: '0A000', message: text };
    r.toClient.add(errorResponse({ severity: 'ERROR', code: '0A000', message: text }));
  } else {
    s.copyOut = 'none';
    if (record) {
      record.tag = tag;
      const rows = rowsFromTag(tag);
      if (rows !== undefined) record.rows = (record.rows ?? 0) + rows;
    }
    pass(r);
  }
  if (head?.kind === 'execute') {
    r.queue.shift();
    flushInjects(r);
  } else s.queryFields = undefined;
}

function onError(r: RelayCore, s: ServerSide, head: Entry | undefined): void {
  s.copyOut = 'none';
  const fields = parseErrorFields(r.serverReader.body());
  const error = { sqlstate: fields.C ?? '', message: fields.M ?? '' };
  if (head?.kind === 'query' || head?.kind === 'function') {
    head.record.error = error;
    s.queryFields = undefined;
  } else if (head) {
    // The server skips the rest of the batch: so do we, and gate's own errors for it go too.
    r.queue.skipBatch(error);
  }
  passMasked(r, B.ErrorResponse);
}

function onReady(r: RelayCore, s: ServerSide): void {
  const status = r.serverReader.body()[0];
  if (status === 0x49 || status === 0x54 || status === 0x45) r.session.txStatus = String.fromCharCode(status) as TxStatus;
  const e = r.queue.popThrough(endsCycle);
  if (e?.kind === 'query' || e?.kind === 'function') auditRecord(r, e.record);
  else if (e?.kind === 'sync') for (const rec of e.records) auditRecord(r, rec);
  s.queryFields = undefined;
  pass(r);
  flushInjects(r);
}

/**
 * The server reports the settings that change how text is read. On a target
 * gate must read every statement of, a state its analysis cannot read ends the
 * session: from then on gate could not tell what a statement means.
 */
function onParameterStatus(r: RelayCore): void {
  const body = r.serverReader.body();
  const [name, at] = cstringAt(body, 0);
  const [value] = cstringAt(body, at);
  const which = r.session.parameterStatus(name, value);
  pass(r);
  if (!which || !r.policy.guarded) return;
  if (which === 'standard_conforming_strings' && value !== 'on') {
    r.fatal('0A000', `gate: standard_conforming_strings was turned off on ${r.targetName}; gate reads statements only with it on, so the session ends`);
  } else if (which === 'client_encoding' && !encodingSupported(value)) {
    r.fatal('0A000', `gate: client_encoding ${value} cannot be read by gate on ${r.targetName}; the session ends (use UTF8)`);
  }
}

function onNotice(r: RelayCore): void {
  passMasked(r, B.NoticeResponse);
}

/** NOTIFY payloads go through the detectors. */
function onNotification(r: RelayCore): void {
  if (!r.masker) {
    pass(r);
    return;
  }
  const body = r.serverReader.body();
  const pid = body.readInt32BE(0);
  const [channel, at] = cstringAt(body, 4);
  const [payload] = cstringAt(body, at);
  const masked = maskText(r.masker, payload);
  if (masked === undefined) {
    pass(r);
    return;
  }
  const head = Buffer.allocUnsafe(4);
  head.writeInt32BE(pid, 0);
  r.toClient.add(message(B.NotificationResponse, Buffer.concat([head, cz(channel), cz(masked)])));
}

function onFunctionResult(r: RelayCore): void {
  if (!r.masker) {
    pass(r);
    return;
  }
  const body = r.serverReader.body();
  const len = body.readInt32BE(0);
  // The result's type is not in the message: treat it as text (detectors only change text-shaped bytes).
  const masked = len > 0 ? maskValue(r.masker, 25, 1, body.subarray(4, 4 + len)) : undefined;
  if (!masked) {
    pass(r);
    return;
  }
  const head = Buffer.allocUnsafe(4);
  head.writeInt32BE(masked.length, 0);
  r.toClient.add(message(B.FunctionCallResponse, Buffer.concat([head, masked])));
}

/** Errors and notices may quote values (a unique violation's DETAIL): they pass the detectors. */
function passMasked(r: RelayCore, type: number): void {
  if (!r.masker) {
    pass(r);
    return;
  }
  const masked = maskMessageFields(r.masker, r.serverReader.body());
  if (!masked) {
    pass(r);
    return;
  }
  r.toClient.add(message(type, masked));
}

function cz(s: string): Buffer {
  return Buffer.concat([Buffer.from(s, 'utf8'), Buffer.from([0])]);
}
