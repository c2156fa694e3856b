/**
 * Where the server finds its own files, whether it runs from its sources
 * (tsx server/main.ts: each module beside its files) or from the build
 * (node dist/server/main.mjs, scripts/build.ts: every module in one bundle,
 * so `import.meta.url` of any of them is the bundle's). One place decides,
 * so no module computes a path relative to where it happens to sit.
 *
 * The build defines `process.env.LOANET_BUILT_VERSION` to a literal; from
 * the sources it is unset.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

/** True when this code runs from the build (dist/server/), not from the sources. */
export const BUILT = process.env.LOANET_BUILT_VERSION !== undefined;

/** The project folder (holding package.json, web/dist and node_modules). The bundle lies two levels down, this module one. */
export const PROJECT_ROOT = path.resolve(import.meta.dirname, BUILT ? '../..' : '..');

/** The folder of the server's data files shipped with it (common-passwords.txt): copied beside the bundle by the build. */
const DATA_FILES = BUILT ? import.meta.dirname : path.join(PROJECT_ROOT, 'server');

/** A file shipped with the server, by its path under server/ in the sources (e.g. 'auth/common-passwords.txt'). */
export function serverDataFile(relative: string): string {
  return BUILT ? path.join(DATA_FILES, path.basename(relative)) : path.join(DATA_FILES, relative);
}

/** The console's built files (web/dist). */
export const CONSOLE_DIST = path.join(PROJECT_ROOT, 'web/dist');

/** The server's version: fixed into the build, or read from package.json by the sources. */
export const SERVER_VERSION: string = process.env.LOANET_BUILT_VERSION ?? (createRequire(path.join(PROJECT_ROOT, 'package.json'))('./package.json') as { version: string }).version;

/**
 * A module run in a worker thread (offthread.ts): its source from the
 * sources (loaded through tsx there), or its own bundle, which the build
 * writes as dist/server/tasks/<name>.mjs (scripts/build.ts OFFTHREAD_TASKS).
 */
export function offThreadTask(source: URL, name: string): URL {
  return BUILT ? pathToFileURL(path.join(import.meta.dirname, 'tasks', `${name}.mjs`)) : source;
}

/** A plain JavaScript file of the server (a worker's entry), beside the bundle when built. */
export function serverScript(source: URL): URL {
  return BUILT ? pathToFileURL(path.join(import.meta.dirname, path.basename(source.pathname))) : source;
}
