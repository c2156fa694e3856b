/**
 * Runs many simulated sites in one process: for each, a simulated device
 * (firmware-sim) behind an in-memory byte stream, the real edge agent with
 * its sim driver, and a simulated uplink to the broker, a real TCP
 * connection per site. Registers the sites with the server first (or reuses
 * them, keeping their credentials in a local file).
 *
 * The runner is also the test and demo harness: it can kill an agent, cut a
 * link without a close, and inject device faults.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { EdgeAgent, monotonicEpochMs, type PlayoutSetup } from '../edge-agent/agent.ts';
import { NullSink } from '../edge-agent/audio/sinks/null.ts';
import { DEFAULT_OUTPUT_BUFFER_MS } from '../edge-agent/audio/types.ts';
import type { MediaCache } from '../edge-agent/media-cache/types.ts';
import { parseAgentConfig, readAgentVersion } from '../edge-agent/config.ts';
import type { TrustedKey } from '../common/release.ts';
import { decideBoot } from '../edge-agent/update/launcher.ts';
import type { SlotName } from '../edge-agent/update/boot-select.ts';
import { SimDeviceDriver } from '../edge-agent/devices/sim-driver.ts';
import { loadProfile, type DeviceProfile } from '../hardware/profiles.ts';
import { SimDevice, type FaultSpec } from './device.ts';
import { DeviceServer, createDevicePair } from './device-server.ts';
import { SimulatedLink, type LinkMode } from './link.ts';
import { planFleet, pickFaulty, type CommuneInfo, type PlannedSite, type PlannedVillage } from './fleet-plan.ts';
import { liveReceiverBehind, type LiveAudioLink } from './live-link.ts';
import { ApiError, type LoanetClient } from '../tools/api-client.ts';
import { simulatedPlayout } from './fleet-playout.ts';
import { csvDocument } from '../server/csv.ts';

export interface FleetRunnerOptions {
  api: LoanetClient;
  /** Broker address the agents connect to. */
  mqtt: { host: string; port: number };
  sites: number;
  heartbeatS: number;
  /** Share of sites that get a device fault injected after start (0..1). */
  faultShare?: number;
  seed?: number;
  /** Where site credentials are kept between runs; null = memory only. */
  credentialsFile?: string | null;
  /** Area (code or key) whose communes get the sites, or several comma-separated; default all communes of the current structure. */
  area?: string;
  /** The device faults `faultShare` draws from, in turn (default every kind the simulated devices have). */
  faultKinds?: readonly FaultSpec['kind'][];
  /** Site id prefix, so several fleets can share a server. */
  idPrefix?: string;
  /** New agents started per second (a real province does not boot in one instant). */
  startRate?: number;
  /**
   * How sites play: every site has the playout engine (bulletins, alerts,
   * live), on the simulated amplifier ('device', default: the device records
   * what it played and when) or a null sink, a receipt journal and saved
   * playlist under `stateRoot/<site>` (so a killed and restored agent
   * back-fills), and the media cache `mediaCache` builds. Absent: whole sites
   * all the same (simulatedPlayout), their state and media caches in a
   * folder of the runner's own that stop() removes.
   */
  playout?: FleetPlayoutOptions;
  /**
   * Sites with devices, heartbeats and commands but no playout, for scale
   * tests of the heartbeat path: they cannot play bulletins or alerts and say
   * so in their telemetry (canPlay false), so the server never counts them
   * operational. Excludes `playout`.
   */
  heartbeatOnly?: boolean;
  /** Software updates (edge-agent/update/): every site takes update orders; needs per-site state (playout.stateRoot, or the default). */
  update?: FleetUpdateOptions;
  /** Test only: features a site's agent does not declare, standing in for an older agent (EdgeAgentOptions.withoutFeatures). */
  withoutFeatures?: (siteId: string) => readonly string[] | undefined;
  log?: (line: string) => void;
}

