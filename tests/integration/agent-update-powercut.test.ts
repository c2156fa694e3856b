/**
 * The power cut (kill -9) at every step of an agent's A/B update, in real
 * processes: the agent runs as `edge-agent/main.ts --config FILE` under a
 * supervisor that starts it again whenever it exits (systemd's
 * Restart=always), against a real server and broker; the release (a newer
 * build of this agent) comes from the test's release server, signed by a key
 * the board trusts. For every step, one site: the order, the cut at that
 * step, the restart, and then
 *
 * - the board runs a working version at once: the old one until the trial
 *   was written, the new one from then on;
 * - it reports where its update stands (a heartbeat naming the rollout);
 * - the download resumed from what was synced: the release server sent at
 *   most the release's size plus what had arrived but was not yet synced
 *   when the power went, and not a byte more of a file that was whole;
 * - the update ends committed, and the slots and boot.json agree.
 *
 * How each step is reached: from outside where it lasts (a release server
 * that stalls a file at an offset; the site's link cut while the new version
 * starts; the new version's `testing` heartbeat), and through the updater's
 * one documented test hook, LOANET_TEST_UPDATE_HOLD (edge-agent/update/updater.ts
 * testHold), for the steps a few milliseconds long. The hook is set for the
 * starts before the cut only: the restarted agent runs as a board does.
 *
 * Then a device firmware order with the agent's own power cut (the device's is
 * tests/integration/device-firmware-update.test.ts): the agent killed in the
 * middle of the transfer, with the device on its test boot, and after the
 * device confirmed; the restarted agent asks the device where it stands and
 * finishes, nothing programmed twice.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { readAgentVersion } from '../../edge-agent/config.ts';
import { SimDevice } from '../../firmware-sim/device.ts';
import { DeviceServer } from '../../firmware-sim/device-server.ts';
import { MemoryFlashStorage, SimFlash } from '../../firmware-sim/flash.ts';
import { loadProfile } from '../../hardware/profiles.ts';
import { inspectSlot } from '../../edge-agent/update/slots.ts';
import { boardArch } from '../../edge-agent/update/updater.ts';
import { PROTOCOL_VERSION, siteTopic, type TelemetryMessage, type UpdateOrder, type UpdateReport } from '../../protocol/index.ts';
import { buildAgent } from '../../scripts/build.ts';
import { makeAgentSite, type AgentSite } from '../helpers/agent-site.ts';
import { agentProcess, stopAllProcesses, stopProcess, type Exit, type Proc } from '../helpers/process.ts';
import { ReleaseServer, makeRelease, makeSigningKey, type TestRelease } from '../helpers/release-server.ts';
import { importLaoCai2025, startTestServer, tempDir, waitFor, type TestServer } from '../helpers/server.ts';

const FACTORY = readAgentVersion();
const NEW = '99.0.0';
const MiB = 1024 * 1024;
const key = makeSigningKey();
let t: TestServer;
let dir: string;
let releases: ReleaseServer;
let releaseUrl: string;
let bundle: TestRelease;
/** Every heartbeat, with the time the test got it. */
const telemetry = new Map<string, Array<TelemetryMessage & { receivedAt: number }>>();
const updateEvents = new Map<string, UpdateReport[]>();

/** Starts the agent again whenever it exits, as systemd's Restart=always does; `env` goes to every start until `clearEnv()`. */
class Supervisor {
  starts = 0;
  readonly exits: Exit[] = [];
  readonly output: string[] = [];
  proc: Proc | undefined;
  private stopped = false;
  constructor(
    private readonly config: string,
    private env: Record<string, string> = {},
  ) {}
  start(): void {
    if (this.stopped) return;
    this.starts++;
    const p = agentProcess(['--config', this.config], { env: this.env });
    this.proc = p;
    void p.exited.then((e) => {
      this.exits.push(e);
      this.output.push(`--- start ${this.starts} exited ${e.code ?? e.signal}`, ...p.lines);
      this.start();
    });
  }
  clearEnv(): void {
    this.env = {};
  }
  log(): string {
    return [...this.output, ...(this.proc?.lines ?? [])].join('\n');
  }
  /** The running agent's output so far. */
  lines(): string[] {
    return this.proc?.lines ?? [];
  }
  /** SIGKILL the running agent (a power cut); the supervisor starts it again. */
  async kill(): Promise<void> {
    if (this.proc) await stopProcess(this.proc, 'SIGKILL');
  }
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.proc) await stopProcess(this.proc, 'SIGKILL');
  }
}

