/**
 * Builds the console (web/ → web/dist) with Vite. `--if-stale` builds only
 * when the sources changed since the last build (a content hash of web/src,
 * index.html and the Vite config is kept in dist/.build-stamp), so `npm start`
 * and the tests can call it every time and pay nothing when nothing changed.
 * The build goes to a temporary folder and is swapped in whole, so a server
 * running meanwhile never serves half a build.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

export const WEB_DIR = import.meta.dirname;
export const DIST_DIR = path.join(WEB_DIR, 'dist');
const STAMP = '.build-stamp';

function listFiles(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? listFiles(path.join(dir, e.name)) : [path.join(dir, e.name)]))
    .sort();
}

/** Hash of everything the build reads from this repository. */
export function sourceHash(): string {
  const h = crypto.createHash('sha256');
  const files = [path.join(WEB_DIR, 'index.html'), path.join(WEB_DIR, 'vite.config.ts'), ...listFiles(path.join(WEB_DIR, 'src')), ...listFiles(path.join(WEB_DIR, 'public'))];
  for (const f of files) {
    h.update(path.relative(WEB_DIR, f)).update('\0').update(fs.readFileSync(f)).update('\0');
  }
  return h.digest('hex');
}

export function consoleBuildIsFresh(): boolean {
  try {
    return fs.readFileSync(path.join(DIST_DIR, STAMP), 'utf8').trim() === sourceHash() && fs.existsSync(path.join(DIST_DIR, 'index.html'));
  } catch {
    return false;
  }
}

export async function buildConsole(): Promise<void> {
  const { build } = await import('vite');
  const hash = sourceHash();
  const tmp = path.join(WEB_DIR, `.dist-tmp-${process.pid}`);
  await build({ configFile: path.join(WEB_DIR, 'vite.config.ts'), logLevel: 'warn', build: { outDir: tmp, emptyOutDir: true } });
  fs.writeFileSync(path.join(tmp, STAMP), hash + '\n');
  const old = path.join(WEB_DIR, `.dist-old-${process.pid}`);
  try {
    if (fs.existsSync(DIST_DIR)) fs.renameSync(DIST_DIR, old);
    fs.renameSync(tmp, DIST_DIR);
  } catch (e) {
    // Another build (a second test run) swapped its own in meanwhile: fine if it is of the same sources.
    fs.rmSync(tmp, { recursive: true, force: true });
    if (!consoleBuildIsFresh()) throw e;
  } finally {
    fs.rmSync(old, { recursive: true, force: true });
  }
}

export async function ensureConsoleBuilt(): Promise<'fresh' | 'built'> {
  if (consoleBuildIsFresh()) return 'fresh';
  await buildConsole();
  return 'built';
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(import.meta.filename)) {
  const ifStale = process.argv.includes('--if-stale');
  const run = ifStale ? ensureConsoleBuilt() : buildConsole().then(() => 'built' as const);
  run.then(
    (r) => console.log(r === 'fresh' ? 'console: build is up to date (web/dist)' : 'console: built into web/dist'),
    (err: unknown) => {
      console.error('console: build failed:', err instanceof Error ? err.message : err);
      process.exit(1);
    },
  );
}