/**
 * The fleet's port for the agent's A/B update: a site's "restart into the
 * other version" stops its agent and builds a new one from what boot.json
 * says (the launcher's decision, edge-agent/update/launcher.ts), which
 * reports the installed slot's version. The code is the same; the version,
 * the slot, the trial and its health check are the real ones.
 */
export interface FleetUpdateOptions {
  trustedKeys: readonly TrustedKey[];
  /** Where the sites fetch releases (the server's HTTP API, or a test's release server). */
  httpUrl: string;
  /** Sites whose new version fails its health check (its sound check hears nothing): fault injection. */
  failHealthCheck?: (siteId: string) => boolean;
  /** How often the switch and the health check look again (default 1 s). */
  pollMs?: number;
  /** The version the sites' package program reports (default the project's). */
  factoryVersion?: string;
}

export interface FleetPlayoutOptions {
  sink?: 'device' | 'null';
  /** Output buffer of the sink (ms, default 100 as an agent's: DEFAULT_OUTPUT_BUFFER_MS). */
  bufferMs?: number;
  /** Per-site state (receipt journal, saved playlist); absent: memory only. */
  stateRoot?: string;
  /** Builds a site's media cache (edge-agent/media-cache); absent: entries are skipped no_media. */
  mediaCache?: (site: { id: string; secret: string; stateDir: string | undefined }) => MediaCache;
  /** Amplifier off this long after the last programme (default 3000 ms). */
  tailMs?: number;
  /** Added to the profile's amplifier warm-up for the lead (default 500 ms: the device round trip and margin). */
  leadMarginMs?: number;
  /**
   * Live streams (issue 4): the site's clock runs this many ms off (its agent and sink see
   * real time + error; the clock exchange must find it), and its live audio messages pass
   * through `liveAudioLink` (delay, jitter, loss of a 4G link: live-link.ts). Both per site.
   */
  clockErrorMs?: (siteId: string) => number;
  liveAudioLink?: (siteId: string) => LiveAudioLink | undefined;
  /** The agents' live statistics period (default the agent's, 15 s): a test of the adaptive delay wants reports sooner. */
  liveStatsIntervalMs?: number;
  /** When the agents' event journals send again what the server did not acknowledge (default: an agent's, 30 s). */
  journalResend?: PlayoutSetup['journalResend'];
}

export interface SimSite {
  plan: PlannedSite;
  secret: string;
  device: SimDevice;
  server: DeviceServer;
  link: SimulatedLink;
  agent: EdgeAgent;
  running: boolean;
}

export interface FleetStats {
  sites: number;
  running: number;
  connected: number;
  heartbeatsSent: number;
  commandsRun: number;
}

interface AreaView {
  key: string;
  code: string;
  name: string;
  level: string;
  lat: number | null;
  lon: number | null;
  parent: string | null;
}

const FAULT_MENU: FaultSpec[] = [{ kind: 'line_open', line: 2 }, { kind: 'line_short', line: 1 }, { kind: 'amp_overheat' }, { kind: 'mains_lost' }, { kind: 'modem_link_lost' }];

export class FleetRunner {
  private readonly sites = new Map<string, SimSite>();
  private readonly profiles = new Map<string, DeviceProfile>();
  /** Area key → parent key, and code → key: each site subscribes to its own area's channels and its ancestors' (alerts, live). */
  private readonly areaParents = new Map<string, string | null>();
  private readonly areaKeyByCode = new Map<string, string>();
  private ticker: NodeJS.Timeout | undefined;
  /** Per site, the end of its last stop or start (lifecycle()). */
  private readonly lifecycles = new Map<string, Promise<void>>();
  private readonly log: (line: string) => void;
  /** What every site plays with; undefined = heartbeat-only (or the default, until start() makes its folder). */
  private playout: FleetPlayoutOptions | undefined;
  /** The folder made for sites' state when the caller gave no playout options; removed by stop(). */
  private ownDir: string | undefined;

