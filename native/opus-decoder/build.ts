/**
 * Builds loanet's libopus decoder binding (opus_decoder.c → build/Release/
 * loanet_opus.node) with node-gyp, as `npm ci` / `npm install` do through the
 * `prepare` script. `--if-stale` skips the build when the binary is newer than
 * its sources.
 *
 * Why a build step of our own: the agent rebuilds a lost live packet from the
 * next packet's in-band FEC, which needs opus_decode(…, decode_fec = 1), and
 * no Opus package on npm that builds here exposes it (see edge-agent/audio/opus.ts).
 *
 * Failure is not fatal on a developer's machine or a board without a C
 * compiler: the agent then decodes with @discordjs/opus and conceals losses
 * with PLC only, and says so loudly at start. Under CI=true it is fatal, so
 * CI never silently tests the fallback.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const binary = path.join(here, 'build', 'Release', 'loanet_opus.node');
const sources = ['opus_decoder.c', 'binding.gyp'].map((f) => path.join(here, f));

function stale(): boolean {
  if (!fs.existsSync(binary)) return true;
  const built = fs.statSync(binary).mtimeMs;
  return sources.some((s) => fs.statSync(s).mtimeMs > built);
}

/** npm sets npm_config_node_gyp in its scripts; otherwise the node-gyp npm bundles beside this Node. */
function nodeGyp(): string | undefined {
  const candidates = [process.env.npm_config_node_gyp, path.resolve(path.dirname(process.execPath), '../lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js')];
  return candidates.find((c): c is string => !!c && fs.existsSync(c));
}

/** Node's own headers beside the running node (Debian: /usr/include/node), so node-gyp downloads nothing. */
function nodeDir(): string[] {
  if (process.env.npm_config_nodedir) return [];
  const root = path.resolve(path.dirname(process.execPath), '..');
  return fs.existsSync(path.join(root, 'include', 'node', 'node_api.h')) ? [`--nodedir=${root}`] : [];
}

function fail(why: string): never {
  const msg = `\n*** loanet: the libopus FEC decoder (native/opus-decoder) was not built: ${why}\n*** agents will conceal lost live packets with PLC only, never in-band FEC.\n`;
  console.error(msg);
  process.exit(process.env.CI === 'true' ? 1 : 0);
}

if (process.argv.includes('--if-stale') && !stale()) process.exit(0);
const gyp = nodeGyp();
if (!gyp) fail('node-gyp not found (it comes with npm)');
if (!fs.existsSync(path.join(here, '../../node_modules/@discordjs/opus/deps/opus/include/opus.h'))) {
  fail('the libopus sources of @discordjs/opus are missing (run npm ci first)');
}
// node-gyp and make print a line per libopus source file (~200): kept, and shown only if the build fails.
console.log('loanet: building the libopus FEC decoder (native/opus-decoder, ~20 s)…');
const r = spawnSync(process.execPath, [gyp, 'rebuild', '--loglevel=warn', ...nodeDir()], { cwd: here, stdio: ['ignore', 'pipe', 'pipe'], maxBuffer: 64 * 1024 * 1024 });
if (r.status !== 0) {
  const out = `${r.stdout?.toString() ?? ''}${r.stderr?.toString() ?? ''}`.trimEnd().split('\n');
  console.error(out.slice(-60).join('\n'));
  fail(`node-gyp rebuild exited with ${r.status ?? r.signal}`);
}
console.log(`loanet: built ${path.relative(process.cwd(), binary)}`);
