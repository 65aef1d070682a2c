/**
 * The server's error codes with their HTTP status. A retired code is never
 * reused; the client maps each back to a GateError (see client.ts).
 */
export const API_ERRORS = {
  bad_request: 400,
  invalid_token: 401,
  unauthenticated: 401,
  forbidden: 403,
  self_approval: 403,
  not_found: 404,
  conflict: 409,
  invalid_state: 409,
  chain_broken: 422,
  policy_denied: 403,
  payload_too_large: 413,
  // Refused recording chunks (PUT /v1/sessions/:id/chunks/:seq); none is worth retrying unchanged.
  bad_hash: 422,
  seq_conflict: 409,
  seq_gap: 409,
  chain_mismatch: 409,
  // Bounds and bindings of the data path (issue 13).
  recording_required: 403,
  request_timeout: 408,
  too_many_connections: 429,
  headers_too_large: 431,
  internal: 500,
  unavailable: 503,
  // The server's disk (or quota) is full: a chunk was not stored; retrying once space is back succeeds (issue 19).
  storage_full: 507,
} as const;

export type ApiErrorCode = keyof typeof API_ERRORS;

/** The JSON body of every error response. */
export interface ApiErrorBody {
  error: { code: ApiErrorCode; message: string; details?: Record<string, unknown> };
}

/** Thrown by route handlers; the app's error handler renders it as ApiErrorBody. */
export class ApiError extends Error {
  readonly code: ApiErrorCode;
  readonly status: number;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ApiErrorCode, message: string, details?: Record<string, unknown>) {
    super(message);
    this.name = 'ApiError';
    this.code = code;
    this.status = API_ERRORS[code];
    this.details = details;
  }
}