  constructor(private readonly opts: FleetRunnerOptions) {
    this.log = opts.log ?? (() => {});
    if (opts.heartbeatOnly && opts.playout) throw new Error('FleetRunner: heartbeatOnly sites have no playout; give one or the other');
    this.playout = opts.playout;
  }

  /** Whether the sites play (false: heartbeat-only). */
  get plays(): boolean {
    return !this.opts.heartbeatOnly;
  }

  /** Register villages and sites with the server as needed; returns the plan with credentials. */
  async prepare(): Promise<Array<{ plan: PlannedSite; secret: string }>> {
    const { api } = this.opts;
    const started = Date.now();
    const communes = await this.communes();
    const plan = planFleet(communes, this.opts.sites, this.opts.idPrefix ?? 'sim');

    const villages = new Set((await api.get<{ areas: AreaView[] }>('/api/areas?level=village')).areas.map((a) => a.key));
    const createdVillages = await importVillages(
      api,
      plan.flatMap((s) => (s.village && !villages.has(s.area) ? [s.village] : [])),
    );

    await this.loadAreas();
    const saved = this.readCredentials();
    const existing = new Set(
      (await api.get<{ sites: Array<{ id: string }> }>(`/api/sites?q=${encodeURIComponent((this.opts.idPrefix ?? 'sim') + '-')}&limit=50000`)).sites.map((s) => s.id),
    );
    let created = 0;
    let rotated = 0;
    const out: Array<{ plan: PlannedSite; secret: string }> = [];
    for (const s of plan) {
      let secret = saved[s.id];
      if (!existing.has(s.id)) {
        const profile = await this.profile(s.profile);
        const r = await api.post<{ credential: { secret: string } }>('/api/sites', {
          id: s.id,
          name: s.name,
          kind: s.kind,
          area: s.area,
          lat: s.lat,
          lon: s.lon,
          profile: s.profile,
          monitorMic: profile.monitorMic,
          expectedDevices: [{ id: 'controller', kind: 'controller' }],
        });
        secret = r.credential.secret;
        created++;
      } else if (!secret) {
        // Registered earlier but its secret is not in our file: issue a new one.
        secret = (await api.post<{ credential: { secret: string } }>(`/api/sites/${s.id}/credential`)).credential.secret;
        rotated++;
      }
      saved[s.id] = secret;
      out.push({ plan: s, secret });
    }
    this.writeCredentials(saved);
    this.log(
      `fleet: ${plan.length} sites (${created} registered, ${rotated} credentials reissued, ${plan.length - created - rotated} reused), ${createdVillages} villages created, in ${((Date.now() - started) / 1000).toFixed(1)} s`,
    );
    return out;
  }

