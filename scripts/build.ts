/**
 * `npm run build`: plain JavaScript for the edge agent and the server, so a
 * board runs `node dist/agent/main.mjs` and `npm start` runs
 * `node dist/server/main.mjs`, with no TypeScript loader at run time (tsx
 * transpiles every module at each start and keeps its own loader thread and
 * esbuild service: ~35 MiB of a board's memory and seconds of its CPU).
 * `npm run build -- server` (or `agent`) builds one of them.
 *
 * One ES module bundle per program, everything pure JavaScript inside it;
 * what cannot be bundled stays outside and is resolved at run time the same
 * way as from the sources:
 * - `@discordjs/opus` (a native addon, the encoder and decoder fallback) from
 *   node_modules;
 * - loanet's own libopus binding (native/opus-decoder/build/Release/
 *   loanet_opus.node), copied beside the bundle, where edge-agent/audio/opus.ts
 *   looks first (a package installs it there too); when it is not built, the
 *   agent runs with the fallback decoder and says so at start.
 * The version the agent reports is fixed into the bundle at build time (the
 * sources read it from package.json, which a packaged agent does not carry).
 *
 * The server's bundle holds loanet's own code only: its packages (Fastify,
 * aedes, better-sqlite3's native addon…) stay in node_modules, which the
 * server is installed with. Beside it go what it loads by path
 * (server/files.ts decides where): the workers' entries (offthread-worker.mjs,
 * media/spawn-worker.mjs), one bundle per off-thread task under tasks/, and
 * the common-password list. The console is web/dist, built by web/build.ts.
 */
import fs from 'node:fs';
import path from 'node:path';
import { build, type BuildOptions, type Plugin } from 'esbuild';

const ROOT = path.resolve(import.meta.dirname, '..');
export const DIST = path.join(ROOT, 'dist');
/** loanet's libopus binding as `npm run prepare` builds it for this machine. */
const NATIVE_OPUS = path.join(ROOT, 'native/opus-decoder/build/Release/loanet_opus.node');

/** Node's ESM has no `require`: bundled CommonJS packages (mqtt's dependencies) get one made for the bundle's own URL. */
const REQUIRE_SHIM = "import { createRequire as __loanetCreateRequire } from 'node:module'; const require = __loanetCreateRequire(import.meta.url);";

/**
 * `node:http` reached through CommonJS `require`, never through an ES module import. On Node 22 an ES
 * import of a built-in builds its ES facade, which reads every export, and node:http's exports include
 * lazy getters (WebSocket, CloseEvent, MessageEvent) that load Node's whole fetch implementation
 * (undici, its WebAssembly HTTP parser, http2, worker_threads…) into a process that never uses it.
 * Measured on the built agent, Node 22.23: −3.7 MiB idle, −4 MiB playing (docs/BENCHMARKS.md, agent footprint).
 * `require` takes the module object as it is, without touching the getters.
 */
const CJS_BUILTINS: Plugin = {
  name: 'loanet-cjs-builtins',
  setup(b) {
    const NS = 'loanet-cjs-builtin';
    // Imports only: a `require` (the facade's own, mqtt's dependencies') is left to Node (the bundle's banner makes one).
    b.onResolve({ filter: /^(node:)?http$/ }, (args) =>
      args.kind === 'require-call' ? undefined : { path: args.path.startsWith('node:') ? args.path : `node:${args.path}`, namespace: NS },
    );
    b.onLoad({ filter: /.*/, namespace: NS }, (args) => ({ contents: `module.exports = require(${JSON.stringify(args.path)});`, loader: 'js' }));
    // And the bundle is checked: an ES import of node:http that got past this would bring undici back unnoticed.
    b.onEnd((result) => {
      for (const out of Object.values(result.metafile?.outputs ?? {}))
        for (const i of out.imports)
          if (/^(node:)?http$/.test(i.path) && i.kind !== 'require-call')
            throw new Error(`the agent's bundle imports ${i.path} as an ES module (${i.kind}): Node 22 then loads undici (scripts/build.ts CJS_BUILTINS)`);
    });
  },
};