beforeAll(async () => {
  t = await startTestServer();
  await importLaoCai2025(t);
  dir = tempDir('loanet-agent-powercut-');
  t.server.ctx.broker.onSiteMessage((m) => {
    if (m.channel === 'telemetry') {
      const list = telemetry.get(m.siteId) ?? [];
      list.push({ ...(JSON.parse(m.payload.toString()) as TelemetryMessage), receivedAt: Date.now() });
      telemetry.set(m.siteId, list);
    }
    if (m.channel === 'event') {
      const e = JSON.parse(m.payload.toString()) as { type: string; update?: UpdateReport };
      if (e.type === 'update_status' && e.update) updateEvents.set(m.siteId, [...(updateEvents.get(m.siteId) ?? []), e.update]);
    }
  });
  releases = new ReleaseServer();
  releaseUrl = await releases.listen();
  // A newer build of this same agent (with the test hook inside, unset): the release each board switches to.
  const out = path.join(dir, 'bundle');
  await buildAgent(out, { version: NEW });
  const files: Record<string, Buffer> = {};
  for (const name of fs.readdirSync(out)) files[name] = fs.readFileSync(path.join(out, name));
  bundle = makeRelease({ id: 'agent-99-0-0', version: NEW, key, arch: boardArch() ?? 'amd64', files });
  releases.add(bundle);
  fs.mkdirSync(path.join(dir, 'keys'));
  fs.writeFileSync(path.join(dir, 'keys', 'release.pem'), key.publicPem);
}, 120_000);

afterEach(async () => {
  releases.faults = {};
  await stopAllProcesses();
});

afterAll(async () => {
  await releases?.close();
  await t?.stop();
});

async function site(name: string, seed: number): Promise<AgentSite> {
  const s = await makeAgentSite(t, dir, { name, area: '02683', seed });
  const cfg = JSON.parse(fs.readFileSync(s.config, 'utf8')) as Record<string, unknown>;
  cfg.server = { ...(cfg.server as object), httpUrl: releaseUrl };
  cfg.releaseKeysDir = path.join(dir, 'keys');
  fs.writeFileSync(s.config, JSON.stringify(cfg));
  return s;
}

function heartbeat(siteId: string, pred: (m: TelemetryMessage & { receivedAt: number }) => boolean): (TelemetryMessage & { receivedAt: number }) | undefined {
  return [...(telemetry.get(siteId) ?? [])].reverse().find(pred);
}

/** boot.json's value (the state file's second line: its first is the checksum header). */
function bootState(s: AgentSite): { committed: { slot: string; version: string }; trial?: { slot: string; version: string; tries: number } } | undefined {
  try {
    return JSON.parse(fs.readFileSync(path.join(s.stateDir, 'boot.json'), 'utf8').split('\n')[1]!);
  } catch {
    return undefined;
  }
}

/**
 * Per file of the release, the bytes the agent holds durably at the cut: a file whole and matching its
 * hash (in the slot or the partial slot: the download fsyncs a file before it hashes it), else as much
 * as its `.synced` note says.
 */
function durableBytes(s: AgentSite): Map<string, number> {
  const out = new Map<string, number>();
  for (const [name, body] of bundle.files) {
    let n = 0;
    for (const d of ['a', 'a.partial']) {
      const f = path.join(s.stateDir, 'slots', d, name);
      if (!fs.existsSync(f)) continue;
      if (fs.readFileSync(f).equals(body)) n = body.length;
      else if (fs.existsSync(`${f}.synced`)) n = Math.max(n, Math.min(Number(fs.readFileSync(`${f}.synced`, 'utf8')), body.length));
    }
    out.set(name, n);
  }
  return out;
}

const sentNow = () => new Map([...bundle.files.keys()].map((f) => [f, releases.sent.get(f) ?? 0]));

interface Step {
  name: string;
  /** The version the board runs right after the cut. */
  after: string;
  /** The updater's test hook for this step, when it is too short to hit from outside. */
  hold?: string;
  /** Before the order: what the step needs (a stalled file). */
  arrange?: () => void;
  /** Wait until the agent is at the step; resolves when it is time to cut. */
  reach(s: AgentSite, sup: Supervisor, rollout: string): Promise<unknown>;
  /** After the cut, before the restarted agent runs on (the link back, a hook freed). */
  afterCut?: (s: AgentSite) => Promise<void>;
}

