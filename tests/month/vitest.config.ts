import { defineConfig } from 'vitest/config';

/**
 * `npm run test:month`: the synthetic month through the real playout path
 * (tests/month/*.month.ts), slow by nature, so apart from `npm test` (whose
 * files end in .test.ts). One file at a time; its timeouts bound a hang only.
 */
export default defineConfig({
  test: {
    root: new URL('../..', import.meta.url).pathname,
    include: ['tests/month/**/*.month.ts'],
    pool: 'forks',
    maxWorkers: 1,
    testTimeout: 3_600_000,
    hookTimeout: 600_000,
    reporters: ['default'],
  },
});
