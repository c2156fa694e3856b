/**
 * `npm run test:arm64`: the arm64 package on an emulated Raspberry Pi OS.
 * Not part of `npm test` (minutes: the agent runs under qemu); run it before
 * a release and after changing the package, the native decoder or the unit.
 *
 * 1. builds the arm64 package (scripts/package.ts, cross-compiled decoder);
 * 2. a Debian bookworm arm64 root made by debootstrap from the mirror apt uses
 *    here, cached in ~/.cache/loanet-arm64-root (LOANET_ARM64_ROOT_CACHE) and
 *    copied afresh for each run, so every run installs on a clean system;
 * 3. arm64 programs run through qemu-user-static and binfmt_misc (mounted and
 *    registered here when they are not);
 * 4. inside it, `dpkg -i` the package: its maintainer scripts make the user
 *    `loanet` and /var/lib/loanet-agent;
 * 5. against a real server on loopback (HTTP, embedded broker, SQLite) and a
 *    simulated amplifier over TCP, both in this process: an enrolment file on
 *    the emulated boot partition, moved by the unit's own ExecStartPre, then
 *    the agent as the unit's ExecStart and Environment= say, as user loanet,
 *    chrooted: it enrols, says READY to a notify socket, loads the native
 *    decoder (FEC, not the PLC fallback), becomes operational, plays a
 *    bulletin (its receipt at the server) and an alert;
 * 6. upgrades: `dpkg -i` of the same package under a newer version, then the
 *    agent again: credential, media cache and receipts kept.
 *
 * Needs root (chroot, mounts in a private mount namespace that vanishes with
 * the run), and Debian's debootstrap, qemu-user-static and binfmt-support.
 * Exits 0 when every step passed, 1 otherwise, printing which failed and the
 * agent's output.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadProfile } from '../hardware/profiles.ts';
import { SimDevice } from '../firmware-sim/device.ts';
import { DeviceServer } from '../firmware-sim/device-server.ts';
import { which } from '../server/media/tools.ts';
import { importLaoCai2025, startTestServer, tempDir, waitFor, type TestServer } from '../tests/helpers/server.ts';
import { ffmpeg, uploadFile } from '../tests/helpers/media.ts';
import { packageAgent, parseUnitFile, unitValue, type Compression } from './package.ts';
import { NOTIFY_LISTENER_SCRIPT } from '../tests/helpers/systemd-notify-listener.ts';

const CACHE = process.env.LOANET_ARM64_ROOT_CACHE ?? path.join(os.homedir(), '.cache', 'loanet-arm64-root');
const BASE = path.join(CACHE, 'bookworm-arm64');
const DEBOOTSTRAP = ['--arch=arm64', '--variant=minbase', '--include=adduser,libstdc++6,systemd', 'bookworm'];
const MARKER = path.join(BASE, '.loanet-debootstrap-done');
const COMMUNE = '02683';
const BULLETIN_S = 2;

function say(line: string): void {
  console.log(`test:arm64: ${line}`);
}

function sh(cmd: string, args: readonly string[], opts: { input?: string } = {}): string {
  const r = spawnSync(cmd, [...args], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, ...(opts.input !== undefined ? { input: opts.input } : {}) });
  if (r.error || r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.error?.message ?? `exit ${r.status}`}\n${(r.stdout ?? '') + (r.stderr ?? '')}`.trimEnd());
  return r.stdout;
}

/**
 * sh() without blocking this process, for commands run while the test server
 * lives in it: a chrooted dpkg under qemu takes well over the server's 10 s
 * keep-alive, and after such a block the server's idle-socket timer and the
 * next request fire together, so the request goes out on a socket being
 * closed (fetch failed: ECONNRESET).
 */
