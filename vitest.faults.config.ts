import { defineConfig } from 'vitest/config';
import base from './vitest.config.js';

/**
 * `npm run test:faults`: the fault and load suite (test/faults). Each file
 * starts a fleet (replicas, two PostgreSQL clusters, a balancer) and loads
 * the two cores on its own, so files run one at a time.
 */
export default defineConfig({
  ...base,
  test: {
    ...base.test,
    include: ['test/faults/**/*.test.ts'],
    exclude: ['node_modules/**'],
    fileParallelism: false,
    maxWorkers: 1,
    testTimeout: 180_000,
    hookTimeout: 180_000,
  },
});
