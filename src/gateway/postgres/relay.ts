/**
 * The relay between an authenticated client and its upstream connection: the
 * wiring of sockets, framing and backpressure around the two message halves.
 *
 *   client ─frames─▶ client-messages.ts ─(checked, queued)─▶ upstream
 *   client ◀─(masked)─ server-messages.ts ◀─frames─ upstream
 *
 * response-queue.ts pairs each server answer with the client message it
 * answers; session-state.ts keeps prepared statements, portals and the
 * settings text is read by. Without masking, RowDescription and DataRow are
 * not even read, and unmodified frames are written back as the views of the
 * chunks they came in.
 */
import type { Duplex } from 'node:stream';
import type { PostgresTarget } from '../../config/schema.js';
import type { GatewayContext } from '../types.js';
import { DEFAULT_AUDIT_STATEMENT_BYTES } from './audit-record.js';
import { errorResponse, type TxStatus } from './backend.js';
import { handleClientMessage } from './client-messages.js';
import { MAX_FRONTEND_MESSAGE, ProtocolError } from './framing.js';
import type { MaskCatalog } from './catalog.js';
import type { Masker } from './masking.js';
import { auditRecord, createCore, type RelayCore, type RelayLimits, sendToClient } from './relay-core.js';
import { createServerSide, handleServerMessage } from './server-messages.js';
import type { StatementPolicy } from './statement-policy.js';

export interface RelayOptions {
  client: Duplex;
  upstream: Duplex;
  ctx: GatewayContext<PostgresTarget>;
  policy: StatementPolicy;
  masker: Masker | undefined;
  limits?: Partial<RelayLimits>;
  txStatus: TxStatus;
  /** ParameterStatus values from login (client_encoding, standard_conforming_strings). */
  settings?: Record<string, string>;
  clientLeftover: Buffer;
  upstreamLeftover: Buffer;
  /** Masked columns resolved at session start (targets with masking.columns). */
  catalog?: MaskCatalog;
  /** Sends a CancelRequest for the upstream connection (used when gate cuts a busy session). */
  cancelUpstream?: () => void;
}

export interface RelayResult {
  bytesFromClient: number;
  bytesToClient: number;
  statements: number;
}

export const DEFAULT_LIMITS: RelayLimits = {
  maxMessageBytes: MAX_FRONTEND_MESSAGE,
  maxStatementBytes: MAX_FRONTEND_MESSAGE,
  auditStatementBytes: DEFAULT_AUDIT_STATEMENT_BYTES,
};

