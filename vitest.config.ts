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
    // Three files at once, whatever the cores: most files wait on sockets, timers and child processes rather than
    // compute, and vitest's default (cores − 1) ran one file at a time on a 2-core machine, leaving it idle. Measured on
    // 2 cores: 2,085 s → 1,126 s for the whole suite. Every test must pass on a loaded machine anyway.
    maxWorkers: Number(process.env.LOANET_TEST_WORKERS ?? 3),
    reporters: ['default', './tests/helpers/summary-reporter.ts'],
  },
});
