/**
 * Every error gate expects to happen is a GateError with a stable code, an
 * optional hint (the next step for the user) and a cause. Anything else that
 * reaches the top level is a bug.
 */
export type GateErrorCode =
  | 'GATE_ERR_USAGE'
  | 'GATE_ERR_CONFIG'
  | 'GATE_ERR_AUTH_REQUIRED'
  | 'GATE_ERR_AUTH_FAILED'
  | 'GATE_ERR_ACCESS_DENIED'
  | 'GATE_ERR_PENDING_APPROVAL'
  | 'GATE_ERR_CANCELLED'
  | 'GATE_ERR_NOT_FOUND'
  | 'GATE_ERR_CONFLICT'
  | 'GATE_ERR_NETWORK'
  | 'GATE_ERR_SERVER'
  | 'GATE_ERR_TIMEOUT'
  | 'GATE_ERR_TUNNEL'
  | 'GATE_ERR_RECORDING';

/** Process exit codes; documented in `gate help exit-codes`. */
export const ExitCode = {
  ok: 0,
  failure: 1,
  cancelled: 2,
  authRequired: 4,
  accessDenied: 5,
  pendingApproval: 8,
} as const;

export interface GateErrorOptions {
  hint?: string;
  cause?: unknown;
  /** Structured details for --json output (never secrets). */
  details?: Record<string, unknown>;
}

export class GateError extends Error {
  readonly code: GateErrorCode;
  readonly hint: string | undefined;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: GateErrorCode, message: string, options: GateErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'GateError';
    this.code = code;
    this.hint = options.hint;
    this.details = options.details;
  }

  get exitCode(): number {
    return exitCodeFor(this.code);
  }
}

export class UsageError extends GateError {
  constructor(message: string, options?: GateErrorOptions) {
    super('GATE_ERR_USAGE', message, options);
    this.name = 'UsageError';
  }
}

export class AuthRequiredError extends GateError {
  constructor(message = 'You are not logged in.', options: GateErrorOptions = {}) {
    super('GATE_ERR_AUTH_REQUIRED', message, { hint: 'Run `gate login`.', ...options });
    this.name = 'AuthRequiredError';
  }
}

export class AccessDeniedError extends GateError {
  constructor(message: string, options?: GateErrorOptions) {
    super('GATE_ERR_ACCESS_DENIED', message, options);
    this.name = 'AccessDeniedError';
  }
}

export class PendingApprovalError extends GateError {
  constructor(message: string, options?: GateErrorOptions) {
    super('GATE_ERR_PENDING_APPROVAL', message, options);
    this.name = 'PendingApprovalError';
  }
}

export class CancelledError extends GateError {
  constructor(message = 'Cancelled.', options?: GateErrorOptions) {
    super('GATE_ERR_CANCELLED', message, options);
    this.name = 'CancelledError';
  }
}

export class ConfigError extends GateError {
  constructor(message: string, options?: GateErrorOptions) {
    super('GATE_ERR_CONFIG', message, options);
    this.name = 'ConfigError';
  }
}

export function exitCodeFor(code: GateErrorCode): number {
  switch (code) {
    case 'GATE_ERR_CANCELLED':
      return ExitCode.cancelled;
    case 'GATE_ERR_AUTH_REQUIRED':
      return ExitCode.authRequired;
    case 'GATE_ERR_ACCESS_DENIED':
      return ExitCode.accessDenied;
    case 'GATE_ERR_PENDING_APPROVAL':
      return ExitCode.pendingApproval;
    default:
      return ExitCode.failure;
  }
}

export function isGateError(err: unknown): err is GateError {
  return err instanceof GateError;
}
