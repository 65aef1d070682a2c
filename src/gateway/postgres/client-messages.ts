/**
 * Frontend message handling: each message the client sends is read, checked
 * and either forwarded (with an entry in the response queue for what the
 * server will answer) or answered by gate itself.
 */
import { auditRefusal } from '../fail-closed.js';
import { type QueryRecord, statementFields, summaryFields } from './audit-record.js';
import { cstringAt } from './backend.js';
import { F, parseBind, parseExecute, parseTargetRef } from './frontend.js';
import { auditRecord, inject, refuse, type RelayCore } from './relay-core.js';
import { readyForQuery } from './backend.js';
import { summarize, type Verdict } from './statement-policy.js';
import { decodeClientSql } from '../sql/index.js';

type Protocol = 'simple' | 'extended';

/** Handles one client message; `frame` is the whole message (header included). */
export function handleClientMessage(r: RelayCore, type: number, body: Buffer): void {
  if (r.clientReader.oversized) {
    oversized(r, type, r.clientReader.oversized);
    return;
  }
  if (r.skipUntilSync && type !== F.Sync && type !== F.Terminate && !isCopy(type)) return;
  switch (type) {
    case F.Query:
      onQuery(r, body);
      return;
    case F.Parse:
      onParse(r, body);
      return;
    case F.Bind: {
      const b = parseBind(body);
      r.session.portalStatement.set(b.portal, b.statement);
      r.queue.push({ kind: 'bind', portal: b.portal, statement: b.statement, formats: b.resultFormats });
      r.batchForwarded = true;
      forward(r);
      return;
    }
    case F.Describe: {
      const d = parseTargetRef(body);
      const analysis = d.kind === 'S' ? r.session.statementAnalysis.get(d.name) ?? r.session.sqlPrepared.get(d.name) : r.session.portalAnalysis(d.name);
      r.queue.push({ kind: 'describe', target: d.kind, name: d.name, analysis });
      r.batchForwarded = true;
      forward(r);
      return;
    }
    case F.Execute:
      onExecute(r, body);
      return;
    case F.Close: {
      const c = parseTargetRef(body);
      r.queue.push({ kind: 'close', target: c.kind, name: c.name });
      r.batchForwarded = true;
      forward(r);
      return;
    }
    case F.Sync:
      onSync(r);
      return;
    case F.Flush:
      forward(r);
      return;
    case F.FunctionCall:
      onFunctionCall(r, body);
      return;
    case F.Terminate:
      forward(r);
      r.toUpstream.flush(r.upstream);
      r.finish();
      return;
    default:
      // CopyData/CopyDone/CopyFail and anything else: the server judges it.
      forward(r);
      return;
  }
}

/**
 * A message over the limit was discarded unread: the client gets an error
 * naming the limit (the statement it belonged to does not run), and the audit
 * an event. Inside COPY FROM STDIN the copy is failed upstream.
 */
function oversized(r: RelayCore, type: number, size: number): void {
  const max = r.limits.maxMessageBytes;
  r.ctx.audit({ action: 'pg.limit_exceeded', result: 'denied', details: { limit: 'max_message_bytes', max, size, message_type: String.fromCharCode(type) } });
  const text = `gate: message of ${size} bytes is over the ${max}-byte limit on ${r.targetName}`;
  if (isCopy(type)) {
    // The server is in COPY IN: end the copy with CopyFail so it answers with its own error.
    const reason = Buffer.from(`${text}\0`, 'utf8');
    const out = Buffer.alloc(5 + reason.length);
    out[0] = F.CopyFail;
    out.writeInt32BE(4 + reason.length, 1);
    reason.copy(out, 5);
    r.toUpstream.add(out);
    return;
  }
  if (type === F.Query) {
    refuse(r, 'simple', text, '54000');
    return;
  }
  if (r.skipUntilSync) return;
  refuse(r, 'extended', text, '54000');
}

function isCopy(type: number): boolean {
  return type === F.CopyData || type === F.CopyDone || type === F.CopyFail;
}

function forward(r: RelayCore): void {
  r.toUpstream.addView(r.clientReader.buf, r.clientReader.start, r.clientReader.end);
}