/**
 * mqtt.js's WebSocket and SOCKS transports run only when a URL asks for them (`ws://`, `wss://`, a SOCKS
 * proxy), not at the first connect whatever the URL: mqtt.js requires them all then, and running the `ws`
 * and `socks` packages' module code holds memory an agent on `mqtt://` or `mqtts://` never uses. The
 * rewrite is checked: when mqtt.js changes these lines, the build fails rather than silently loading them again.
 */
const MQTT_LAZY_TRANSPORTS: Plugin = {
  name: 'loanet-mqtt-lazy-transports',
  setup(b) {
    const socks: Array<[string, string]> = [
      ['const socks_1 = __importDefault(require("./socks"));', 'const socks_1 = { get default() { return __importDefault(require("./socks")).default; } };'],
    ];
    const rewrites: Record<string, Array<[string, string]>> = {
      'index.js': [
        ["protocols.ws = require('./ws').streamBuilder;", "protocols.ws = (...a) => require('./ws').streamBuilder(...a);"],
        ["protocols.wss = require('./ws').streamBuilder;", "protocols.wss = (...a) => require('./ws').streamBuilder(...a);"],
      ],
      'tcp.js': socks,
      'tls.js': socks,
    };
    b.onLoad({ filter: /[\\/]mqtt[\\/]build[\\/]lib[\\/]connect[\\/](index|tcp|tls)\.js$/ }, (args) => {
      let contents = fs.readFileSync(args.path, 'utf8');
      for (const [from, to] of rewrites[path.basename(args.path)]!) {
        if (!contents.includes(from)) throw new Error(`${args.path} no longer has ${JSON.stringify(from)}: update scripts/build.ts MQTT_LAZY_TRANSPORTS`);
        contents = contents.replace(from, to);
      }
      return { contents, loader: 'js' };
    });
  },
};

/**
 * How a board runs the built agent (its service): Node's flags that the footprint benchmark measures too
 * (docs/BENCHMARKS.md, agent footprint: each one's effect on Node 22).
 */
export const AGENT_NODE_FLAGS: readonly string[] = [
  // A young generation of 1 MiB per semi-space instead of up to 16: an agent allocates little and often (20 ms audio frames), so it scavenges more often but never holds tens of MiB of garbage.
  '--max-semi-space-size=1',
  // Maglev is the top tier, never TurboFan: TurboFan's code in the node binary (pages it touches stay resident) and its
  // compilations on V8's worker threads (their malloc arenas) cost ~6 MiB idle and ~11 MiB while playing, on Node 22.
  // The price is CPU while playing: +3 to +15 % of the agent's (0.1–0.6 points of one core of the bench machine) in
  // four side-by-side runs. Interpreter only (--jitless) saves ~1 MiB more for more CPU, and disables WebAssembly.
  '--max-opt=2',
];

/**
 * The agent's environment on a board, beside its flags (the unit's Environment=, the wrapper's export).
 * MALLOC_ARENA_MAX=2: glibc gives each thread that allocates (libuv's pool, V8's workers) an arena of its own,
 * which keeps what it once held; two shared arenas measured 0.5–2 MiB less idle. The agent's own work is on one thread.
 */
export const AGENT_NODE_ENV: Readonly<Record<string, string>> = { MALLOC_ARENA_MAX: '2' };

export interface BuiltProgram {
  name: string;
  file: string;
  bytes: number;
}

function version(): string {
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version?: unknown };
  if (typeof pkg.version !== 'string' || pkg.version === '') throw new Error('package.json has no version');
  return pkg.version;
}

/** Options shared by every program: Node 20+, one ESM file, source maps for stack traces from the field. */
function common(builtVersion = version()): BuildOptions {
  return {
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    sourcemap: 'linked',
    legalComments: 'linked',
    banner: { js: REQUIRE_SHIM },
    define: { 'process.env.LOANET_BUILT_VERSION': JSON.stringify(builtVersion) },
    external: ['@discordjs/opus'],
    // Whitespace and syntax only: names stay readable in a stack trace from the field, the source V8 keeps in memory halves.
    minifyWhitespace: true,
    minifySyntax: true,
    logLevel: 'warning',
  };
}