const largest = () => [...bundle.files].sort((x, y) => y[1].length - x[1].length)[0]!;
const holding = (sup: Supervisor, step: string) => waitFor(`the update held at ${step}`, () => sup.lines().some((l) => l.includes(`holding the update at ${step}`)), 120_000);

const STEPS: Step[] = [
  {
    name: 'downloading, in the middle of a file',
    after: FACTORY,
    arrange: () => {
      releases.faults.stall = { path: largest()[0], after: MiB + 100_000 };
    },
    async reach(s) {
      const partial = path.join(s.stateDir, 'slots', 'a.partial', largest()[0]);
      await waitFor('the first MiB synced', () => fs.existsSync(`${partial}.synced`) && Number(fs.readFileSync(`${partial}.synced`, 'utf8')) >= MiB, 60_000);
    },
  },
  { name: 'downloaded, every file whole in the partial slot', after: FACTORY, hold: 'downloaded', reach: (_, sup) => holding(sup, 'downloaded') },
  { name: 'verified, before the install', after: FACTORY, hold: 'verified', reach: (_, sup) => holding(sup, 'verified') },
  {
    name: 'installing into the slot (release.json written, the folder not yet renamed)',
    after: FACTORY,
    hold: 'installing',
    reach: (_, sup) => holding(sup, 'installing'),
  },
  { name: 'after the trial is written, before the restart', after: NEW, hold: 'switching', reach: (_, sup) => holding(sup, 'switching') },
  {
    name: 'on trial, before its health check (the new version started, not yet connected)',
    after: NEW,
    async reach(s, sup, rollout) {
      // The old version says `testing` just before it writes the trial and restarts: the link goes down then,
      // so the new version starts and cannot reach the server (its health check cannot begin).
      await waitFor('the switch announced', () => (updateEvents.get(s.id) ?? []).some((u) => u.rolloutId === rollout && u.state === 'testing'), 120_000);
      await s.relay.down();
      await waitFor('the new version started on trial', () => sup.lines().some((l) => /running 99\.0\.0 on trial \(start 1\)/.test(l)), 60_000);
    },
    afterCut: (s) => s.relay.up(),
  },
  {
    name: 'during its health check',
    after: NEW,
    async reach(s, _, rollout) {
      await waitFor(
        'the new version on trial, connected',
        () => heartbeat(s.id, (m) => m.versions.agent === NEW && m.update?.state === 'testing' && m.update.rolloutId === rollout),
        120_000,
      );
    },
  },
  { name: 'after the commit, before the report', after: NEW, hold: 'committed', reach: (_, sup) => holding(sup, 'committed') },
];