  /** Start every site's device, agent and link. Resolves once all agents were started (not necessarily connected). */
  async start(prepared?: Array<{ plan: PlannedSite; secret: string }>): Promise<void> {
    const list = prepared ?? (await this.prepare());
    if (this.plays && !this.playout) {
      // Made here, not in the constructor: a runner used only to register sites (prepare) leaves nothing behind.
      this.ownDir = fs.mkdtempSync(path.join(os.tmpdir(), 'loanet-sim-'));
      this.playout = simulatedPlayout({ dir: this.ownDir, httpUrl: this.opts.api.baseUrl });
    }
    if (this.areaParents.size === 0) await this.loadAreas();
    const rate = this.opts.startRate ?? 500;
    const started = Date.now();
    let i = 0;
    for (const { plan, secret } of list) {
      const site = await this.build(plan, secret);
      this.sites.set(plan.id, site);
      await site.agent.start();
      site.running = true;
      if (++i % rate === 0) await new Promise((r) => setTimeout(r, 1000));
    }
    this.log(`fleet: ${list.length} agents started in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    // One timer advances every device's physics (battery, heat), instead of one per device.
    this.ticker = setInterval(() => {
      const t = Date.now();
      for (const s of this.sites.values()) {
        s.device.tick(t);
        if (s.running && s.device.isDark(t)) void this.powerLoss(s);
      }
    }, 1000);
    this.ticker.unref();
    const share = this.opts.faultShare ?? 0;
    if (share > 0) {
      const faulty = pickFaulty(
        [...this.sites.values()].map((s) => ({ id: s.plan.id })),
        share,
        this.opts.seed ?? 1,
      );
      const done: string[] = [];
      faulty.forEach((f, k) => {
        const site = this.site(f.id);
        const menu = this.opts.faultKinds ? FAULT_MENU.filter((f) => this.opts.faultKinds!.includes(f.kind)) : FAULT_MENU;
        const pick = menu[k % menu.length]!;
        // A line fault goes on the last line the profile has (a solar cluster has one).
        const fault: FaultSpec = 'line' in pick ? { ...pick, line: Math.min(pick.line, site.device.profile.lines.length) } : pick;
        this.injectFault(f.id, fault);
        done.push(`${f.id} ${fault.kind}${'line' in fault ? ' ' + fault.line : ''}`);
      });
      this.log(`fleet: injected faults into ${faulty.length} sites: ${done.join(', ')}`);
    }
  }

  site(id: string): SimSite {
    const s = this.sites.get(id);
    if (!s) throw new Error(`no simulated site ${id}`);
    return s;
  }

  ids(): string[] {
    return [...this.sites.keys()];
  }

  /** The agent process dies: its TCP connection closes, the broker publishes its last will. */
  async kill(id: string): Promise<void> {
    const s = this.site(id);
    s.running = false;
    await this.lifecycle(id, () => s.agent.stop({ graceful: false }));
  }

  /** The uplink goes silent without closing (blackhole) or loses carrier (down). */
  cut(id: string, mode: Exclude<LinkMode, 'up'> = 'blackhole'): void {
    this.site(id).link.setMode(mode);
  }

  /** Bring a site back: link up, and a killed agent started again (a new agent, as systemd would). */
  async restore(id: string): Promise<void> {
    const s = this.site(id);
    s.link.setMode('up');
    await this.lifecycle(id, async () => {
      if (!s.running) {
        const fresh = await this.build(s.plan, s.secret, s);
        s.agent = fresh.agent;
        s.link = fresh.link;
        await s.agent.start();
        s.running = true;
      }
    });
  }

  /** One site's stops and starts in order (a kill, a restore, an update's switch), as one process's life is: never two agents of a site at once. */
  private lifecycle(id: string, op: () => Promise<void>): Promise<void> {
    const next = (this.lifecycles.get(id) ?? Promise.resolve()).then(op, op);
    this.lifecycles.set(
      id,
      next.catch(() => {}),
    );
    return next;
  }

  /** A site's agent restarts into the version boot.json says (an update's switch, or its rollback): a new agent object, as systemd would start a new process. */
  private switchVersion(id: string, why: string): Promise<void> {
    const agent = this.site(id).agent;
    return this.lifecycle(id, async () => {
      const s = this.site(id);
      // A kill or another restart came first: that agent is gone, and what boot.json says runs at its restore.
      if (!s.running || s.agent !== agent) return;
      s.running = false;
      this.log(`fleet: ${id} restarts: ${why}`);
      await s.agent.stop({ graceful: true }).catch(() => {});
      const fresh = await this.build(s.plan, s.secret, s);
      s.agent = fresh.agent;
      s.link = fresh.link;
      await s.agent.start();
      s.running = true;
    });
  }

  injectFault(id: string, fault: FaultSpec): void {
    const s = this.site(id);
    s.device.injectFault(fault);
    if (fault.kind === 'modem_link_lost') s.link.setMode('down');
  }

  clearFault(id: string, fault: FaultSpec): void {
    const s = this.site(id);
    s.device.clearFault(fault);
    if (fault.kind === 'modem_link_lost') s.link.setMode('up');
  }

  stats(): FleetStats {
    let running = 0;
    let connected = 0;
    let heartbeatsSent = 0;
    let commandsRun = 0;
    for (const s of this.sites.values()) {
      if (s.running) running++;
      const st = s.agent.stats;
      if (st.connected) connected++;
      heartbeatsSent += st.heartbeatsSent;
      commandsRun += st.commandsRun;
    }
    return { sites: this.sites.size, running, connected, heartbeatsSent, commandsRun };
  }

  async stop(): Promise<void> {
    if (this.ticker) clearInterval(this.ticker);
    await Promise.all(
      [...this.sites.values()].map(async (s) => {
        if (s.running) await s.agent.stop({ graceful: true }).catch(() => {});
        s.running = false;
        s.link.close();
        await s.server.close().catch(() => {});
      }),
    );
    if (this.ownDir) fs.rmSync(this.ownDir, { recursive: true, force: true });
    this.ownDir = undefined;
  }

  /** The board lost power (battery empty): agent and link die with it, no goodbye. */
  private async powerLoss(s: SimSite): Promise<void> {
    s.running = false;
    s.link.setMode('down');
    await s.agent.stop({ graceful: false }).catch(() => {});
    this.log(`fleet: ${s.plan.id} lost power (battery empty)`);
  }

  private async build(plan: PlannedSite, secret: string, reuse?: SimSite): Promise<SimSite> {
    const profile = await this.profile(plan.profile);
    const update = this.opts.update;
    const stateDir = this.playout?.stateRoot ? path.join(this.playout.stateRoot, plan.id) : undefined;
    if (update && !stateDir) throw new Error('fleet: software updates need per-site state (playout.stateRoot)');
    // What a board's launcher does at each start: which installed version runs (the trial's start counted).
    const factoryVersion = update?.factoryVersion ?? readAgentVersion();
    let boot: { run: SlotName; version: string } | undefined;
    if (update && stateDir) {
      fs.mkdirSync(stateDir, { recursive: true });
      boot = await decideBoot(stateDir, factoryVersion, { info: (m) => this.log(`fleet: ${plan.id}: ${m}`), warn: (m) => this.log(`fleet: ${plan.id}: ${m}`) });
    }
    const device = reuse?.device ?? new SimDevice(profile, { seed: hashSeed(plan.id) });
    const server = reuse?.server ?? new DeviceServer(device, { realTime: true, tickIntervalMs: 0 });
    const pair = createDevicePair();
    server.attach(pair.device);
    const gateway = new SimDeviceDriver({ transport: { kind: 'stream', stream: pair.agent } });
    const link = reuse?.link ?? new SimulatedLink(this.opts.mqtt.host, this.opts.mqtt.port);
    const config = parseAgentConfig(
      {
        siteId: plan.id,
        server: { mqttUrl: `mqtt://${this.opts.mqtt.host}:${this.opts.mqtt.port}`, ...(update ? { httpUrl: update.httpUrl } : {}) },
        credential: { secret },
        heartbeatIntervalS: this.opts.heartbeatS,
        // Keepalive no longer than the heartbeat, so a dead link is noticed by the broker too.
        keepaliveS: Math.max(5, Math.min(30, this.opts.heartbeatS)),
        link: { type: profile.modem.type },
        reconnect: { baseMs: 500, capMs: Math.max(2000, this.opts.heartbeatS * 1000) },
        ...(this.playout?.stateRoot ? { stateDir: path.join(this.playout.stateRoot, plan.id) } : {}),
        areaChannels: this.channelsOf(plan.area),
      },
      { source: `fleet:${plan.id}`, ...(boot ? { agentVersion: boot.version } : {}) },
    );
    // One clock error per site, shared by the agent and its sink.
    const clockErrorMs = this.playout?.clockErrorMs?.(plan.id) ?? 0;
    const withoutFeatures = this.opts.withoutFeatures?.(plan.id);
    const agent = new EdgeAgent({
      config,
      gateway,
      ...(this.playout ? { playout: this.playoutFor(plan, secret, profile, gateway, config.stateDir, clockErrorMs) } : {}),
      mqttStream: link.open,
      ...(clockErrorMs !== 0 ? { clock: skewedClock(clockErrorMs) } : {}),
      ...(withoutFeatures ? { withoutFeatures } : {}),
      log: quietLog(this.log, plan.id),
      // A connection attempt into a dead link must give up in time to try again when it is back.
      connectTimeoutMs: Math.min(30_000, Math.max(3000, 2 * this.opts.heartbeatS * 1000)),
      ...(update && boot
        ? {
            update: {
              port: { restart: (why: string) => this.switchVersion(plan.id, why) },
              slot: boot.run,
              trustedKeys: update.trustedKeys,
              ...(update.pollMs !== undefined ? { pollMs: update.pollMs } : {}),
              ...(update.failHealthCheck?.(plan.id) ? { soundCheck: async () => ({ ok: false, detail: 'nothing heard (injected fault)' }) } : {}),
            },
          }
        : {}),
    });
    return { plan, secret, device, server, link, agent, running: false };
  }

  /** The site's playout parts: the simulated amplifier (or a null sink), its media cache, the profile's amplifier warm-up as lead. */
  private playoutFor(plan: PlannedSite, secret: string, profile: DeviceProfile, gateway: SimDeviceDriver, stateDir: string | undefined, clockErrorMs = 0): PlayoutSetup {
    const o = this.playout!;
    const bufferMs = o.bufferMs ?? DEFAULT_OUTPUT_BUFFER_MS;
    // The sink judges "due" on the agent's own time base (its default: the monotonic epoch).
    const now = clockErrorMs === 0 ? monotonicEpochMs : () => monotonicEpochMs() + clockErrorMs;
    const sink = (o.sink ?? 'device') === 'device' ? gateway.audioSink({ bufferMs, now }) : new NullSink({ latencyMs: bufferMs, now });
    const liveAudioLink = o.liveAudioLink?.(plan.id);
    const cache = o.mediaCache?.({ id: plan.id, secret, stateDir });
    return {
      sink,
      ...(cache ? { cache } : {}),
      leadMs: profile.amplifier.warmupMs + (o.leadMarginMs ?? 500),
      tailMs: o.tailMs ?? profile.amplifier.holdMs,
      ...(liveAudioLink || o.liveStatsIntervalMs !== undefined ? { createLiveReceiver: liveReceiverBehind(liveAudioLink, o.liveStatsIntervalMs) } : {}),
      ...(o.journalResend ? { journalResend: o.journalResend } : {}),
    };
  }

  private async loadAreas(): Promise<void> {
    for (const a of (await this.opts.api.get<{ areas: AreaView[] }>('/api/areas')).areas) {
      this.areaParents.set(a.key, a.parent);
      if (!this.areaKeyByCode.has(a.code)) this.areaKeyByCode.set(a.code, a.key);
    }
  }

  /** The site's area and its ancestors, nearest first (the ACL lets a site subscribe to exactly these). */
  private channelsOf(area: string): string[] {
    const out: string[] = [];
    let key: string | null | undefined = area.includes('.') ? area : this.areaKeyByCode.get(area);
    while (key && out.length < 16 && !out.includes(key)) {
      out.push(key);
      key = this.areaParents.get(key);
    }
    return out;
  }

  private async profile(name: string): Promise<DeviceProfile> {
    let p = this.profiles.get(name);
    if (!p) {
      p = await loadProfile(name);
      this.profiles.set(name, p);
    }
    return p;
  }

  private async communes(): Promise<CommuneInfo[]> {
    const { api } = this.opts;
    let areas: AreaView[];
    if (this.opts.area) {
      const roots = await Promise.all(this.opts.area.split(',').map((a) => api.get<AreaView>(`/api/areas/${encodeURIComponent(a.trim())}`)));
      const all = (await api.get<{ areas: AreaView[] }>(`/api/areas?version=${roots[0]!.key.split('.')[0]}`)).areas;
      const under = new Set(roots.map((r) => r.key));
      // Parents come before children in key order only by accident; iterate to a fixed point.
      for (let changed = true; changed; ) {
        changed = false;
        for (const a of all) if (a.parent && under.has(a.parent) && !under.has(a.key)) under.add(a.key), (changed = true);
      }
      areas = all.filter((a) => under.has(a.key) && a.level === 'commune');
    } else {
      areas = (await api.get<{ areas: AreaView[] }>('/api/areas?level=commune')).areas;
      const versions = [...new Set(areas.map((a) => a.key.split('.')[0]!))].sort();
      const latest = versions[versions.length - 1];
      areas = areas.filter((a) => a.key.startsWith(`${latest}.`));
    }
    if (areas.length === 0) throw new Error('the server has no communes: import an area list first (POST /api/areas/import)');
    return areas.map((a) => ({ key: a.key, code: a.code, name: a.name, lat: a.lat, lon: a.lon }));
  }

  private readCredentials(): Record<string, string> {
    const f = this.opts.credentialsFile;
    if (!f || !fs.existsSync(f)) return {};
    try {
      const data = JSON.parse(fs.readFileSync(f, 'utf8')) as { server?: string; sites?: Record<string, string> };
      return data.server === this.opts.api.baseUrl ? (data.sites ?? {}) : {};
    } catch {
      return {};
    }
  }

  private writeCredentials(sites: Record<string, string>): void {
    const f = this.opts.credentialsFile;
    if (!f) return;
    fs.mkdirSync(path.dirname(f), { recursive: true });
    const tmp = `${f}.tmp`;
    fs.writeFileSync(tmp, JSON.stringify({ server: this.opts.api.baseUrl, sites }, null, 1), { mode: 0o600 });
    fs.renameSync(tmp, f);
  }
}

