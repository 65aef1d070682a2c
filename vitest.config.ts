import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The fault and load suite has its own config and command (`npm run test:faults`, vitest.faults.config.ts).
    exclude: ['node_modules/**', 'test/faults/**'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // Two cores: integration suites each start real servers; more workers only contend.
    maxWorkers: 2,
    setupFiles: ['test/helpers/strict-process.ts'],
    reporters: ['default', './test/helpers/summary-reporter.ts'],
  },
});
