import { defineConfig } from 'vitest/config';
import base from './vitest.config.js';

/**
 * `npm run test:quick`, for inner loops: the unit tests and the integration
 * tests that need neither a device login in Chromium nor the built CLI (so no
 * build first). The full suite (`npm test`) stays the one CI and the README run.
 */
// Spread, not mergeConfig: merging would concatenate `include` with the full suite's.
export default defineConfig({
  ...base,
  test: {
      ...base.test,
      include: ['test/unit/**/*.test.ts', 'test/integration/**/*.test.ts'],
      exclude: [
        // Chromium device logins (startStack's loginAs) or the built bin/gate.js:
        'test/integration/audit-chain.test.ts',
        'test/integration/dev-idp.test.ts',
        'test/integration/grants-lifecycle.test.ts',
        'test/integration/server-auth.test.ts',
        'test/integration/tcp-gateway.test.ts',
        'test/integration/tunnel-grant-end.test.ts',
        'test/integration/tunnel-pg.test.ts',
        'node_modules/**',
      ],
  },
});