function shAsync(cmd: string, args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, [...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.once('error', (e) => reject(new Error(`${cmd} ${args.join(' ')}: ${e.message}`)));
    child.once('close', (code, signal) => {
      if (code === 0) resolve(stdout);
      else reject(new Error(`${cmd} ${args.join(' ')}: exit ${code ?? signal}\n${stdout + stderr}`.trimEnd()));
    });
  });
}

/** The Debian mirror apt uses here (deb822 sources or sources.list), else deb.debian.org. */
function debianMirror(): string {
  const files = [
    '/etc/apt/sources.list',
    ...(fs.existsSync('/etc/apt/sources.list.d') ? fs.readdirSync('/etc/apt/sources.list.d').map((f) => `/etc/apt/sources.list.d/${f}`) : []),
  ];
  for (const f of files) {
    let text = '';
    try {
      text = fs.readFileSync(f, 'utf8');
    } catch {
      continue;
    }
    const uri = /^URIs:\s*(\S+\/debian)\/?\s*$/m.exec(text)?.[1] ?? /^deb\s+(?:\[[^\]]*\]\s+)?(\S+\/debian)\/?\s+\S+/m.exec(text)?.[1];
    if (uri) return uri;
  }
  return 'http://deb.debian.org/debian';
}

function checkTools(): void {
  if (process.getuid?.() !== 0) throw new Error('npm run test:arm64 runs as root (chroot, mounts)');
  const missing = [
    ['debootstrap', 'debootstrap'],
    ['qemu-aarch64-static', 'qemu-user-static'],
    ['update-binfmts', 'binfmt-support'],
    ['unshare', 'util-linux'],
    ['aarch64-linux-gnu-gcc', 'gcc-aarch64-linux-gnu g++-aarch64-linux-gnu'],
    ['ffmpeg', 'ffmpeg'],
  ].filter(([tool]) => which(tool!) === undefined);
  if (missing.length) throw new Error(`missing: ${missing.map(([t, p]) => `${t} (apt-get install ${p})`).join(', ')}`);
}

/** binfmt_misc mounted and qemu's aarch64 entry enabled, so the kernel runs arm64 binaries through qemu. */
function binfmt(): void {
  if (!fs.existsSync('/proc/sys/fs/binfmt_misc/register')) sh('mount', ['binfmt_misc', '-t', 'binfmt_misc', '/proc/sys/fs/binfmt_misc']);
  if (!fs.existsSync('/proc/sys/fs/binfmt_misc/qemu-aarch64')) sh('update-binfmts', ['--enable', 'qemu-aarch64']);
  const entry = fs.readFileSync('/proc/sys/fs/binfmt_misc/qemu-aarch64', 'utf8');
  if (!entry.startsWith('enabled')) throw new Error(`binfmt qemu-aarch64 is not enabled:\n${entry}`);
  // 'F': the interpreter is opened now, so it works inside a chroot without a copy of qemu there.
  if (!/flags: \S*F/.test(entry)) throw new Error('binfmt qemu-aarch64 lacks the F flag (qemu-user-static registers it with F)');
}