/**
 * The agent's bundle in `outDir`: main.mjs (and loanet_opus.node). Its folder is also what an agent
 * release carries (edge-agent/update/: a slot runs main.mjs). `version` overrides package.json's, for
 * tests that make a newer release of the same code.
 */
export async function buildAgent(outDir = path.join(DIST, 'agent'), opts: { version?: string } = {}): Promise<BuiltProgram> {
  const file = path.join(outDir, 'main.mjs');
  // Built beside and swapped in, so an agent started meanwhile never loads half a bundle.
  const tmp = `${outDir}.tmp-${process.pid}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  await build({
    ...common(opts.version),
    plugins: [CJS_BUILTINS, MQTT_LAZY_TRANSPORTS],
    metafile: true,
    entryPoints: { main: path.join(ROOT, 'edge-agent/main.ts') },
    outdir: tmp,
    outExtension: { '.js': '.mjs' },
  });
  if (fs.existsSync(NATIVE_OPUS)) fs.copyFileSync(NATIVE_OPUS, path.join(tmp, 'loanet_opus.node'));
  fs.rmSync(outDir, { recursive: true, force: true });
  fs.renameSync(tmp, outDir);
  return { name: 'agent', file, bytes: fs.statSync(file).size };
}

/**
 * Modules run in worker threads (server/offthread.ts) by their own bundle,
 * named as server/files.ts offThreadTask() is asked for them.
 */
const OFFTHREAD_TASKS: Record<string, string> = {
  'cap-parse': 'server/alerts/cap/parse.ts',
  'cap-envelope': 'server/alerts/cap/envelope.ts',
  docx: 'server/media/docx.ts',
};
/** Files the server reads by path, copied beside its bundle (server/files.ts serverScript / serverDataFile). */
const SERVER_FILES = [
  'server/offthread-worker.mjs',
  'server/media/spawn-worker.mjs',
  'server/auth/common-passwords.txt',
  // The PDF reports' font: every Vietnamese letter, never the machine's own fonts (server/reports/pdf.ts).
  'server/reports/fonts/DejaVuSerifCondensed.ttf',
  'server/reports/fonts/DejaVuSerifCondensed-Bold.ttf',
  'server/reports/fonts/LICENSE.txt',
];

export async function buildServer(outDir = path.join(DIST, 'server')): Promise<BuiltProgram> {
  const file = path.join(outDir, 'main.mjs');
  const tmp = `${outDir}.tmp-${process.pid}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  const entryPoints: Record<string, string> = { main: path.join(ROOT, 'server/main.ts') };
  for (const [name, src] of Object.entries(OFFTHREAD_TASKS)) entryPoints[`tasks/${name}`] = path.join(ROOT, src);
  // Packages resolve from the project's node_modules at run time, as they do for the sources.
  await build({ ...common(), external: [], packages: 'external', entryPoints, outdir: tmp, outExtension: { '.js': '.mjs' } });
  for (const f of SERVER_FILES) fs.copyFileSync(path.join(ROOT, f), path.join(tmp, path.basename(f)));
  fs.rmSync(outDir, { recursive: true, force: true });
  fs.renameSync(tmp, outDir);
  return { name: 'server', file, bytes: fs.statSync(file).size };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const which = process.argv.slice(2).filter((a) => !a.startsWith('-'));
  for (const w of which) if (w !== 'server' && w !== 'agent') throw new Error(`npm run build: unknown program "${w}" (server or agent)`);
  const want = (w: string) => which.length === 0 || which.includes(w);
  const built = [...(want('server') ? [await buildServer()] : []), ...(want('agent') ? [await buildAgent()] : [])];
  for (const b of built) console.log(`loanet build: ${b.name} → ${path.relative(ROOT, b.file)} (${(b.bytes / 1024).toFixed(0)} KiB)`);
}