/** The statement text of a Query/Parse, decoded as the server will (client_encoding). */
function statementText(r: RelayCore, body: Buffer, offset: number, protocol: Protocol): string | undefined {
  const end = body.indexOf(0, offset);
  const bytes = body.subarray(offset, end < 0 ? body.length : end);
  if (bytes.length > r.limits.maxStatementBytes) {
    r.ctx.audit({
      action: 'pg.limit_exceeded',
      result: 'denied',
      details: { limit: 'max_statement_bytes', max: r.limits.maxStatementBytes, size: bytes.length, protocol },
    });
    refuse(
      r,
      protocol,
      `gate: statement of ${bytes.length} bytes is over the ${r.limits.maxStatementBytes}-byte limit on ${r.targetName}`,
      '54000',
      'Split it, or load large data with COPY FROM STDIN.',
    );
    return undefined;
  }
  const text = decodeClientSql(bytes, r.session.clientEncoding);
  if (text === undefined) {
    if (r.policy.guarded) {
      refuse(
        r,
        protocol,
        `gate: cannot read statements in client_encoding ${r.session.clientEncoding} on ${r.targetName}, whose guardrails or masking need to read every statement; use UTF8`,
        '0A000',
      );
      return undefined;
    }
    return bytes.toString('latin1');
  }
  return text;
}

/** Fail closed: nothing is forwarded while its audit event could not be kept anywhere. */
function auditRefused(r: RelayCore, protocol: Protocol): boolean {
  const refusal = auditRefusal(r.ctx, 'statements');
  if (refusal === undefined) return false;
  refuse(r, protocol, refusal, '58030');
  return true;
}

function onQuery(r: RelayCore, body: Buffer): void {
  if (auditRefused(r, 'simple')) return;
  const text = statementText(r, body, 0, 'simple');
  if (text === undefined) return;
  const verdict = r.policy.check(text, r.session);
  if (verdict.action !== 'allow') {
    decide(r, verdict, text, 'simple');
    return;
  }
  forwardQuery(r, text, verdict);
  forward(r);
  if (verdict.barrier) r.barrier = true;
}

function onParse(r: RelayCore, body: Buffer): void {
  if (auditRefused(r, 'extended')) return;
  const [name, at] = cstringAt(body, 0);
  const text = statementText(r, body, at, 'extended');
  if (text === undefined) return;
  const verdict = r.policy.check(text, r.session);
  if (verdict.action !== 'allow') {
    decide(r, verdict, text, 'extended', name);
    return;
  }
  forwardParse(r, name, text, verdict);
  forward(r);
  if (verdict.barrier) r.barrier = true;
}

function forwardQuery(r: RelayCore, text: string, verdict: Verdict, decision?: string): void {
  r.statements++;
  for (const s of verdict.analyses) r.session.applyStatement(s);
  r.queue.push({
    kind: 'query',
    record: { text, protocol: 'simple', statements: verdict.statements, analyses: verdict.analyses, resultIndex: 0, decision },
  });
}

function forwardParse(r: RelayCore, name: string, text: string, verdict: Verdict, decision?: string): void {
  r.statements++;
  const record: QueryRecord = { text, protocol: 'extended', statements: verdict.statements, analyses: verdict.analyses, decision };
  // A Parse replaces what the name meant (the unnamed statement, or after a Close).
  r.session.forgetName(name);
  r.session.statementText.set(name, text);
  const analysis = verdict.analyses[0];
  if (analysis) r.session.statementAnalysis.set(name, analysis);
  r.batchRecords.push(record);
  r.batchByStatement.set(name, record);
  r.queue.push({ kind: 'parse', name, record });
  r.batchForwarded = true;
}

function onExecute(r: RelayCore, body: Buffer): void {
  const { portal } = parseExecute(body);
  const statement = r.session.portalStatement.get(portal) ?? '';
  // A Parse of this batch is audited by its own record; an Execute of a statement
  // prepared earlier (or a second Execute) gets a record of its own.
  let record = r.batchByStatement.get(statement);
  const analysis = r.session.portalAnalysis(portal);
  if (!record || record.tag !== undefined || record.error) {
    const statements = analysis ? [summarize(analysis)] : undefined;
    record = { text: r.session.portalText(portal), protocol: 'extended', prepared: true, statements, analyses: analysis ? [analysis] : undefined };
    r.batchRecords.push(record);
  }
  // The record is now "in use": a second Execute in the batch gets its own.
  r.batchByStatement.delete(statement);
  if (r.masker) {
    // Never pass rows gate has no current description for: describe the portal itself.
    r.queue.push({ kind: 'describe', target: 'P', name: portal, own: true, analysis });
    r.toUpstream.add(describePortal(portal));
  }
  r.queue.push({ kind: 'execute', portal, record, analysis });
  r.batchForwarded = true;
  forward(r);
}

function describePortal(name: string): Buffer {
  const n = Buffer.from(name, 'utf8');
  const out = Buffer.alloc(1 + 4 + 1 + n.length + 1);
  out[0] = F.Describe;
  out.writeInt32BE(4 + 1 + n.length + 1, 1);
  out[5] = 0x50;
  n.copy(out, 6);
  return out;
}

