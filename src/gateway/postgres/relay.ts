/**
 * The relay between an authenticated client and its upstream connection. It
 * frames both directions incrementally and follows the protocol just enough
 * to audit statements, enforce guardrails and mask results:
 *
 * - Every forwarded client message that the server answers gets an entry in
 *   `queue`, in order; upstream responses pop them. That is how a DataRow is
 *   matched to the RowDescription of its query or portal, and a CommandComplete
 *   or ErrorResponse to the statement it belongs to.
 * - Answers gate writes itself (a denied or held statement) are queue entries
 *   too ("inject"), so they reach the client in protocol order, after the
 *   responses to everything forwarded before them.
 * - Without masking, RowDescription and DataRow are not even read, and
 *   unmodified frames are written back as the views of the chunks they came in.
 */
import type { Duplex } from 'node:stream';
import type { PostgresTarget } from '../../config/schema.js';
import type { GatewayContext } from '../types.js';
import {
  B,
  errorResponse,
  message,
  parseErrorFields,
  readyForQuery,
  rowsFromTag,
  type TxStatus,
} from './backend.js';
import { FrameReader, MAX_BACKEND_MESSAGE, MAX_FRONTEND_MESSAGE, ProtocolError } from './framing.js';
import { F, parseBind, parseExecute, parseParse, parseQuery, parseTargetRef } from './frontend.js';
import { checkGuardrails, denyMessage, type GuardrailHit, type GuardrailRule } from './guardrails.js';
import { describeRow, type FieldInfo, type Masker, maskDataRow, maskText, withFormats } from './masking.js';
import { Outbox } from './outbox.js';

interface QueryRecord {
  text: string;
  protocol: 'simple' | 'extended';
  prepared?: boolean;
  rows?: number;
  tag?: string;
  error?: { sqlstate: string; message: string };
}

type Entry =
  | { kind: 'query'; record: QueryRecord }
  | { kind: 'parse'; name: string; record: QueryRecord }
  | { kind: 'bind'; portal: string; statement: string; formats: number[] }
  | { kind: 'describe'; target: 'S' | 'P'; name: string }
  | { kind: 'execute'; portal: string; record: QueryRecord }
  | { kind: 'close'; target: 'S' | 'P'; name: string }
  | { kind: 'sync'; records: QueryRecord[] }
  | { kind: 'function' }
  | { kind: 'inject'; bytes: () => Buffer; dropOnError: boolean };

interface Portal {
  statement: string;
  fields?: FieldInfo[];
}

export interface RelayOptions {
  client: Duplex;
  upstream: Duplex;
  ctx: GatewayContext<PostgresTarget>;
  guardrails: GuardrailRule[];
  masker: Masker | undefined;
  txStatus: TxStatus;
  clientLeftover: Buffer;
  upstreamLeftover: Buffer;
  /** Sends a CancelRequest for the upstream connection (used when gate cuts a busy session). */
  cancelUpstream?: () => void;
}

export interface RelayResult {
  bytesFromClient: number;
  bytesToClient: number;
  statements: number;
}

