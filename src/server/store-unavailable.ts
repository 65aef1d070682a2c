/**
 * Whether a request failed because the PostgreSQL store could not be
 * reached (refused, cut, shutting down, a pool that cannot connect): the
 * client then hears that, with a 503, instead of "Internal server error".
 */
export function isStoreUnreachable(err: unknown): boolean {
  const e = err as { code?: string; message?: string; errors?: { code?: string }[] } | undefined;
  const code = e?.code ?? e?.errors?.[0]?.code ?? '';
  // 08xxx connection exceptions, 57P01-57P03 shutdown / cannot connect now, and the socket-level codes.
  if (/^08[0-9A-Z]{3}$|^57P0[123]$|^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE|EHOSTUNREACH)$/.test(code)) return true;
  return /^(Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error)/.test(e?.message ?? '');
}

export const STORE_UNAVAILABLE_MESSAGE =
  'The store cannot be reached: gate refuses grants, logins and audit reads until it is back. Try again in a moment.';
