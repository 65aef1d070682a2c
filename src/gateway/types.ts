import type { Duplex } from 'node:stream';
import type { TargetConfig } from '../config/schema.js';

/** What one tunnel is allowed to do, as checked by the server when it opened. */
export interface TunnelGrant {
  id: string;
  target: string;
  role: string;
  /** The requester's subject and e-mail (for audit lines and error messages). */
  user: string;
  email?: string;
  expiresAt: Date;
}

/** An audit event a protocol handler reports; the server adds who, when and the chain hash. */
export interface GatewayAuditEvent {
  /** e.g. `pg.query`, `pg.guardrail_denied`, `k8s.request`, `tcp.connect`. */
  action: string;
  /** `ok`, `error`, `denied`, `held`. */
  result: 'ok' | 'error' | 'denied' | 'held';
  details: Record<string, unknown>;
}

/** Result of asking whether a guarded command may run. */
export type ApprovalCheck =
  | { status: 'approved'; id: string }
  | { status: 'pending'; id: string }
  | { status: 'denied'; id: string };

/**
 * Everything a protocol handler needs from the server, passed in so handlers
 * stay free of HTTP, store and policy code, and tests can drive them directly.
 */
export interface GatewayContext<T extends TargetConfig = TargetConfig> {
  targetName: string;
  target: T;
  grant: TunnelGrant;
  /** The recorded session this tunnel belongs to, when the CLI sent one. */
  sessionId?: string;
  correlationId?: string;
  /**
   * One-time password the local listener was started with (`gate connect
   * --local-password`); the handler asks the client for it in the client's own
   * protocol. Never the target's secret.
   */
  localPassword?: string;
  /** Resolves a secret reference from the target's config (env:/file:). */
  secret(ref: string): Promise<string>;
  audit(event: GatewayAuditEvent): void;
  /**
   * Makes the events reported so far survive a kill of the server process.
   * Handlers call it before sending an answer those events describe; events
   * are also made durable at the end of the turn without it.
   */
  auditSync?(): void;
  /**
   * Why audit events cannot be kept right now (store and local spool both
   * failing), or undefined. Handlers refuse to forward statements while it is
   * set (fail closed), with a protocol error that says so.
   */
  auditUnavailable?(): string | undefined;
  /**
   * Looks up (or opens) an approval request for a command a
   * `require_approval` guardrail holds. The same text approved earlier within
   * the approval window passes.
   */
  requestApproval(input: {
    text: string;
    rule: string;
    message?: string;
    /** The parser's summary of each statement, shown to approvers. */
    summary?: { tag: string; tables: string[]; filtered?: boolean }[];
    /** How many runs one approval allows (the rule's `reuse`, default 1). */
    reuse?: number;
  }): Promise<ApprovalCheck>;
  /**
   * Passes a CancelRequest this replica has no key for to the other replicas
   * (a shared store): `sent`/`failed` is the holder's answer, `unknown` that
   * none holds the key under this grant. Absent with a single server.
   */
  forwardCancel?(pid: number, key: number): Promise<'sent' | 'failed' | 'unknown'>;
  /** Aborted when the grant expires or is revoked; `signal.reason` is a GrantEnded. */
  signal: AbortSignal;
}

export interface GrantEnded {
  /**
   * Why the tunnel is cut: the grant ended, the server stops, a tunnel limit
   * was hit (`limits:`), an admin or approver terminated it (the console's Live page), or
   * the client's heartbeat stopped (`gate-tunnel/2`: no frame for GATE_TUNNEL_PING_TIMEOUT).
   */
  reason: 'expired' | 'revoked' | 'server_shutdown' | 'idle_timeout' | 'startup_timeout' | 'terminated' | 'link_lost';
  message: string;
}

/** A protocol handler serves one tunnel (an already-upgraded socket) until either side closes. */
export type ProtocolHandler<T extends TargetConfig = TargetConfig> = (
  socket: Duplex,
  ctx: GatewayContext<T>,
) => Promise<void>;