function baseRoot(): void {
  if (fs.existsSync(MARKER)) return;
  const mirror = debianMirror();
  say(`debootstrap bookworm arm64 from ${mirror} into ${BASE} (once; several minutes)…`);
  const tmp = `${BASE}.tmp-${process.pid}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(CACHE, { recursive: true });
  sh('debootstrap', [...DEBOOTSTRAP, tmp, mirror]);
  fs.writeFileSync(path.join(tmp, path.basename(MARKER)), `debootstrap ${DEBOOTSTRAP.join(' ')} ${mirror}\n`);
  fs.rmSync(BASE, { recursive: true, force: true });
  fs.renameSync(tmp, BASE);
}

/**
 * A command in the root: a private mount namespace with /proc and /dev,
 * gone when the command ends, so nothing stays mounted whatever happens.
 */
function chrootArgs(root: string, userspec: string | undefined, args: readonly string[]): string[] {
  const chroot = userspec ? `chroot --userspec=${userspec} "$0" "$@"` : 'chroot "$0" "$@"';
  return ['--mount', '--propagation', 'private', '--', 'sh', '-c', `mount -t proc proc "$0/proc" && mount --bind /dev "$0/dev" && exec ${chroot}`, root, ...args];
}

interface Proc {
  child: ChildProcess;
  lines: string[];
  exited: Promise<number | null>;
}
const procs = new Set<Proc>();

function start(cmd: string, args: readonly string[], env: NodeJS.ProcessEnv = process.env): Proc {
  const child = spawn(cmd, [...args], { stdio: ['ignore', 'pipe', 'pipe'], env, detached: true });
  const lines: string[] = [];
  const collect = (b: Buffer) =>
    lines.push(
      ...b
        .toString('utf8')
        .split('\n')
        .filter((l) => l !== ''),
    );
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  const p: Proc = { child, lines, exited: new Promise((r) => child.once('exit', (code) => r(code))) };
  procs.add(p);
  void p.exited.then(() => procs.delete(p));
  return p;
}

async function kill(p: Proc, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
  if (p.child.exitCode !== null || p.child.signalCode !== null) return;
  // Its process group: unshare, sh, chroot and the agent (and systemd-notify children) together.
  process.kill(-p.child.pid!, signal);
  await p.exited;
}

async function main(): Promise<void> {
  const compression = (process.argv.includes('--fast') ? 'none' : 'xz') as Compression;
  checkTools();
  binfmt();
  baseRoot();
  const began = Date.now();
  const results: Array<[string, string]> = [];
  const step = async <T>(name: string, fn: () => Promise<T>): Promise<T> => {
    const t0 = Date.now();
    say(`${name}…`);
    const v = await fn();
    results.push([name, `${((Date.now() - t0) / 1000).toFixed(1)} s`]);
    return v;
  };

  // Into a folder of the run's own: dist/packages keeps the release build (an uncompressed --fast one must not replace it).
  const work = tempDir('loanet-arm64-');
  const built = await step('build the arm64 package', () => packageAgent({ arch: 'arm64', compression, outDir: work, log: (l) => say(l) })).catch((e: unknown) => {
    fs.rmSync(work, { recursive: true, force: true });
    throw e;
  });
  say(`${path.basename(built.file)}: ${(built.bytes / 1048576).toFixed(1)} MiB (${compression}), installs ${(built.installedKiB / 1024).toFixed(1)} MiB`);

  const root = path.join(CACHE, `run-${process.pid}`);
  let t: TestServer | undefined;
  let deviceServer: DeviceServer | undefined;
  let agent: Proc | undefined;
  try {
    await step('copy the clean root', async () => sh('cp', ['-a', BASE, root]));
    const inRoot = (p: string) => path.join(root, p);
    fs.copyFileSync(built.file, inRoot(`/tmp/${path.basename(built.file)}`));
    await step('dpkg -i inside the arm64 root', async () => {
      const out = sh('unshare', chrootArgs(root, undefined, ['dpkg', '-i', `/tmp/${path.basename(built.file)}`]));
      say(out.trim().split('\n').slice(-3).join(' / '));
    });
    const passwd = fs.readFileSync(inRoot('/etc/passwd'), 'utf8');
    const loanet = /^loanet:x:(\d+):(\d+):/m.exec(passwd);
    if (!loanet) throw new Error('postinst made no user loanet');
    const [uid, gid] = [Number(loanet[1]), Number(loanet[2])];
    const st = fs.statSync(inRoot('/var/lib/loanet-agent'));
    if (st.uid !== uid || (st.mode & 0o777) !== 0o750) throw new Error(`/var/lib/loanet-agent is ${st.uid}:${(st.mode & 0o777).toString(8)}, want loanet (${uid}) 750`);
    const arch = sh('unshare', chrootArgs(root, undefined, ['/usr/lib/loanet-agent/node', '-p', 'process.arch + " " + process.version'])).trim();
    say(`the packaged runtime inside: ${arch}`);
    if (!arch.startsWith('arm64 v22.')) throw new Error(`the runtime says ${arch}`);

    t = await startTestServer();
    await importLaoCai2025(t);
    const wav = path.join(work, 'ban-tin.wav');
    ffmpeg('-f', 'lavfi', '-i', `sine=frequency=440:duration=${BULLETIN_S}`, '-ac', '1', wav);
    const upload = await uploadFile(t, wav, { title: 'Bản tin thử arm64' });
    if (upload.status !== 201) throw new Error(`upload: ${upload.status} ${JSON.stringify(upload.body)}`);
    const mediaId = upload.body.id as string;
    const base = await loadProfile('village-cluster-4g');
    const device = new SimDevice({ ...base, amplifier: { ...base.amplifier, warmupMs: 300 } }, { seed: 64 });
    deviceServer = new DeviceServer(device, { tickIntervalMs: 0 });
    const devicePort = await deviceServer.listen(0, '127.0.0.1');
    const created = await t.api('POST', '/api/sites', { name: 'Cụm loa thôn (arm64)', kind: 'cluster', area: COMMUNE, profile: 'village-cluster-4g' });
    const siteId = created.body.credential.siteId as string;
    const code = (await t.api('POST', `/api/sites/${siteId}/enrolment`)).body.code as string;
    const api = t.api.bind(t);
    const site = async () => (await api('GET', `/api/sites/${siteId}`)).body as { status: { condition: string; connected: boolean } | null };

    // The board as prepared in an office: its device template in the state folder, the code on the boot partition.
    fs.writeFileSync(
      inRoot('/var/lib/loanet-agent/agent.json'),
      JSON.stringify({
        devices: { driver: 'sim', host: '127.0.0.1', port: devicePort },
        audio: { sink: 'device', bufferMs: 300 },
        stateDir: '/var/lib/loanet-agent',
        heartbeatIntervalS: 2,
        keepaliveS: 10,
        reconnect: { baseMs: 200, capMs: 2000 },
      }),
      { mode: 0o600 },
    );
    fs.chownSync(inRoot('/var/lib/loanet-agent/agent.json'), uid, gid);
    fs.mkdirSync(inRoot('/boot/firmware'), { recursive: true });
    fs.writeFileSync(inRoot('/boot/firmware/loanet-enrol.txt'), `server=${t.baseUrl}\ncode=${code}\n`);

    const unit = parseUnitFile(fs.readFileSync(inRoot('/lib/systemd/system/loanet-agent.service'), 'utf8'));
    await step("the unit's ExecStartPre moves the boot file", async () => {
      const pre = unitValue(unit, 'Service', 'ExecStartPre')!.replace(/^[-+!@:]+/, '');
      const m = /^\/bin\/sh -c '(.*)'$/.exec(pre);
      if (!m) throw new Error(`unexpected ExecStartPre: ${pre}`);
      // systemd's specifier escape: %% is a literal %.
      say((await shAsync('unshare', chrootArgs(root, undefined, ['/bin/sh', '-c', m[1]!.replace(/%%/g, '%')]))).trim());
      if (fs.existsSync(inRoot('/boot/firmware/loanet-enrol.txt'))) throw new Error('the boot file is still there');
      const moved = fs.statSync(inRoot('/var/lib/loanet-agent/enrol.txt'));
      if (moved.uid !== uid || (moved.mode & 0o777) !== 0o600) throw new Error('enrol.txt is not loanet-only');
    });

    const notifySock = inRoot('/run/loanet-test-notify.sock');
    fs.rmSync(notifySock, { force: true });
    const notify = start('python3', ['-c', NOTIFY_LISTENER_SCRIPT, notifySock]);
    await waitFor('the notify socket', () => notify.lines.includes('listening'), 20_000);

    const startAgent = (): Proc => {
      const words = unitValue(unit, 'Service', 'ExecStart')!.split(/\s+/);
      const env: NodeJS.ProcessEnv = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', NOTIFY_SOCKET: '/run/loanet-test-notify.sock', WATCHDOG_USEC: '6000000' };
      for (const [k, v] of unit.Service!) if (k === 'Environment') env[v.slice(0, v.indexOf('='))] = v.slice(v.indexOf('=') + 1);
      return start('unshare', chrootArgs(root, `${unitValue(unit, 'Service', 'User')}:${unitValue(unit, 'Service', 'Group')}`, words), env);
    };
    const fail = (what: string) => async (e: unknown) => {
      const cause = (e as Error).cause;
      throw new Error(`${what}: ${(e as Error).message}${cause instanceof Error ? ` (${cause.message})` : ''}\nthe agent said:\n${agent?.lines.join('\n')}`);
    };

    agent = startAgent();
    await step('enrol from the boot file, start, native decoder', async () => {
      await waitFor('the agent started', () => agent!.lines.some((l) => /lost live packets/.test(l)) || agent!.child.exitCode !== null, 300_000, 500).catch(fail('start'));
      const out = agent!.lines.join('\n');
      if (!out.includes(`enrolled as site ${siteId}`)) throw new Error(`not enrolled from the file:\n${out}`);
      if (!/libopus .*, lost live packets rebuilt from in-band FEC/.test(out)) throw new Error(`the native decoder did not load:\n${out}`);
      if (fs.existsSync(inRoot('/var/lib/loanet-agent/enrol.txt'))) throw new Error('enrol.txt was not removed after enrolling');
    });
    await step('READY and WATCHDOG on the notify socket', () =>
      waitFor('READY=1 and WATCHDOG=1', () => notify.lines.some((l) => l.startsWith('READY=1')) && notify.lines.includes('WATCHDOG=1'), 60_000, 200).catch(fail('notify')),
    );
    await step('operational (after a sound check)', async () => {
      await waitFor('connected', async () => (await site()).status?.connected, 120_000, 500).catch(fail('connect'));
      const check = await api('POST', `/api/sites/${siteId}/commands`, { type: 'sound_check', waitMs: 60_000 });
      if (check.body.status !== 'succeeded') throw new Error(`sound check: ${JSON.stringify(check.body)}`);
      await waitFor('operational', async () => (await site()).status?.condition === 'operational', 60_000, 500).catch(fail('operational'));
    });
    // The agent's group also holds its systemd-notify children (a watchdog ping, slow to run under qemu): an `if`, so one of them
    // listed last, or gone meanwhile, does not become the loop's exit status.
    const rss = /VmRSS:\s+(\d+) kB/.exec(
      sh('sh', ['-c', `for p in $(pgrep -g ${agent.child.pid}); do if grep -q main.mjs /proc/$p/cmdline 2>/dev/null; then cat /proc/$p/status; fi; done`]),
    )?.[1];
    say(`the agent's RSS under qemu-user (the emulator's own memory included, not a board's figure): ${rss ? (Number(rss) / 1024).toFixed(1) : '?'} MiB`);

    let entryId = '';
    const at = Date.now() + 20_000;
    await step('a scheduled bulletin plays and its receipt reaches the server', async () => {
      const item = await api('POST', '/api/schedule/items', { title: 'Bản tin arm64', mediaId, targets: { sites: [siteId] }, start: { at } });
      if (item.status !== 201) throw new Error(`scheduling: ${item.status} ${JSON.stringify(item.body)}`);
      const approved = await api('POST', `/api/schedule/items/${item.body.id}/approve`);
      if (approved.status !== 200) throw new Error(`approving: ${approved.status} ${JSON.stringify(approved.body)}`);
      entryId = `${item.body.id}@${at}`;
      await waitFor(
        'as-run played',
        async () =>
          ((await api('GET', `/api/as-run?area=${COMMUNE}&from=${at - 60_000}&to=${at + 60_000}&site=${siteId}`)).body.lines as Array<{ status: string }>).some(
            (l) => l.status === 'played',
          ),
        at - Date.now() + 90_000,
        500,
      ).catch(async (e: unknown) => {
        const playlist = (await api('GET', `/api/sites/${siteId}/playlist`)).body;
        const asRun = (await api('GET', `/api/as-run?area=${COMMUNE}&from=${at - 60_000}&to=${at + 60_000}&site=${siteId}`)).body;
        return fail(`bulletin (playlist ${JSON.stringify(playlist).slice(0, 1500)}; as-run ${JSON.stringify(asRun).slice(0, 800)})`)(e);
      });
    });
    await step('an alert plays and completes', async () => {
      const alert = await api('POST', '/api/alerts', { areas: [COMMUNE], message: { mediaId }, attention: null, repeats: 1, validForMinutes: 30, title: 'Cảnh báo thử arm64' });
      await waitFor('alert completed', async () => (await api('GET', `/api/alerts/${alert.body.id}`)).body.delivery.counts.completed === 1, 120_000, 500).catch(fail('alert'));
      await api('POST', `/api/alerts/${alert.body.id}/cancel`);
    });

    await step('upgrade with dpkg -i of a newer version keeps the state', async () => {
      const config = fs.readFileSync(inRoot('/var/lib/loanet-agent/agent.json'), 'utf8');
      const cached = fs.readdirSync(inRoot('/var/lib/loanet-agent/media-cache')).sort().join(',');
      await kill(agent!, 'SIGTERM');
      const newer = await packageAgent({ arch: 'arm64', compression: 'none', version: `${built.version}+upgrade1`, outDir: work, log: (l) => say(l) });
      fs.copyFileSync(newer.file, inRoot(`/tmp/${path.basename(newer.file)}`));
      await shAsync('unshare', chrootArgs(root, undefined, ['dpkg', '-i', `/tmp/${path.basename(newer.file)}`]));
      const installed = (await shAsync('unshare', chrootArgs(root, undefined, ['dpkg-query', '-W', '-f', '\x24{Version}', 'loanet-agent']))).trim();
      if (installed !== newer.version) throw new Error(`installed ${installed}, want ${newer.version}`);
      if (fs.readFileSync(inRoot('/var/lib/loanet-agent/agent.json'), 'utf8') !== config) throw new Error('the configuration changed');
      if (fs.readdirSync(inRoot('/var/lib/loanet-agent/media-cache')).sort().join(',') !== cached) throw new Error('the media cache changed');
      if (!fs.readFileSync(inRoot('/var/lib/loanet-agent/asrun.journal'), 'utf8').includes(entryId)) throw new Error('the receipt journal lost the bulletin');
      agent = startAgent();
      await waitFor('operational after the upgrade', async () => (await site()).status?.connected && (await site()).status?.condition === 'operational', 180_000, 500).catch(
        fail('after upgrade'),
      );
      const lines = (await api('GET', `/api/as-run?area=${COMMUNE}&from=${at - 60_000}&to=${at + 60_000}&site=${siteId}`)).body.lines as Array<{ entryId: string }>;
      if (lines.length !== 1) throw new Error(`as-run lines after the upgrade: ${JSON.stringify(lines)}`);
    });
    say(`PASSED in ${((Date.now() - began) / 1000).toFixed(0)} s:`);
    for (const [name, took] of results) say(`  ✓ ${name} (${took})`);
  } finally {
    for (const p of [...procs]) await kill(p).catch(() => {});
    await deviceServer?.close();
    await t?.stop();
    fs.rmSync(root, { recursive: true, force: true });
    fs.rmSync(work, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(`test:arm64: FAILED: ${(e as Error).message}`);
    process.exit(1);
  },
);
