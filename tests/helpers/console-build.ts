/**
 * vitest globalSetup: build the console once per test run when its sources
 * changed (web/build.ts keeps a content hash), so the server under test serves
 * what is in web/src. Nothing to do — and no cost — when the build is fresh.
 */
import { ensureConsoleBuilt } from '../../web/build.ts';

export default async function setup(): Promise<void> {
  const r = await ensureConsoleBuilt();
  if (r === 'built') console.log('console: built web/dist for the tests');
}
