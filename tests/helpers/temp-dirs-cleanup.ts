/** vitest setup file: after each test file, the temp folders the helpers made for it go (temp-dirs.ts). */
import { afterAll } from 'vitest';
import { removeMadeDirs } from './temp-dirs.ts';

// Registered before the file's own hooks, so it runs after them (after-hooks run in reverse order).
afterAll(() => removeMadeDirs());
