/**
 * The state one relay shares between its two halves (client-messages.ts reads
 * what the client sends, server-messages.ts what the server answers), and the
 * few operations both need: write gate's own answers in protocol order,
 * refuse a statement, audit a finished one, end the session.
 */
import type { Duplex } from 'node:stream';
import type { PostgresTarget } from '../../config/schema.js';
import type { GatewayContext } from '../types.js';
import { type QueryRecord, queryEvent } from './audit-record.js';
import { errorResponse, readyForQuery, type TxStatus } from './backend.js';
import { emptyCatalog, type MaskCatalog } from './catalog.js';
import { FrameReader, MAX_BACKEND_MESSAGE } from './framing.js';
import type { Masker } from './masking.js';
import { Outbox } from './outbox.js';
import { ResponseQueue } from './response-queue.js';
import { SessionState } from './session-state.js';
import type { StatementPolicy } from './statement-policy.js';

export interface RelayLimits {
  /** Largest message a client may send (bytes). */
  maxMessageBytes: number;
  /** Largest statement text (Query or Parse) a client may send (bytes). */
  maxStatementBytes: number;
  /** Statement text kept in an audit event (bytes). */
  auditStatementBytes: number;
}

export interface RelayCore {
  ctx: GatewayContext<PostgresTarget>;
  targetName: string;
  client: Duplex;
  upstream: Duplex;
  policy: StatementPolicy;
  masker: Masker | undefined;
  /** Masked columns resolved against the catalog at session start. */
  catalog: MaskCatalog;
  limits: RelayLimits;
  session: SessionState;
  queue: ResponseQueue;
  clientReader: FrameReader;
  serverReader: FrameReader;
  toUpstream: Outbox;
  toClient: Outbox;
  closed: boolean;
  /** Set when gate itself ends the session (the upstream statement is cancelled). */
  cancelling: boolean;
  /** The client's stream is held while a statement waits for approval. */
  awaitingApproval: boolean;
  /** The client's stream is held until the next ReadyForQuery (a statement may change how text is read). */
  barrier: boolean;
  /** Extended protocol: a statement of this batch was refused, skip to its Sync. */
  skipUntilSync: boolean;
  /** Something of the current batch reached the server (it will answer the Sync). */
  batchForwarded: boolean;
  batchRecords: QueryRecord[];
  /** Statement name → the record of its Parse in the current batch (an Execute runs it). */
  batchByStatement: Map<string, QueryRecord>;
  statements: number;
  bytesFromClient: number;
  bytesToClient: number;
  /** Ends the session with a FATAL error. */
  fatal(code: string, text: string): void;
  /** Ends the session (both sockets). */
  finish(): void;
  /** Called when the client's socket reports backpressure. */
  clientBackpressure(): void;
  /** Called when the approval wait ends, to read on. */
  resumeClient(): void;
}

export function createCore(init: {
  ctx: GatewayContext<PostgresTarget>;
  client: Duplex;
  upstream: Duplex;
  policy: StatementPolicy;
  masker: Masker | undefined;
  limits: RelayLimits;
  txStatus: TxStatus;
  catalog?: MaskCatalog;
}): RelayCore {
  return {
    ...init,
    catalog: init.catalog ?? emptyCatalog(),
    targetName: init.ctx.targetName,
    session: new SessionState(init.txStatus),
    queue: new ResponseQueue(),
    clientReader: new FrameReader(init.limits.maxMessageBytes, true),
    serverReader: new FrameReader(MAX_BACKEND_MESSAGE),
    toUpstream: new Outbox(),
    toClient: new Outbox(),
    closed: false,
    cancelling: false,
    awaitingApproval: false,
    barrier: false,
    skipUntilSync: false,
    batchForwarded: false,
    batchRecords: [],
    batchByStatement: new Map(),
    statements: 0,
    bytesFromClient: 0,
    bytesToClient: 0,
    fatal: () => {},
    finish: () => {},
    clientBackpressure: () => {},
    resumeClient: () => {},
  };
}

/**
 * Audits a statement once, when its outcome is known (or the session ended).
 * Marked on the record itself: a weak set of every statement's record cost
 * the garbage collector an entry per statement.
 */
export function auditRecord(r: RelayCore, record: QueryRecord): void {
  if (record.audited) return;
  record.audited = true;
  r.ctx.audit(queryEvent(record, r.limits.auditStatementBytes));
}

/**
 * Sends what is due to the client, once the audit events of the statements
 * it answers are journaled (a server killed after this has them on disk).
 * False when the client's socket asked to wait for 'drain'.
 */
export function sendToClient(r: RelayCore): boolean {
  r.ctx.auditSync?.();
  return r.toClient.flush(r.client);
}

/** Writes one of gate's own answers in protocol order. */
export function inject(r: RelayCore, bytes: () => Buffer, dropOnError: boolean): void {
  if (r.queue.length === 0) {
    r.toClient.add(bytes());
    if (!sendToClient(r)) r.clientBackpressure();
  } else {
    r.queue.push({ kind: 'inject', bytes, dropOnError });
  }
}

/** Moves gate's own answers that are now due into the client's outbox. */
export function flushInjects(r: RelayCore): void {
  for (const b of r.queue.takeInjects()) r.toClient.add(b);
}

export function statementError(text: string, code = '42501', hint?: string): () => Buffer {
  return () => errorResponse({ severity: 'ERROR', code, message: text, hint });
}

/** Refuses a statement in protocol order (simple: error + ReadyForQuery; extended: error, then skip to Sync). */
export function refuse(r: RelayCore, protocol: 'simple' | 'extended', text: string, code = '42501', hint?: string): void {
  const err = statementError(text, code, hint);
  if (protocol === 'simple') {
    inject(r, () => Buffer.concat([err(), readyForQuery(r.session.txStatus)]), false);
  } else {
    inject(r, err, true);
    r.skipUntilSync = true;
  }
}