function hashSeed(s: string): number {
  let h = 0;
  for (let i = 0; i < s.length; i++) h = (Math.imul(h, 31) + s.charCodeAt(i)) | 0;
  return h >>> 0;
}

function quietLog(log: (line: string) => void, id: string) {
  return {
    info: () => {},
    debug: () => {},
    warn: (m: string) => log(`${id}: ${m}`),
    error: (m: string) => log(`${id}: ERROR ${m}`),
  };
}

export { ApiError };

/** A site clock `errorMs` off real time, on the monotonic time base (what the agent and its sink share). */
function skewedClock(errorMs: number): { now(): number } {
  return { now: () => monotonicEpochMs() + errorMs };
}

/** Villages per import request: one transaction each, so a large province does not hold the store for one long write. */
const VILLAGES_PER_IMPORT = 5000;

/**
 * Registers the simulated villages through the area import (loanet's own
 * CSV layout), as a province loads its village list: a request per
 * VILLAGES_PER_IMPORT villages of one structure version, where one
 * `POST /api/areas` each would re-read the whole area tree per village (at
 * 21,000 villages that was 4 a second: over an hour for 30,000). Answers how
 * many were created.
 */
async function importVillages(api: LoanetClient, villages: readonly PlannedVillage[]): Promise<number> {
  const byVersion = new Map<string, PlannedVillage[]>();
  for (const v of villages) {
    const version = v.parentKey.slice(0, v.parentKey.indexOf('.'));
    let list = byVersion.get(version);
    if (!list) byVersion.set(version, (list = []));
    list.push(v);
  }
  let created = 0;
  for (const [version, list] of byVersion) {
    for (let i = 0; i < list.length; i += VILLAGES_PER_IMPORT) {
      const csv = csvDocument(
        ['code', 'name', 'level', 'parent_code', 'kind', 'lat', 'lon'],
        list.slice(i, i + VILLAGES_PER_IMPORT).map((v) => [v.code, v.name, 'village', v.parentKey.slice(version.length + 1), 'thôn', v.lat, v.lon]),
      );
      const r = await api.request<{ created: number }>('POST', `/api/areas/import?version=${encodeURIComponent(version)}`, csv, 'text/csv');
      created += r.created;
    }
  }
  return created;
}
