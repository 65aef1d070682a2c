/**
 * oidc-provider prints two notices that mean nothing to a `gate dev` user: it
 * prefers Node 22 (it runs on 20), and its in-memory adapter forgets logins on
 * restart (by design for a dev IdP). Both go through console, at import and at
 * construction; this mutes exactly those lines while `fn` runs.
 */
export async function quietOidcProvider<T>(fn: () => Promise<T>): Promise<T> {
  const { warn, info } = console;
  const filter =
    (original: (...args: unknown[]) => void) =>
    (...args: unknown[]) => {
      if (typeof args[0] === 'string' && args[0].includes('oidc-provider ')) return;
      original.apply(console, args);
    };
  console.warn = filter(warn);
  console.info = filter(info);
  try {
    return await fn();
  } finally {
    console.warn = warn;
    console.info = info;
  }
}
