/**
 * The temp folders the test helpers made (server.ts tempDir(): a test
 * server's data folder, a test's scratch folder): removed after each test
 * file (a setup file of vitest.config.ts), so a developer's repeated
 * `npm test` does not leave them in /tmp (a full run left ~250 data folders,
 * 250 MB). No test uses a folder after its file is done. Kept apart from
 * server.ts so the setup file loads nothing of the server.
 */
import fs from 'node:fs';

const made = new Set<string>();

/** A folder to remove once the file's tests are done. */
export function removeAfterFile(dir: string): void {
  made.add(dir);
}

/** Remove them all (after the file's own afterAll hooks: its servers are stopped by then). */
export function removeMadeDirs(): void {
  for (const d of made) fs.rmSync(d, { recursive: true, force: true });
  made.clear();
}