/** Runs until either side closes or the grant ends; never rejects. */
export function relay(opts: RelayOptions): Promise<RelayResult> {
  const { client, upstream, ctx } = opts;
  const r = createCore({
    ctx,
    client,
    upstream,
    policy: opts.policy,
    masker: opts.masker,
    limits: { ...DEFAULT_LIMITS, ...opts.limits },
    txStatus: opts.txStatus,
    catalog: opts.catalog,
  });
  for (const [k, v] of Object.entries(opts.settings ?? {})) r.session.parameterStatus(k, v);
  const server = createServerSide();
  let upstreamFull = false;
  let clientFull = false;

  let resolveDone!: (res: RelayResult) => void;
  const done = new Promise<RelayResult>((resolve) => {
    resolveDone = resolve;
  });

  r.finish = () => {
    if (r.closed) return;
    r.closed = true;
    ctx.signal.removeEventListener('abort', onAbort);
    const busy = r.queue.busy;
    for (const e of r.queue.clear()) {
      if (e.kind === 'query' || e.kind === 'function') auditRecord(r, e.record);
      else if (e.kind === 'sync') for (const rec of e.records) auditRecord(r, rec);
    }
    for (const rec of r.batchRecords) auditRecord(r, rec);
    // A statement still running upstream would run on after we hang up (the server
    // only notices a closed socket when it writes): cancel it.
    if (busy && r.cancelling) opts.cancelUpstream?.();
    upstream.end();
    client.end();
    // Give both a moment to flush a last message, then make sure the sockets go.
    setTimeout(() => {
      upstream.destroy();
      client.destroy();
    }, 1_000).unref();
    resolveDone({ bytesFromClient: r.bytesFromClient, bytesToClient: r.bytesToClient, statements: r.statements });
  };

  r.fatal = (code, text) => {
    if (r.closed) return;
    r.cancelling = true;
    sendToClient(r);
    client.write(errorResponse({ severity: 'FATAL', code, message: text }));
    r.finish();
  };

  function onAbort(): void {
    const reason = ctx.signal.reason as { message?: string } | undefined;
    r.fatal('57P01', reason?.message ? `terminating connection: ${reason.message}` : 'terminating connection: gate grant ended');
  }

  function updatePause(): void {
    if (r.closed) return;
    if (r.awaitingApproval || r.barrier || upstreamFull) client.pause();
    else client.resume();
    if (clientFull) upstream.pause();
    else upstream.resume();
  }

  r.clientBackpressure = () => {
    clientFull = true;
    updatePause();
  };
  r.resumeClient = () => {
    updatePause();
    processClient();
  };

  function onClientData(chunk: Buffer): void {
    r.bytesFromClient += chunk.length;
    r.clientReader.push(chunk);
    processClient();
  }

  function processClient(): void {
    try {
      while (!r.closed && !r.awaitingApproval && !r.barrier && r.clientReader.next()) {
        handleClientMessage(r, r.clientReader.type, r.clientReader.body());
        if (r.awaitingApproval || r.barrier) updatePause();
      }
    } catch (err) {
      r.toUpstream.flush(upstream);
      clientProtocolError(r, err);
      return;
    }
    if (r.closed) return;
    if (!r.toUpstream.flush(upstream)) {
      upstreamFull = true;
      updatePause();
    }
    if (!r.toClient.empty && !sendToClient(r)) r.clientBackpressure();
  }

  function onUpstreamData(chunk: Buffer): void {
    r.bytesToClient += chunk.length;
    r.serverReader.push(chunk);
    try {
      while (!r.closed && r.serverReader.next()) {
        const type = r.serverReader.type;
        handleServerMessage(r, server, type);
        if (type === 0x5a && r.barrier && !r.closed) {
          // ReadyForQuery: any change of a read setting has been reported by now.
          r.barrier = false;
          setImmediate(() => r.resumeClient());
        }
      }
    } catch (err) {
      r.fatal('08006', `gate: invalid data from ${r.targetName} upstream: ${(err as Error).message}`);
      return;
    }
    if (r.closed) return;
    if (!sendToClient(r)) r.clientBackpressure();
  }

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
    if (r.closed) return;
    r.toUpstream.flush(upstream);
    r.finish();
  });
  client.on('close', () => r.finish());
  upstream.on('end', () => {
    if (r.closed) return;
    sendToClient(r);
    r.finish();
  });
  upstream.on('close', () => {
    if (r.closed) return;
    sendToClient(r);
    r.finish();
  });
  client.on('error', () => r.finish());
  upstream.on('error', () => {
    if (r.closed) return;
    r.fatal('08006', `gate: lost the connection to ${r.targetName} upstream`);
  });
  if (ctx.signal.aborted) onAbort();
  else ctx.signal.addEventListener('abort', onAbort, { once: true });

  if (!r.closed) {
    if (opts.upstreamLeftover.length > 0) onUpstreamData(opts.upstreamLeftover);
    if (opts.clientLeftover.length > 0) onClientData(opts.clientLeftover);
  }
  // The client may have gone while gate was logging in upstream: its 'end' has already fired.
  if (client.destroyed || client.readableEnded) {
    r.toUpstream.flush(upstream);
    r.finish();
  }
  if (!r.closed) {
    client.resume();
    upstream.resume();
  }
  return done;
}

/**
 * A malformed or oversized client message ends the session with an error that
 * says why (and, for the size limit, which limit), and an audit event.
 */
function clientProtocolError(r: RelayCore, err: unknown): void {
  const e = err as { message?: string; tooLarge?: { length: number; max: number } };
  if (e?.tooLarge) {
    r.ctx.audit({
      action: 'pg.limit_exceeded',
      result: 'denied',
      details: { limit: 'max_message_bytes', max: e.tooLarge.max, size: e.tooLarge.length },
    });
    r.fatal(
      '54000',
      `gate: message of ${e.tooLarge.length} bytes is over the ${e.tooLarge.max}-byte limit on ${r.targetName}; the session ends`,
    );
    return;
  }
  r.fatal('08P01', err instanceof ProtocolError ? `gate: invalid message from client: ${err.message}` : 'gate: invalid message from client');
}