/** Runs until either side closes or the grant ends; never rejects. */
export function relay(opts: RelayOptions): Promise<RelayResult> {
  const { client, upstream, ctx, guardrails, masker } = opts;
  const targetName = ctx.targetName;
  const clientReader = new FrameReader(MAX_FRONTEND_MESSAGE);
  const serverReader = new FrameReader(MAX_BACKEND_MESSAGE);
  const toUpstream = new Outbox();
  const toClient = new Outbox();
  const queue: Entry[] = [];
  let txStatus = opts.txStatus;
  let closed = false;
  let cancelling = false;
  let bytesFromClient = 0;
  let bytesToClient = 0;
  let statements = 0;

  // Extended-protocol batch state (client side, between Syncs).
  let skipUntilSync = false;
  let batchForwarded = false;
  let batchRecords: QueryRecord[] = [];
  const batchByStatement = new Map<string, QueryRecord>();
  const clientStatementText = new Map<string, string>();
  const clientPortalStatement = new Map<string, string>();

  // Server-order state for masking.
  const statementFields = new Map<string, FieldInfo[]>();
  const portals = new Map<string, Portal>();
  let queryFields: FieldInfo[] | undefined;
  let copyOut: 'none' | 'mask' | 'block' = 'none';

  // Client reading pauses while a statement waits for approval or upstream is slow.
  let awaitingApproval = false;
  let upstreamFull = false;
  let clientFull = false;

  let resolveDone!: (r: RelayResult) => void;
  const done = new Promise<RelayResult>((resolve) => {
    resolveDone = resolve;
  });

  function finish(): void {
    if (closed) return;
    closed = true;
    ctx.signal.removeEventListener('abort', onAbort);
    for (const e of queue) {
      if (e.kind === 'query') auditQuery(e.record);
      else if (e.kind === 'sync') e.records.forEach(auditQuery);
    }
    batchRecords.forEach(auditQuery);
    const busy = queue.some((e) => e.kind !== 'inject');
    queue.length = 0;
    // A statement still running upstream would run on after we hang up (the server
    // only notices a closed socket when it writes): cancel it.
    if (busy && cancelling) opts.cancelUpstream?.();
    upstream.end();
    client.end();
    // Give both a moment to flush a last message, then make sure the sockets go.
    setTimeout(() => {
      upstream.destroy();
      client.destroy();
    }, 1_000).unref();
    resolveDone({ bytesFromClient, bytesToClient, statements });
  }

  function fatal(code: string, text: string): void {
    if (closed) return;
    cancelling = true;
    toClient.flush(client);
    client.write(errorResponse({ severity: 'FATAL', code, message: text }));
    finish();
  }

  function onAbort(): void {
    const reason = ctx.signal.reason as { message?: string } | undefined;
    fatal('57P01', reason?.message ? `terminating connection: ${reason.message}` : 'terminating connection: gate grant ended');
  }

  // ---- audit -------------------------------------------------------------

  const audited = new WeakSet<QueryRecord>();
  function auditQuery(r: QueryRecord): void {
    if (audited.has(r)) return;
    audited.add(r);
    const details: Record<string, unknown> = { statement: r.text, protocol: r.protocol };
    if (r.prepared) details.prepared = true;
    if (r.tag !== undefined) details.tag = r.tag;
    if (r.rows !== undefined) details.rows = r.rows;
    if (r.error) details.error = r.error;
    ctx.audit({ action: 'pg.query', result: r.error ? 'error' : 'ok', details });
  }

  // ---- writing gate's own answers ----------------------------------------

  function inject(bytes: () => Buffer, dropOnError: boolean): void {
    if (queue.length === 0) {
      toClient.add(bytes());
      if (!toClient.flush(client)) clientBackpressure();
    } else {
      queue.push({ kind: 'inject', bytes, dropOnError });
    }
  }

  function flushInjects(): void {
    while (queue.length > 0 && queue[0]!.kind === 'inject') {
      const e = queue.shift() as Extract<Entry, { kind: 'inject' }>;
      toClient.add(e.bytes());
    }
  }

  function statementError(text: string): () => Buffer {
    return () => errorResponse({ severity: 'ERROR', code: '42501', message: text });
  }

  // ---- client → upstream ----------------------------------------------------

  function updatePause(): void {
    if (closed) return;
    if (awaitingApproval || upstreamFull) client.pause();
    else client.resume();
    if (clientFull) upstream.pause();
    else upstream.resume();
  }

  function clientBackpressure(): void {
    clientFull = true;
    updatePause();
  }

  function onClientData(chunk: Buffer): void {
    bytesFromClient += chunk.length;
    clientReader.push(chunk);
    processClient();
  }

  function processClient(): void {
    try {
      while (!closed && !awaitingApproval && clientReader.next()) {
        handleClientMessage(clientReader.type, clientReader.body());
      }
    } catch (err) {
      const text =
        err instanceof ProtocolError
          ? `gate: invalid message from client: ${err.message}`
          : 'gate: invalid message from client';
      toUpstream.flush(upstream);
      fatal('08P01', text);
      return;
    }
    if (closed) return;
    if (!toUpstream.flush(upstream)) {
      upstreamFull = true;
      updatePause();
    }
    if (!toClient.empty && !toClient.flush(client)) clientBackpressure();
  }

  function forward(): void {
    toUpstream.addView(clientReader.buf, clientReader.start, clientReader.end);
  }

  function handleClientMessage(type: number, body: Buffer): void {
    switch (type) {
      case F.Query: {
        if (skipUntilSync) return;
        const text = parseQuery(body);
        const hit = checkGuardrails(guardrails, text);
        if (hit) {
          guard(hit, text, 'simple');
          return;
        }
        forwardQuery(text);
        forward();
        return;
      }
      case F.Parse: {
        if (skipUntilSync) return;
        const { name, text } = parseParse(body);
        const hit = checkGuardrails(guardrails, text);
        if (hit) {
          guard(hit, text, 'extended');
          return;
        }
        forwardParse(name, text);
        forward();
        return;
      }
      case F.Bind: {
        if (skipUntilSync) return;
        const b = parseBind(body);
        clientPortalStatement.set(b.portal, b.statement);
        queue.push({ kind: 'bind', portal: b.portal, statement: b.statement, formats: b.resultFormats });
        batchForwarded = true;
        forward();
        return;
      }
      case F.Describe: {
        if (skipUntilSync) return;
        const d = parseTargetRef(body);
        queue.push({ kind: 'describe', target: d.kind, name: d.name });
        batchForwarded = true;
        forward();
        return;
      }
      case F.Execute: {
        if (skipUntilSync) return;
        const { portal } = parseExecute(body);
        const statement = clientPortalStatement.get(portal) ?? '';
        let record = batchByStatement.get(statement);
        if (!record || record.tag !== undefined || record.error) {
          record = { text: clientStatementText.get(statement) ?? '', protocol: 'extended', prepared: true };
          batchRecords.push(record);
          batchByStatement.set(statement, record);
        }
        // The record is now "in use": a second Execute in the batch gets its own.
        const r = record;
        queue.push({ kind: 'execute', portal, record: r });
        batchByStatement.delete(statement);
        batchForwarded = true;
        forward();
        return;
      }
      case F.Close: {
        if (skipUntilSync) return;
        const c = parseTargetRef(body);
        queue.push({ kind: 'close', target: c.kind, name: c.name });
        batchForwarded = true;
        forward();
        return;
      }
      case F.Sync: {
        const records = batchRecords;
        batchRecords = [];
        batchByStatement.clear();
        if (skipUntilSync && !batchForwarded) {
          // Nothing of this batch reached the server: answer the Sync ourselves.
          skipUntilSync = false;
          records.forEach(auditQuery);
          inject(() => readyForQuery(txStatus), false);
          return;
        }
        skipUntilSync = false;
        batchForwarded = false;
        queue.push({ kind: 'sync', records });
        forward();
        return;
      }
      case F.Flush:
        if (skipUntilSync) return;
        forward();
        return;
      case F.FunctionCall:
        if (skipUntilSync) return;
        queue.push({ kind: 'function' });
        forward();
        return;
      case F.Terminate:
        forward();
        toUpstream.flush(upstream);
        finish();
        return;
      default:
        // CopyData/CopyDone/CopyFail and anything else: the server judges it.
        forward();
        return;
    }
  }

  function forwardQuery(text: string): void {
    statements++;
    queue.push({ kind: 'query', record: { text, protocol: 'simple' } });
  }

  function forwardParse(name: string, text: string): void {
    statements++;
    const record: QueryRecord = { text, protocol: 'extended' };
    clientStatementText.set(name, text);
    batchRecords.push(record);
    batchByStatement.set(name, record);
    queue.push({ kind: 'parse', name, record });
    batchForwarded = true;
  }

  /** Refuses a statement in protocol order (simple: error + ReadyForQuery; extended: error, then skip to Sync). */
  function refuse(protocol: 'simple' | 'extended', text: string): void {
    if (protocol === 'simple') {
      const err = statementError(text);
      inject(() => Buffer.concat([err(), readyForQuery(txStatus)]), false);
    } else {
      inject(statementError(text), true);
      skipUntilSync = true;
    }
  }

  function guard(hit: GuardrailHit, text: string, protocol: 'simple' | 'extended'): void {
    const rule = hit.rule;
    if (rule.kind === 'deny') {
      ctx.audit({
        action: 'pg.guardrail_denied',
        result: 'denied',
        details: { statement: text, protocol, rule: rule.source, message: rule.message },
      });
      refuse(protocol, denyMessage(rule, targetName));
      return;
    }
    // require_approval: hold the client's stream (copying the frame: the reader moves on).
    const frame = Buffer.from(clientReader.frame());
    awaitingApproval = true;
    toUpstream.flush(upstream);
    updatePause();
    const message = rule.message ?? `this statement matches guardrail /${rule.source}/ on ${targetName}`;
    ctx
      .requestApproval({ text, rule: rule.source, message: rule.message })
      .then(
        (check) => {
          if (closed) return;
          if (check.status === 'approved') {
            if (protocol === 'simple') forwardQuery(text);
            else forwardParse(parseParse(frame.subarray(5)).name, text);
            toUpstream.add(frame);
            ctx.audit({
              action: 'pg.guardrail_held',
              result: 'ok',
              details: { statement: text, protocol, rule: rule.source, request: check.id, status: 'approved' },
            });
            return;
          }
          ctx.audit({
            action: 'pg.guardrail_held',
            result: check.status === 'denied' ? 'denied' : 'held',
            details: { statement: text, protocol, rule: rule.source, request: check.id, status: check.status },
          });
          refuse(
            protocol,
            check.status === 'denied'
              ? `gate: statement denied by an approver (request ${check.id}): ${message}.`
              : `gate: statement held for approval (request ${check.id}): ${message}. Ask an approver to run: gate approve ${check.id} — then run the statement again.`,
          );
        },
        (err: unknown) => {
          if (closed) return;
          ctx.audit({
            action: 'pg.guardrail_held',
            result: 'error',
            details: { statement: text, protocol, rule: rule.source, error: String((err as Error)?.message ?? err) },
          });
          refuse(protocol, `gate: could not check approval for this statement on ${targetName}; try again.`);
        },
      )
      .finally(() => {
        if (closed) return;
        awaitingApproval = false;
        updatePause();
        processClient();
      });
  }

  // ---- upstream → client ----------------------------------------------------

  function onUpstreamData(chunk: Buffer): void {
    bytesToClient += chunk.length;
    serverReader.push(chunk);
    try {
      while (!closed && serverReader.next()) handleServerMessage(serverReader.type);
    } catch (err) {
      fatal('08006', `gate: invalid data from ${targetName} upstream: ${(err as Error).message}`);
      return;
    }
    if (closed) return;
    if (!toClient.flush(client)) clientBackpressure();
  }

  function pass(): void {
    toClient.addView(serverReader.buf, serverReader.start, serverReader.end);
  }

  function popThrough(stop: (e: Entry) => boolean): Entry | undefined {
    while (queue.length > 0) {
      const e = queue.shift()!;
      if (stop(e)) return e;
    }
    return undefined;
  }

  function handleServerMessage(type: number): void {
    const head = queue[0];
    switch (type) {
      case B.DataRow: {
        if (masker) {
          const fields = head?.kind === 'execute' ? portals.get(head.portal)?.fields : queryFields;
          const body = serverReader.body();
          const masked = maskDataRow(masker, fields, body);
          if (masked) {
            toClient.add(message(B.DataRow, masked));
            return;
          }
        }
        pass();
        return;
      }
      case B.CopyData: {
        if (copyOut === 'block') return;
        if (copyOut === 'mask' && masker) {
          const body = serverReader.body();
          const masked = maskText(masker, body.toString('utf8'));
          if (masked !== undefined) {
            toClient.add(message(B.CopyData, Buffer.from(masked, 'utf8')));
            return;
          }
        }
        pass();
        return;
      }
      case B.RowDescription: {
        if (masker) {
          const { fields, rewritten } = describeRow(masker, serverReader.body());
          if (head?.kind === 'describe') {
            if (head.target === 'S') statementFields.set(head.name, fields);
            else {
              const p = portals.get(head.name);
              if (p) p.fields = fields;
              else portals.set(head.name, { statement: '', fields });
            }
            queue.shift();
            flushInjects();
          } else {
            queryFields = fields;
          }
          if (rewritten) {
            toClient.add(message(B.RowDescription, rewritten));
            return;
          }
        } else if (head?.kind === 'describe') {
          queue.shift();
          pass();
          flushInjects();
          return;
        }
        pass();
        return;
      }
      case B.CommandComplete: {
        const tag = serverReader.body().toString('utf8', 0, serverReader.end - serverReader.start - 6);
        const record = head?.kind === 'query' || head?.kind === 'execute' ? head.record : undefined;
        if (copyOut === 'block') {
          copyOut = 'none';
          const text = `gate: COPY TO STDOUT is blocked on ${targetName} because its results are masked; use SELECT instead.`;
          if (record) record.error = { sqlstate: '42501', message: text };
          toClient.add(errorResponse({ severity: 'ERROR', code: '42501', message: text }));
        } else {
          copyOut = 'none';
          if (record) {
            record.tag = tag;
            const rows = rowsFromTag(tag);
            if (rows !== undefined) record.rows = (record.rows ?? 0) + rows;
          }
          pass();
        }
        if (head?.kind === 'execute') {
          queue.shift();
          flushInjects();
        } else queryFields = undefined;
        return;
      }
      case B.EmptyQueryResponse:
      case B.PortalSuspended:
        pass();
        if (head?.kind === 'execute') {
          queue.shift();
          flushInjects();
        }
        return;
      case B.ParseComplete:
        if (head?.kind === 'parse') statementFields.delete(head.name);
        popAndPass(head, 'parse');
        return;
      case B.BindComplete:
        if (head?.kind === 'bind') {
          const fields = statementFields.get(head.statement);
          portals.set(head.portal, {
            statement: head.statement,
            fields: fields ? withFormats(fields, head.formats) : undefined,
          });
        }
        popAndPass(head, 'bind');
        return;
      case B.CloseComplete:
        if (head?.kind === 'close') {
          if (head.target === 'S') statementFields.delete(head.name);
          else portals.delete(head.name);
        }
        popAndPass(head, 'close');
        return;
      case B.NoData:
        if (head?.kind === 'describe' && head.target === 'P') {
          const p = portals.get(head.name);
          if (p) p.fields = [];
        }
        popAndPass(head, 'describe');
        return;
      case B.CopyOutResponse: {
        if (masker) {
          const binary = serverReader.body()[0] === 1;
          copyOut = masker.columns.size > 0 || binary ? 'block' : 'mask';
          if (copyOut === 'block') return;
        }
        pass();
        return;
      }
      case B.CopyDone:
        if (copyOut === 'block') return;
        pass();
        return;
      case B.ErrorResponse: {
        copyOut = 'none';
        const fields = parseErrorFields(serverReader.body());
        const error = { sqlstate: fields.C ?? '', message: fields.M ?? '' };
        if (head?.kind === 'query') {
          head.record.error = error;
          queryFields = undefined;
        } else if (head) {
          // The server skips the rest of the batch: so do we, and gate's own errors for it go too.
          while (queue.length > 0) {
            const e = queue[0]!;
            if (e.kind === 'sync' || e.kind === 'query' || e.kind === 'function') break;
            if (e.kind === 'inject' && !e.dropOnError) break;
            if ((e.kind === 'execute' || e.kind === 'parse') && !e.record.error) e.record.error = error;
            queue.shift();
          }
        }
        pass();
        return;
      }
      case B.ReadyForQuery: {
        const status = serverReader.body()[0];
        if (status === 0x49 || status === 0x54 || status === 0x45) txStatus = String.fromCharCode(status) as TxStatus;
        const e = popThrough((x) => x.kind === 'sync' || x.kind === 'query' || x.kind === 'function');
        if (e?.kind === 'query') auditQuery(e.record);
        else if (e?.kind === 'sync') e.records.forEach(auditQuery);
        queryFields = undefined;
        pass();
        flushInjects();
        return;
      }
      default:
        // ParameterStatus, Notice, Notification, ParameterDescription, CopyIn, FunctionCallResponse…
        pass();
        return;
    }
  }

  function popAndPass(head: Entry | undefined, kind: Entry['kind']): void {
    if (head?.kind === kind) queue.shift();
    pass();
    flushInjects();
  }

  // ---- wiring ----------------------------------------------------------------

  client.on('data', onClientData);
  upstream.on('data', onUpstreamData);
  client.on('drain', () => {
    clientFull = false;
    updatePause();
  });
  upstream.on('drain', () => {
    upstreamFull = false;
    updatePause();
  });
  client.on('end', () => {
    if (closed) return;
    toUpstream.flush(upstream);
    finish();
  });
  client.on('close', () => finish());
  upstream.on('end', () => {
    if (closed) return;
    toClient.flush(client);
    finish();
  });
  upstream.on('close', () => {
    if (closed) return;
    toClient.flush(client);
    finish();
  });
  client.on('error', () => finish());
  upstream.on('error', () => {
    if (closed) return;
    fatal('08006', `gate: lost the connection to ${targetName} upstream`);
  });
  if (ctx.signal.aborted) onAbort();
  else ctx.signal.addEventListener('abort', onAbort, { once: true });

  if (!closed) {
    if (opts.upstreamLeftover.length > 0) onUpstreamData(opts.upstreamLeftover);
    if (opts.clientLeftover.length > 0) onClientData(opts.clientLeftover);
  }
  // The client may have gone while gate was logging in upstream: its 'end' has already fired.
  if (client.destroyed || client.readableEnded) {
    toUpstream.flush(upstream);
    finish();
  }
  if (!closed) {
    client.resume();
    upstream.resume();
  }
  return done;
}