function onSync(r: RelayCore): void {
  const records = r.batchRecords;
  r.batchRecords = [];
  r.batchByStatement.clear();
  if (r.skipUntilSync && !r.batchForwarded) {
    // Nothing of this batch reached the server: answer the Sync ourselves.
    r.skipUntilSync = false;
    for (const rec of records) auditRecord(r, rec);
    inject(r, () => readyForQuery(r.session.txStatus), false);
    return;
  }
  r.skipUntilSync = false;
  r.batchForwarded = false;
  r.queue.push({ kind: 'sync', records });
  forward(r);
}

/** Fastpath: an event of its own, judged by `opaque_sql` (gate cannot see what the function does). */
function onFunctionCall(r: RelayCore, body: Buffer): void {
  if (auditRefused(r, 'simple')) return;
  const oid = body.readInt32BE(0);
  const verdict = r.policy.checkFunctionCall(oid);
  const extra = { function_oid: oid };
  if (verdict.action === 'allow') {
    r.queue.push({ kind: 'function', record: { text: '', protocol: 'fastpath', extra } });
    forward(r);
    return;
  }
  const message = verdict.action === 'deny' ? verdict.message : `${verdict.message}; fastpath calls cannot wait for an approval, run the function in SQL instead`;
  r.ctx.audit({
    action: 'pg.function_call',
    result: 'denied',
    details: { function_oid: oid, decision: `denied by ${verdict.action === 'deny' ? verdict.rule : verdict.rule.source}`, message },
  });
  // A FunctionCall is answered like a simple query: an error, then ReadyForQuery.
  refuse(r, 'simple', message);
}

/** A statement the policy denies or holds. */
function decide(r: RelayCore, verdict: Exclude<Verdict, { action: 'allow' }>, text: string, protocol: Protocol, name = ''): void {
  if (verdict.action === 'deny') {
    r.ctx.audit({
      action: 'pg.guardrail_denied',
      result: 'denied',
      details: {
        ...statementFields(text, r.limits.auditStatementBytes),
        protocol,
        ...summaryFields(verdict.statements),
        rule: verdict.rule,
        message: verdict.message,
        decision: `denied by ${verdict.rule}`,
      },
    });
    refuse(r, protocol, verdict.message, verdict.code, verdict.hint);
    return;
  }
  hold(r, verdict, text, protocol, name);
}

/** require_approval: hold the client's stream until the approval store answers. */
function hold(r: RelayCore, verdict: Extract<Verdict, { action: 'hold' }>, text: string, protocol: Protocol, name: string): void {
  const rule = verdict.rule;
  // Copy the frame: the reader moves on.
  const frame = Buffer.from(r.clientReader.frame());
  r.awaitingApproval = true;
  r.toUpstream.flush(r.upstream);
  const message = rule.message ?? `this statement matches guardrail ${rule.source} on ${r.targetName}`;
  const summary = verdict.statements.map((s) => ({ tag: s.tag, tables: s.tables, filtered: s.filtered }));
  const base = { ...statementFields(text, r.limits.auditStatementBytes), protocol, ...summaryFields(verdict.statements), rule: rule.source };
  r.ctx
    .requestApproval({ text, rule: rule.source, message: rule.message, summary, reuse: rule.reuse ?? 1 })
    .then(
      (check) => {
        if (r.closed) return;
        if (check.status === 'approved') {
          const decision = `approved as ${check.id}`;
          if (protocol === 'simple') forwardQuery(r, text, verdict, decision);
          else forwardParse(r, name, text, verdict, decision);
          r.toUpstream.add(frame);
          r.ctx.audit({ action: 'pg.guardrail_held', result: 'ok', details: { ...base, request: check.id, status: 'approved' } });
          return;
        }
        r.ctx.audit({
          action: 'pg.guardrail_held',
          result: check.status === 'denied' ? 'denied' : 'held',
          details: { ...base, request: check.id, status: check.status, decision: `held as ${check.id}` },
        });
        refuse(
          r,
          protocol,
          check.status === 'denied'
            ? `gate: statement denied by an approver (request ${check.id}): ${message}.`
            : `gate: statement held for approval (request ${check.id}): ${message}. Ask an approver to run: gate approve ${check.id} — then run the statement again.`,
        );
      },
      (err: unknown) => {
        if (r.closed) return;
        r.ctx.audit({
          action: 'pg.guardrail_held',
          result: 'error',
          details: { ...base, error: String((err as Error)?.message ?? err) },
        });
        refuse(r, protocol, `gate: could not check approval for this statement on ${r.targetName}; try again.`);
      },
    )
    .finally(() => {
      if (r.closed) return;
      r.awaitingApproval = false;
      r.resumeClient();
    });
}
