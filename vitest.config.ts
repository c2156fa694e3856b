import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['tests/**/*.test.ts'],
    exclude: ['tests/bench/**', 'node_modules/**'],
    // The server under test serves the console from web/dist: build it once per run when web/ changed.
    globalSetup: ['./tests/helpers/console-build.ts'],
    // Property tests draw the same cases in every CI run (see the file).
    setupFiles: ['./tests/helpers/fast-check-seed.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Integration tests open real sockets and SQLite files; forks keep them apart.
    pool: 'forks',
    reporters: ['default', './tests/helpers/summary-reporter.ts'],
  },
});
