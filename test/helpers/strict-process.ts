// A process warning or an unhandled rejection fails the run (CONVENTIONS.md).
// Two warnings are known and harmless: oidc-provider's notice about Node 20 and
// its in-memory adapter, which the dev IdP uses on purpose.
const allowed = [/Unsupported runtime/, /MemoryAdapter/, /ExperimentalWarning/];

process.on('warning', (warning) => {
  if (allowed.some((re) => re.test(warning.message) || re.test(warning.name))) return;
  throw warning;
});
process.on('unhandledRejection', (reason) => {
  throw reason;
});
