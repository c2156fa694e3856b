/**
 * vitest setup file: after each test file, the test servers it left running
 * are stopped and named (leftovers.ts), then the temp folders the helpers made
 * for it go (temp-dirs.ts).
 */
import { afterAll } from 'vitest';
import { stopLeftovers } from './leftovers.ts';
import { removeMadeDirs } from './temp-dirs.ts';

// Registered before the file's own hooks, so it runs after them (after-hooks run in reverse order).
afterAll(async () => {
  const left = await stopLeftovers();
  if (left.length > 0) console.warn(`\n  ⚠ left running by this file, stopped after it: ${left.join(', ')}\n`);
  removeMadeDirs();
});
