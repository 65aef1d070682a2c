/** Node socket errors and PostgreSQL SQLSTATEs that mean "the store is not reachable now", not "the request is wrong". */
const UNREACHABLE = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', '57P01', '57P02', '57P03', '08000', '08001', '08003', '08006']);

/** True when a failure came from the store being down or restarting (answer 503 and say so, do not log a stack). */
export function isStoreUnavailable(err: unknown): boolean {
  const e = err as { code?: unknown; message?: unknown; cause?: { code?: unknown } } | undefined;
  if (typeof e?.code === 'string' && UNREACHABLE.has(e.code)) return true;
  if (typeof e?.cause?.code === 'string' && UNREACHABLE.has(e.cause.code)) return true;
  const message = typeof e?.message === 'string' ? e.message : '';
  // node-postgres's own words for a connection that died or never came.
  return /^Connection terminated|^timeout exceeded when trying to connect|Client has encountered a connection error/.test(message);
}

export const STORE_UNAVAILABLE_MESSAGE = 'The gate store cannot be reached right now (it may be restarting); nothing was changed. Try again shortly.';
