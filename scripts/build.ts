/**
 * `npm run build`: plain JavaScript for the edge agent, so a board runs
 * `node dist/agent/main.mjs` with no TypeScript loader at run time (tsx
 * transpiles every module at each start and keeps its own loader thread and
 * esbuild service: ~35 MiB of a board's memory and seconds of its CPU).
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
 */
import fs from 'node:fs';
import path from 'node:path';
import { build, type BuildOptions } from 'esbuild';

const ROOT = path.resolve(import.meta.dirname, '..');
export const DIST = path.join(ROOT, 'dist');
/** loanet's libopus binding as `npm run prepare` builds it for this machine. */
const NATIVE_OPUS = path.join(ROOT, 'native/opus-decoder/build/Release/loanet_opus.node');

/** Node's ESM has no `require`: bundled CommonJS packages (mqtt's dependencies) get one made for the bundle's own URL. */
const REQUIRE_SHIM = "import { createRequire as __loanetCreateRequire } from 'node:module'; const require = __loanetCreateRequire(import.meta.url);";

/** How a board runs the built agent (its service): Node's flags that the footprint benchmark measures too. */
export const AGENT_NODE_FLAGS: readonly string[] = [
  // A young generation of 1 MiB per semi-space instead of up to 16: an agent allocates little and often (20 ms audio frames), so it scavenges more often but never holds tens of MiB of garbage.
  '--max-semi-space-size=1',
];

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
function common(): BuildOptions {
  return {
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    sourcemap: 'linked',
    legalComments: 'linked',
    banner: { js: REQUIRE_SHIM },
    define: { 'process.env.LOANET_BUILT_VERSION': JSON.stringify(version()) },
    external: ['@discordjs/opus'],
    // Whitespace and syntax only: names stay readable in a stack trace from the field, the source V8 keeps in memory halves.
    minifyWhitespace: true,
    minifySyntax: true,
    logLevel: 'warning',
  };
}

export async function buildAgent(outDir = path.join(DIST, 'agent')): Promise<BuiltProgram> {
  const file = path.join(outDir, 'main.mjs');
  // Built beside and swapped in, so an agent started meanwhile never loads half a bundle.
  const tmp = `${outDir}.tmp-${process.pid}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  await build({ ...common(), entryPoints: { main: path.join(ROOT, 'edge-agent/main.ts') }, outdir: tmp, outExtension: { '.js': '.mjs' } });
  if (fs.existsSync(NATIVE_OPUS)) fs.copyFileSync(NATIVE_OPUS, path.join(tmp, 'loanet_opus.node'));
  fs.rmSync(outDir, { recursive: true, force: true });
  fs.renameSync(tmp, outDir);
  return { name: 'agent', file, bytes: fs.statSync(file).size };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const built = [await buildAgent()];
  for (const b of built) console.log(`loanet build: ${b.name} → ${path.relative(ROOT, b.file)} (${(b.bytes / 1024).toFixed(0)} KiB)`);
}
