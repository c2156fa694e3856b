import { defineConfig } from 'vitest/config';

/**
 * Files that check the audio timing of real agents against what the simulated
 * amplifier heard (receipts true within 250 ms, sites in sync, a jittery
 * link's loss once settled). They run alone, after the rest: beside two other
 * files on two cores, a process stalls long enough to move what they measure
 * (clock-truth failed so, 2 of its tests, in 1 of 2 runs with three files at once).
 */
const TIMING = [
  'tests/integration/clock-truth.test.ts',
  'tests/integration/live-jitter.test.ts',
  'tests/integration/live-fleet.test.ts',
  'tests/integration/bulletin-playout.test.ts',
  'tests/integration/playout-preemption.test.ts',
  'tests/integration/acoustic-delay.test.ts',
];

/**
 * Files that need a module graph of their own: media-run mocks node:child_process
 * to count the main thread's spawns, which proves nothing once another file in the
 * same worker has loaded the module under test with the real one.
 */
const ISOLATED = ['tests/integration/media-run.test.ts'];

/** How many test files run at once outside the timing group (LOANET_TEST_WORKERS overrides). */
const WORKERS = Number(process.env.LOANET_TEST_WORKERS ?? 3);

export default defineConfig({
  test: {
    exclude: ['tests/bench/**', 'node_modules/**'],
    // The server under test serves the console from web/dist: build it once per run when web/ changed.
    // With LOANET_TEST_DATABASE_URL (npm run test:postgres) test servers store in PostgreSQL: one database per data folder, dropped at the end.
    // The agent and the server that tests start as processes of their own run from bundles built once per run.
    globalSetup: ['./tests/helpers/console-build.ts', './tests/helpers/suite-database.ts', './tests/helpers/programs-build.ts'],
    // Property tests draw the same cases in every CI run (see the file).
    // After each file, the test servers it left running are stopped, the data folders the helpers made for them removed, and its CPU counted.
    setupFiles: ['./tests/helpers/fast-check-seed.ts', './tests/helpers/temp-dirs-cleanup.ts', './tests/helpers/file-cpu.ts'],
    // Deadlines that only bound a hang: under `npm run test:stress` an upload of three files through ffmpeg took over 60 s.
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // Integration tests open real sockets and SQLite files; forks keep them apart.
    pool: 'forks',
    reporters: ['default', './tests/helpers/summary-reporter.ts'],
    projects: [
      {
        extends: true,
        test: {
          name: 'suite',
          include: ['tests/**/*.test.ts'],
          exclude: ['tests/bench/**', 'node_modules/**', 'tests/unit/**', ...TIMING, ...ISOLATED],
          // Three files at once, whatever the cores: most files wait on sockets, timers and child processes rather
          // than compute, and vitest's default (cores − 1) ran one file at a time on a 2-core machine, leaving it idle.
          // Measured on 2 cores: 2,085 s (1 file) → 1,126 s (3 files) for the whole suite; on a quiet machine 3 files
          // used 57 % of the cores (2,165 CPU-s of the files in a 1,909 s run). Five gained little where it matters:
          // under test:stress's load a run took ~50 min with 3 files and 45 with 5, the cores being the limit there.
          // Every test must pass on a loaded machine anyway.
          maxWorkers: WORKERS,
          // One module graph per worker, not per file: each file re-imported the server, Fastify, Kysely and the
          // helpers (534 of the files' ~2,000 CPU-s went to imports). Files start their own servers, brokers and
          // agents and stop them in their after-hooks, so nothing else is shared; set-up files still run per file.
          isolate: false,
          sequence: { groupOrder: 1 },
        },
      },
      {
        extends: true,
        test: {
          name: 'isolated',
          include: ISOLATED,
          maxWorkers: 1,
          sequence: { groupOrder: 2 },
        },
      },
      {
        extends: true,
        test: {
          // Pure logic, no sockets or child processes: one module graph per worker instead of one per file.
          // Measured on the 157 files, one worker: 110.6 → 56.4 s CPU (user+sys), every test passing; each
          // file restores the fake timers and spies it sets. First and on their own, so the integration files
          // keep the concurrency they were measured with.
          name: 'unit',
          include: ['tests/unit/**/*.test.ts'],
          isolate: false,
          maxWorkers: WORKERS,
          sequence: { groupOrder: 0 },
        },
      },
      {
        extends: true,
        test: {
          name: 'timing',
          include: TIMING,
          maxWorkers: 1,
          sequence: { groupOrder: 3 },
        },
      },
    ],
  },
});