describe('agent A/B update, the power cut at every step', () => {
  it.each(STEPS.map((s, i) => [s.name, s, i] as const))(
    'cut %s: the board runs a working version, reports, resumes and commits',
    async (_, step, i) => {
      const s = await site(`Cụm loa mất điện ${i + 1}`, 1800 + i);
      const rollout = `roll-cut-${i}-${s.id}`;
      step.arrange?.();
      const sup = new Supervisor(s.config, step.hold ? { LOANET_TEST_UPDATE_HOLD: step.hold } : {});
      const sentBefore = sentNow();
      sup.start();
      try {
        await waitFor('the agent online', () => heartbeat(s.id, (m) => m.versions.agent === FACTORY), 60_000);
        const o: UpdateOrder = {
          v: PROTOCOL_VERSION,
          siteId: s.id,
          at: Date.now(),
          rolloutId: rollout,
          action: 'install',
          component: 'agent',
          releaseId: bundle.id,
          version: NEW,
          manifestSha256: bundle.manifestSha256,
          budgetBytes: bundle.total * 3 + 100_000,
          healthTimeoutS: 60,
        };
        await t.server.ctx.broker.publish(siteTopic(s.id, 'update'), Buffer.from(JSON.stringify(o)), { qos: 1, retain: true });
        await step.reach(s, sup, rollout);

        // The power goes.
        const startsAtCut = sup.starts;
        sup.clearEnv();
        await sup.kill();
        const cutAt = Date.now();
        const sentAtCut = sentNow();
        const durable = durableBytes(s);
        await step.afterCut?.(s);

        // It comes back on a working version, and says where its update stands.
        const back = await waitFor(
          `a heartbeat of ${step.after} after the restart`,
          () => heartbeat(s.id, (m) => m.receivedAt > cutAt && m.versions.agent === step.after && m.update?.rolloutId === rollout),
          120_000,
        );
        expect(back.update).toMatchObject({ rolloutId: rollout, version: NEW });
        expect(sup.starts).toBeGreaterThan(startsAtCut);

        // And finishes: committed.
        const done = await waitFor(
          'a heartbeat of the new version, committed',
          () => heartbeat(s.id, (m) => m.versions.agent === NEW && m.update?.state === 'updated' && m.update.rolloutId === rollout),
          180_000,
        );
        expect(done.update).toMatchObject({ version: NEW, fromVersion: FACTORY, releaseId: bundle.id });

        // Nothing synced was fetched again; a file that was whole not a byte of it.
        const sentAfter = sentNow();
        const unsynced = [...bundle.files.keys()].reduce((n, f) => n + Math.max(0, sentAtCut.get(f)! - sentBefore.get(f)! - durable.get(f)!), 0);
        const fetched = [...bundle.files.keys()].reduce((n, f) => n + sentAfter.get(f)! - sentBefore.get(f)!, 0);
        expect(fetched, `fetched ${fetched} bytes for a release of ${bundle.total}; ${unsynced} were not synced at the cut`).toBeLessThanOrEqual(bundle.total + unsynced);
        for (const [f, body] of bundle.files) {
          if (durable.get(f) === body.length) expect(sentAfter.get(f)! - sentBefore.get(f)!, `${f} was whole at the cut`).toBe(body.length);
        }

        // The slots and the boot state agree: slot a committed and whole, no trial, nothing partial left.
        expect(bootState(s)).toMatchObject({ committed: { slot: 'a', version: NEW } });
        expect(bootState(s)?.trial).toBeUndefined();
        expect(await inspectSlot(path.join(s.stateDir, 'slots', 'a'))).toEqual({ ok: true, version: NEW });
        expect(fs.existsSync(path.join(s.stateDir, 'slots', 'a.partial'))).toBe(false);
        expect(fs.existsSync(path.join(s.stateDir, 'slots', 'b'))).toBe(false);
      } catch (e) {
        throw new Error(`${(e as Error).message}\n${sup.log()}`);
      } finally {
        await sup.stop();
      }
    },
    400_000,
  );
});

/** A flash that pulls the agent's plug (SIGKILL, in the same tick: the agent never hears the answer) at one step of the exchange. */
class CuttingFlash extends SimFlash {
  cutAt: { step: 'chunk' | 'activate' | 'confirm'; pid: () => number | undefined; when?: (offset: number) => boolean } | undefined;
  cuts = 0;
  private cut(step: 'chunk' | 'activate' | 'confirm', offset = 0): void {
    const c = this.cutAt;
    if (!c || c.step !== step || !(c.when?.(offset) ?? true)) return;
    this.cutAt = undefined;
    const pid = c.pid();
    if (pid) process.kill(pid, 'SIGKILL');
    this.cuts++;
  }
  override chunk(offset: number, bytes: Uint8Array, crc: number): ReturnType<SimFlash['chunk']> {
    const r = super.chunk(offset, bytes, crc);
    if (r.ok) this.cut('chunk', r.offset);
    return r;
  }
  override activate(): ReturnType<SimFlash['activate']> {
    const r = super.activate();
    this.cut('activate');
    return r;
  }
  override confirm(): ReturnType<SimFlash['confirm']> {
    const r = super.confirm();
    this.cut('confirm');
    return r;
  }
}

const HW = 'loanet-amp-1';
const FW_SIZE = 48 * 1024;

describe("device firmware order, the agent's power cut", () => {
  const steps: Array<{ name: string; step: 'chunk' | 'activate' | 'confirm'; when?: (offset: number) => boolean }> = [
    { name: 'in the middle of the transfer', step: 'chunk', when: (offset) => offset >= FW_SIZE / 2 },
    { name: 'with the device on its test boot (after fw_activate)', step: 'activate' },
    { name: 'after the device confirmed, before the report', step: 'confirm' },
  ];
  it.each(steps.map((x, i) => [x.name, x, i] as const))(
    'agent killed %s: it comes back, asks the device, finishes; nothing flashed twice',
    async (_, step, i) => {
      const s = await site(`Cụm loa mất điện khi nạp firmware ${i + 1}`, 1900 + i);
      // The site's amplifier with an updatable flash, in this process, so the flash can cut the agent's power.
      const storage = new MemoryFlashStorage();
      const flash = new CuttingFlash(storage, { hardware: HW, factoryVersion: '1.0.0' });
      const base = await loadProfile('village-cluster-4g');
      // A 1 s boot instead of the profile's 20 s: the agent's wait for the rebooting device is the same loop.
      const device = new SimDevice({ ...base, board: { ...base.board, bootMs: 1000 }, amplifier: { ...base.amplifier, warmupMs: 300 } }, { seed: 1900 + i, flash });
      const server = new DeviceServer(device, { tickIntervalMs: 0 });
      const port = await server.listen(0, '127.0.0.1');
      const cfg = JSON.parse(fs.readFileSync(s.config, 'utf8')) as { devices: { port: number } };
      cfg.devices.port = port;
      fs.writeFileSync(s.config, JSON.stringify(cfg));
      const img = Buffer.alloc(FW_SIZE);
      for (let k = 0; k < img.length; k++) img[k] = (k * 131 + i) & 0xff;
      const release = makeRelease({ id: `amp-3-0-${i}`, version: '3.0.0', key, component: 'device-firmware', files: { 'amp.bin': img }, extra: { target: { hardware: HW } } });
      releases.add(release);
      const sentBefore = releases.sent.get('amp.bin') ?? 0;
      const sup = new Supervisor(s.config);
      flash.cutAt = { step: step.step, pid: () => sup.proc?.child.pid, ...(step.when ? { when: step.when } : {}) };
      const rollout = `roll-fw-cut-${i}-${s.id}`;
      sup.start();
      try {
        await waitFor('the agent online', () => heartbeat(s.id, (m) => m.versions.agent === FACTORY), 60_000);
        const o: UpdateOrder = {
          v: PROTOCOL_VERSION,
          siteId: s.id,
          at: Date.now(),
          rolloutId: rollout,
          action: 'install',
          component: 'device-firmware',
          devices: ['controller'],
          releaseId: release.id,
          version: '3.0.0',
          manifestSha256: release.manifestSha256,
          budgetBytes: release.total * 3 + 100_000,
          healthTimeoutS: 60,
        };
        await t.server.ctx.broker.publish(siteTopic(s.id, 'update'), Buffer.from(JSON.stringify(o)), { qos: 1, retain: true });
        await waitFor('the power cut', () => flash.cuts === 1, 120_000);
        const cutAt = Date.now();
        const back = await waitFor('a heartbeat of the restarted agent', () => heartbeat(s.id, (m) => m.receivedAt > cutAt && m.update?.rolloutId === rollout), 120_000);
        expect(back.versions.agent).toBe(FACTORY);
        const done = await waitFor('the order reported updated', () => heartbeat(s.id, (m) => m.update?.rolloutId === rollout && m.update.state === 'updated'), 120_000);
        expect(done.update?.devices).toEqual([expect.objectContaining({ id: 'controller', state: 'updated' })]);
        expect(sup.starts).toBe(2);
        // The device runs the new image, confirmed; every byte of it programmed once.
        expect(flash.version).toBe('3.0.0');
        expect(flash.info()).toMatchObject({ state: 'confirmed' });
        expect(storage.bytesWritten).toBe(FW_SIZE);
        expect(storage.loadState()?.programmed).toMatchObject({ bytes: FW_SIZE, again: [] });
        // The image the agent fetched: once, and not kept once every device has it.
        expect((releases.sent.get('amp.bin') ?? 0) - sentBefore).toBe(FW_SIZE);
        expect(fs.existsSync(path.join(s.stateDir, 'firmware', `${release.manifest.files[0]!.sha256}.bin`))).toBe(false);
      } catch (e) {
        throw new Error(`${(e as Error).message}\nthe last report: ${JSON.stringify(heartbeat(s.id, (m) => m.update?.rolloutId === rollout)?.update)}\n${sup.log()}`);
      } finally {
        await sup.stop();
        await server.close();
      }
    },
    300_000,
  );
});
