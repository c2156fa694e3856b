/**
 * The agent's software update: the order on `sites/{siteId}/update`
 * (protocol/update.ts) → the release fetched and verified → installed in the
 * slot not committed → the switch, once nothing plays → on the new
 * version's start, the health check that commits it or rolls it back.
 * docs/updates.md, "Agent updates".
 *
 * The decisions that must survive a power cut live in files written
 * atomically before the step they allow: boot.json (which slot runs, the
 * trial and its start counter; boot-select.ts decides at each start) and
 * update.json (the report and the order being worked on, so the report
 * survives restarts and rollbacks). The downloaded bytes are their own
 * progress (download.ts resumes from them).
 *
 * The switch itself is a port: the packaged agent exits and systemd starts it
 * again (the launcher then runs the trial slot); an in-process fleet replaces
 * the site's agent object.
 */
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { verifyRelease, type ReleaseManifest, type TrustedKey } from '../../common/release.ts';
import type { Backoff } from '../../common/backoff.ts';
import {
  FINAL_UPDATE_STATES,
  PROTOCOL_VERSION,
  decodeUpdateOrder,
  type UpdateFailureReason,
  type UpdateOrder,
  type UpdateReport,
  type UpdateState,
  type UpdateStatusEvent,
} from '../../protocol/index.ts';
import type { AgentLogger } from '../agent-log.ts';
import type { FirmwarePort } from '../devices/firmware-update.ts';
import type { HttpGet } from '../http-get.ts';
import { readStateFile, writeJsonAtomic } from '../state-file.ts';
import { BOOT_FORMAT, inactiveSlot, type BootState, type SlotName, type TrialState, type UpdateSlot } from './boot-select.ts';
import { runFirmwareOrder } from './device-firmware.ts';
import { fetchSignedRelease, isDownloadSidecar, UpdateFailure, type DownloadBudget, type ReleaseFetcher, type SignedRelease } from './download.ts';
import { rangeGet } from './range-get.ts';
import { PARTIAL_MARK, inspectSlot, installedManifestSha, installSlot, partialDir, readBootState, slotDir, writeBootState } from './slots.ts';

export const UPDATE_FILE = 'update.json';
const DEFAULT_HEALTH_TIMEOUT_S = 300;
/** Up this long, a committed update is not crash-looping, connected or not. */
const STAYED_UP_MS = 120_000;

/** Restarting into what boot.json says: a process exit under systemd, or a new agent object in a fleet. */
export interface UpdatePort {
  restart(why: string): void | Promise<void>;
}

/** What the health check of a version on trial reads from the running agent. */
export interface HealthProbes {
  connected(): boolean;
  /** A heartbeat was published since this agent started. */
  heartbeatSent(): boolean;
  /** The server's site configuration was received since this agent started. */
  configReceived(): boolean;
  /** The village can be heard: a tone heard by the monitoring microphone, or without one a tone with every speaker line supervised ok. */
  soundCheck(): Promise<{ ok: boolean; detail: string }>;
}

export interface UpdaterOptions {
  siteId: string;
  stateDir: string | undefined;
  httpUrl: string | undefined;
  secret: string;
  /** The version running now. */
  version: string;
  /** The board's CPU architecture as releases name it (arm64, amd64, armhf). */
  arch: string | undefined;
  /** Which slot this program was started from (the launcher's LOANET_SLOT). */
  slot: SlotName;
  trustedKeys: readonly TrustedKey[];
  log: AgentLogger;
  now(): number;
  publishEvent(event: UpdateStatusEvent): void;
  requestHeartbeat(): void;
  probes: HealthProbes;
  /** Whether something plays now (an alert, a live stream, a bulletin): the switch waits for it to end. */
  isPlaying(): boolean;
  port: UpdatePort;
  /** The firmware update requests of a device behind the agent, by its id; undefined when there is no such device or it cannot be updated. */
  firmwareOf?: (deviceId: string) => Promise<FirmwarePort | undefined>;
  get?: HttpGet;
  backoff?: Backoff;
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  /** How often the switch and the health check look again (default 1 s). */
  pollMs?: number;
}

interface UpdateFileState {
  report: UpdateReport | null;
  order?: UpdateOrder;
  /** Bytes downloaded for `order` so far (what its budget counts), as of the last save. */
  downloaded?: number;
}

interface Work {
  order: UpdateOrder;
  abort: AbortController;
  cancelled: boolean;
  done: Promise<void>;
}

const isFinal = (s: UpdateState): boolean => FINAL_UPDATE_STATES.includes(s);

export function boardArch(): 'arm64' | 'amd64' | 'armhf' | undefined {
  return process.arch === 'arm64' ? 'arm64' : process.arch === 'x64' ? 'amd64' : process.arch === 'arm' ? 'armhf' : undefined;
}

export class Updater {
  private state: UpdateFileState = { report: null };
  private work: Work | undefined;
  private trial: TrialState | undefined;
  private saving: Promise<void> = Promise.resolve();
  private stopped = false;
  private readonly timers = new Set<NodeJS.Timeout>();
  /** Orders dropped: not valid, or another site's. */
  invalidOrders = 0;

  constructor(private readonly o: UpdaterOptions) {}

  private get file(): string | undefined {
    return this.o.stateDir ? join(this.o.stateDir, UPDATE_FILE) : undefined;
  }

  /** For the heartbeat's `telemetry.update`. */
  report(): UpdateReport | null {
    return this.state.report;
  }

  /** Whether this program runs on trial (its health check under way). */
  get onTrial(): boolean {
    return this.trial !== undefined;
  }

  /** Load the report; after a rollback or a crash loop, take the outcome the boot state recorded; on trial, begin the health check. */
  async start(): Promise<void> {
    const { stateDir } = this.o;
    if (!stateDir || !this.file) return;
    const read = await readStateFile(this.file, 'update state', (m) => this.o.log.warn(m));
    const v = read.value as UpdateFileState | undefined;
    if (v && typeof v === 'object' && (v.report === null || typeof v.report === 'object')) this.state = v;
    const boot = await readBootState(stateDir, (m) => this.o.log.warn(m));
    const r = this.state.report;
    const last = boot?.last;
    if (r && last && last.rolloutId === r.rolloutId && last.releaseId === r.releaseId && !isFinal(r.state)) {
      this.setReport({ state: last.state, ...(last.reason ? { reason: last.reason } : {}), ...(last.detail ? { detail: last.detail } : {}) }, last.at);
      this.o.log.warn(`update ${r.version} ${last.state === 'updated' ? 'was committed' : `was rolled back: ${last.reason ?? ''} ${last.detail ?? ''}`}`);
    }
    const t = boot?.trial;
    const c = boot?.committed;
    if (c && c.slot === this.o.slot && c.slot !== 'factory' && (c.starts ?? 0) > 0 && !(t && t.slot === this.o.slot)) void this.clearStartsOnceConnected();
    if (t && t.slot === this.o.slot) {
      this.trial = t;
      this.o.log.info(`running ${t.version} on trial (start ${t.tries}): its health check decides whether it stays`);
      if (!r || r.rolloutId !== t.rolloutId || r.state !== 'testing') {
        this.state.report = {
          rolloutId: t.rolloutId,
          component: 'agent',
          releaseId: t.releaseId,
          version: t.version,
          state: 'testing',
          fromVersion: t.fromVersion,
          since: this.o.now(),
        };
        this.save();
      }
      void this.healthCheck(t).catch((e: unknown) => {
        // The trial cannot record its verdict: the next start counts another try (boot-select), and gives up after 3.
        this.o.log.warn(`the health check of ${t.version} could not finish: ${(e as Error).message}`);
      });
    }
  }

  /**
   * A committed update that reached the server, or stayed up a while (a board whose link is down for
   * days is not crashing), works: its start count (boot-select COMMITTED_STARTS) begins again.
   */
  private async clearStartsOnceConnected(): Promise<void> {
    const signal = new AbortController().signal;
    const until = this.o.now() + STAYED_UP_MS;
    while (!this.stopped && !(this.o.probes.connected() && this.o.probes.heartbeatSent()) && this.o.now() < until) await this.pause(signal);
    if (this.stopped || !this.o.stateDir) return;
    const boot = await readBootState(this.o.stateDir, (m) => this.o.log.warn(m));
    if (this.stopped || !boot || boot.committed.slot !== this.o.slot || boot.trial) return;
    const { starts: _, ...committed } = boot.committed;
    await writeBootState(this.o.stateDir, { ...boot, committed }).catch((e: unknown) => this.o.log.warn(`cannot clear the start count in boot.json: ${(e as Error).message}`));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    const w = this.work;
    if (w) {
      w.abort.abort();
      await w.done;
    }
    await this.saving;
  }

  /** A payload on sites/{siteId}/update. */
  onOrder(payload: Buffer): void {
    if (payload.length === 0 || this.stopped) return; // the server cleared the order: the report stays as it is
    const decoded = decodeUpdateOrder.decode(payload);
    if (!decoded.ok || decoded.value.siteId !== this.o.siteId) {
      this.invalidOrders++;
      this.o.log.warn(`dropped an invalid update order (${payload.length} bytes): ${decoded.ok ? `for site ${decoded.value.siteId}` : decoded.error.reason.slice(0, 200)}`);
      return;
    }
    const order = decoded.value;
    const r = this.state.report;
    const same = (x: { rolloutId: string; releaseId: string } | undefined | null) => !!x && x.rolloutId === order.rolloutId && x.releaseId === order.releaseId;
    if (order.action === 'cancel') {
      if (this.work && this.work.order.rolloutId === order.rolloutId) {
        this.work.cancelled = true;
        this.work.abort.abort();
      } else if (r && r.rolloutId === order.rolloutId && !isFinal(r.state) && r.state !== 'testing') {
        // Found after a restart, before the switch: nothing runs for it, keep nothing of it.
        void this.discardInactive().then(() => this.change('cancelled'));
      }
      return;
    }
    if (this.trial) return; // a version on trial finishes its check before anything else is installed
    if (this.work) {
      if (same(this.work.order)) return;
      // Another release replaces the one being fetched: that one ends cancelled.
      this.work.cancelled = true;
      this.work.abort.abort();
      const previous = this.work.done;
      void previous.then(() => this.begin(order));
      return;
    }
    if (same(r) && r && isFinal(r.state)) return; // done with it: the server clears the order
    this.begin(order);
  }

  private begin(order: UpdateOrder): void {
    if (this.stopped) return;
    const abort = new AbortController();
    const work: Work = { order, abort, cancelled: false, done: Promise.resolve() };
    this.work = work;
    work.done = this.run(work).finally(() => {
      if (this.work === work) this.work = undefined;
    });
  }

  private async run(w: Work): Promise<void> {
    const { order } = w;
    const r = this.state.report;
    const resumed = r && r.rolloutId === order.rolloutId && r.releaseId === order.releaseId && !isFinal(r.state);
    const fromVersion = resumed && r.fromVersion ? r.fromVersion : this.o.version;
    const carried = resumed && this.state.order && this.state.order.releaseId === order.releaseId ? (this.state.downloaded ?? 0) : 0;
    this.state.order = order;
    this.state.downloaded = carried;
    this.state.report = {
      rolloutId: order.rolloutId,
      component: order.component,
      releaseId: order.releaseId,
      version: order.version,
      state: 'queued',
      fromVersion,
      since: this.o.now(),
    };
    this.changed();
    const budget = { limit: order.budgetBytes, used: carried };
    let slot: UpdateSlot | undefined;
    try {
      const { stateDir, httpUrl } = this.o;
      if (!stateDir) throw new UpdateFailure('install_failed', 'the agent has no state folder to install into');
      if (!httpUrl) throw new UpdateFailure('download_failed', 'the agent has no server.httpUrl to fetch the release from');
      if (order.component === 'device-firmware') {
        await runFirmwareOrder({
          order,
          budget,
          stateDir,
          signal: w.abort.signal,
          trustedKeys: this.o.trustedKeys,
          firmwareOf: this.o.firmwareOf,
          fetchSigned: () => this.fetchSigned(w, budget, httpUrl),
          untilIdle: (fields) => this.untilIdle(w, fields),
          sleep: (ms) => this.pause(new AbortController().signal, ms),
          change: (state, fields) => this.change(state, fields),
          patch: (fields) => this.patch(fields),
          requestHeartbeat: () => this.o.requestHeartbeat(),
        });
        return;
      }
      this.change('downloading', { downloaded: budget.used });
      // The release is checked whole before a byte of it is written.
      const { fetcher, manifestBytes, signatures } = await this.fetchSigned(w, budget, httpUrl);
      const verdict = verifyRelease(manifestBytes, signatures, this.o.trustedKeys, { component: 'agent', version: fromVersion, ...(this.o.arch ? { arch: this.o.arch } : {}) });
      if (!verdict.ok) throw new UpdateFailure(verdict.code, verdict.reason);
      const m = verdict.manifest;
      if (m.version !== order.version) throw new UpdateFailure('manifest_mismatch', `the manifest is of ${m.version}, the order of ${order.version}`);
      if (!m.files.some((f) => f.path === 'main.mjs')) throw new UpdateFailure('malformed', 'the release has no main.mjs to run');
      const total = m.files.reduce((n, f) => n + f.size, 0);
      const boot = await readBootState(stateDir, (x) => this.o.log.warn(x));
      slot = inactiveSlot(boot);
      const target = slotDir(stateDir, slot);
      const there = await inspectSlot(target);
      if (there.ok && there.version === m.version && (await installedManifestSha(target)) === order.manifestSha256) {
        this.o.log.info(`${m.version} is already installed in slot ${slot}`);
      } else {
        const partial = partialDir(stateDir, slot);
        if ((await installedManifestSha(partial)) === order.manifestSha256 && (await inspectSlot(partial)).ok) {
          // The power went during the install (release.json written, the download's notes gone, the folder not
          // renamed): every file is whole and checked. Fetching them again would pay for the release twice.
          this.o.log.info(`the install of ${m.version} into slot ${slot} was cut short: finishing it`);
        } else {
          await this.fetchInto(fetcher, w, stateDir, slot, m, order.manifestSha256, total, budget);
          this.change('downloaded', { bytes: total, total, downloaded: budget.used });
          await this.testHold('downloaded');
          this.change('verified');
          await this.testHold('verified');
        }
        this.change('installing');
        await installSlot(
          stateDir,
          slot,
          { format: 1, version: m.version, releaseId: order.releaseId, manifest: manifestBytes.toString('base64'), signatures },
          { isScratch: isDownloadSidecar, beforeRename: () => this.testHold('installing') },
        );
      }
      if (w.abort.signal.aborted) throw new UpdateFailure('download_failed', 'cancelled');
      await this.untilIdle(w);
      const now = this.o.now();
      const current = await readBootState(stateDir, (x) => this.o.log.warn(x));
      const next: BootState = {
        format: BOOT_FORMAT,
        committed: current?.committed ?? { slot: 'factory', version: this.o.version },
        trial: { slot, version: m.version, rolloutId: order.rolloutId, releaseId: order.releaseId, fromVersion, tries: 0, since: now },
      };
      this.change('testing', { bytes: total, total, downloaded: budget.used });
      await this.saving;
      if (this.stopped) return; // the agent stops: the switch is made at the next start, from the same order
      await writeBootState(stateDir, next);
      await this.testHold('switching');
      this.o.log.info(`switching to ${m.version} in slot ${slot} on trial`);
      // Not awaited: the restart stops the agent, which waits for this work to end.
      this.restartSoon(`switch to ${m.version}`);
    } catch (e) {
      if (w.cancelled) {
        await this.discardInactive().catch(() => {});
        this.change('cancelled', { downloaded: budget.used });
        return;
      }
      if (this.stopped) return; // the agent stops; the order is resumed at the next start
      const f = failureOf(e);
      this.o.log.warn(`update ${order.version} failed: ${f.reason}: ${f.message}`);
      // Nothing of a release that failed its checks stays; a cut or a spent budget keeps its bytes for a later order of the same release.
      if (slot && this.o.stateDir && ['hash_mismatch', 'install_failed', 'disk_full'].includes(f.reason)) {
        await rm(partialDir(this.o.stateDir, slot), { recursive: true, force: true }).catch(() => {});
      }
      this.change('failed', { reason: f.reason, detail: f.message.slice(0, 300), downloaded: budget.used });
    }
  }

  /** The order's manifest and signatures, with the order's budget and the work's signal (download.ts). */
  private fetchSigned(w: Work, budget: DownloadBudget, httpUrl: string): Promise<SignedRelease> {
    return fetchSignedRelease(w.order, {
      httpUrl,
      siteId: this.o.siteId,
      secret: this.o.secret,
      get: this.o.get ?? rangeGet,
      budget,
      signal: w.abort.signal,
      ...(this.o.backoff ? { backoff: this.o.backoff } : {}),
      ...(this.o.sleep ? { sleep: this.o.sleep } : {}),
    });
  }

  /** The switch (or the flashing) waits until nothing plays: what is on air plays to its end. */
  private async untilIdle(w: Work, fields: Partial<UpdateReport> = {}): Promise<void> {
    if (!this.o.isPlaying()) return;
    this.change('waiting_idle', fields);
    while (this.o.isPlaying()) {
      await this.pause(w.abort.signal);
      if (w.abort.signal.aborted) throw new UpdateFailure('download_failed', 'cancelled');
    }
  }

  private async fetchInto(
    fetcher: ReleaseFetcher,
    w: Work,
    stateDir: string,
    slot: UpdateSlot,
    m: ReleaseManifest,
    sha: string,
    total: number,
    budget: { used: number },
  ): Promise<void> {
    const partial = partialDir(stateDir, slot);
    // Bytes of another release in the partial slot are of no use: start it again.
    const mark = await readFile(join(partial, PARTIAL_MARK), 'utf8').catch(() => '');
    if (mark !== sha) {
      await rm(partial, { recursive: true, force: true });
      await mkdir(partial, { recursive: true });
      await writeFile(join(partial, PARTIAL_MARK), sha);
    }
    let done = 0;
    let lastSave = this.o.now();
    for (const f of m.files) {
      if (w.abort.signal.aborted) throw new UpdateFailure('download_failed', 'cancelled');
      const onBytes = (_: string, onDisk: number) => {
        this.patch({ bytes: done + onDisk, total, downloaded: budget.used });
        if (this.o.now() - lastSave > 5000) {
          lastSave = this.o.now();
          this.state.downloaded = budget.used;
          this.save();
        }
      };
      fetcher.onBytes = onBytes;
      await fetcher.downloadFile(f, join(partial, f.path));
      done += f.size;
      this.state.downloaded = budget.used;
      this.patch({ bytes: done, total, downloaded: budget.used });
      this.save();
    }
  }

  /** The trial version's health check: commit, or roll back to the committed version. */
  private async healthCheck(t: TrialState): Promise<void> {
    const p = this.o.probes;
    const timeoutS = this.state.order?.releaseId === t.releaseId ? this.state.order.healthTimeoutS : DEFAULT_HEALTH_TIMEOUT_S;
    const deadline = this.o.now() + timeoutS * 1000;
    const signal = new AbortController().signal;
    let verdict: { ok: true } | { ok: false; reason: UpdateFailureReason; detail: string } | undefined;
    // A release whose program is another version than its manifest says would be committed under a false name.
    if (this.o.version !== t.version)
      verdict = { ok: false, reason: 'install_failed', detail: `the release's program reports version ${this.o.version}; its manifest says ${t.version}` };
    while (!verdict && !this.stopped) {
      if (this.o.now() > deadline) {
        verdict = !p.connected()
          ? { ok: false, reason: 'not_connected', detail: `not connected to the server within ${timeoutS} s` }
          : !p.heartbeatSent()
            ? { ok: false, reason: 'no_heartbeat', detail: `no heartbeat sent within ${timeoutS} s` }
            : !p.configReceived()
              ? { ok: false, reason: 'no_config', detail: `no site configuration received within ${timeoutS} s` }
              : { ok: false, reason: 'health_timeout', detail: `the sound check could not run within ${timeoutS} s (something played all along)` };
        break;
      }
      if (p.connected() && p.heartbeatSent() && p.configReceived() && !this.o.isPlaying()) {
        let sc: { ok: boolean; detail: string };
        try {
          sc = await p.soundCheck();
        } catch (e) {
          sc = { ok: false, detail: `the sound check failed: ${(e as Error).message}` };
        }
        verdict = sc.ok ? { ok: true } : { ok: false, reason: 'sound_check_failed', detail: sc.detail };
        break;
      }
      await this.pause(signal);
    }
    if (!verdict || this.stopped) return;
    const stateDir = this.o.stateDir!;
    const boot = await readBootState(stateDir, (x) => this.o.log.warn(x));
    const committed = boot?.committed ?? { slot: 'factory' as const, version: t.fromVersion };
    if (this.stopped) return; // stopped meanwhile: the next start runs the check again
    const at = this.o.now();
    const base = { rolloutId: t.rolloutId, releaseId: t.releaseId, version: t.version, fromVersion: t.fromVersion, at };
    if (verdict.ok) {
      await writeBootState(stateDir, { format: BOOT_FORMAT, committed: { slot: t.slot, version: t.version }, last: { ...base, state: 'updated' } });
      await this.testHold('committed');
      this.trial = undefined;
      this.change('updated');
      this.o.log.info(`${t.version} passed its health check: committed`);
      return;
    }
    this.o.log.warn(`${t.version} failed its health check (${verdict.reason}: ${verdict.detail}): back to ${committed.version}`);
    await writeBootState(stateDir, { format: BOOT_FORMAT, committed, last: { ...base, state: 'rolled_back', reason: verdict.reason, detail: verdict.detail } });
    this.change('rolled_back', { reason: verdict.reason, detail: verdict.detail.slice(0, 300) });
    await this.saving;
    this.restartSoon(`roll back to ${committed.version}`);
  }

  /**
   * TEST HOOK, and the one place LOANET_TEST_UPDATE_HOLD is read: set to one of these steps, the update
   * stops there for good and says so, so that a test (tests/integration/agent-update-powercut.test.ts) can
   * cut the power (kill -9) at a step too short to hit from outside. Nothing sets it on a board (the unit,
   * packaging/loanet-agent.service, does not); unset, it costs one comparison per step.
   */
  private testHold(step: 'downloaded' | 'verified' | 'installing' | 'switching' | 'committed'): Promise<void> {
    if (process.env.LOANET_TEST_UPDATE_HOLD !== step) return Promise.resolve();
    this.o.log.warn(`test hook LOANET_TEST_UPDATE_HOLD: holding the update at ${step} until the process is killed`);
    return new Promise<void>(() => {});
  }

  private restartSoon(why: string): void {
    const go = (): void => {
      // Checked in the same turn as the restart, so nothing can start in between: what went on air since the
      // last check (an alert that came while the boot state was being written) plays to its end on this version.
      if (this.o.isPlaying()) {
        setTimeout(go, this.o.pollMs ?? 1000).unref();
        return;
      }
      void Promise.resolve(this.o.port.restart(why)).catch((e: unknown) => this.o.log.warn(`cannot restart (${why}): ${(e as Error).message}`));
    };
    setImmediate(go);
  }

  private pause(signal: AbortSignal, ms = this.o.pollMs ?? 1000): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.timers.delete(t);
        signal.removeEventListener('abort', done);
        resolve();
      }, ms);
      t.unref();
      this.timers.add(t);
      const done = () => {
        clearTimeout(t);
        this.timers.delete(t);
        resolve();
      };
      signal.addEventListener('abort', done, { once: true });
    });
  }

  /** Throw away what was fetched or installed for an order that will not run: the partial and the inactive slot. */
  private async discardInactive(): Promise<void> {
    const { stateDir } = this.o;
    if (!stateDir) return;
    const boot = await readBootState(stateDir, () => {});
    for (const s of ['a', 'b'] as const) {
      if (boot?.committed.slot === s || boot?.trial?.slot === s) continue;
      await rm(partialDir(stateDir, s), { recursive: true, force: true });
      await rm(slotDir(stateDir, s), { recursive: true, force: true });
    }
  }

  private patch(fields: Partial<UpdateReport>): void {
    const r = this.state.report;
    if (r) this.state.report = { ...r, ...fields };
  }

  private setReport(fields: Partial<UpdateReport>, since: number): void {
    const r = this.state.report;
    if (!r) return;
    const { reason: _r, detail: _d, ...rest } = r;
    this.state.report = { ...rest, ...fields, since };
    this.changed();
  }

  /** A new state: kept, sent at once as an event, and in the next heartbeats. */
  private change(state: UpdateState, fields: Partial<UpdateReport> = {}): void {
    this.setReport({ ...fields, state }, this.o.now());
  }

  private changed(): void {
    const r = this.state.report;
    this.save();
    if (!r) return;
    this.o.publishEvent({ v: PROTOCOL_VERSION, siteId: this.o.siteId, at: this.o.now(), type: 'update_status', update: r });
    this.o.requestHeartbeat();
  }

  private save(): void {
    const file = this.file;
    if (!file) return;
    const snapshot = structuredClone(this.state);
    this.saving = this.saving
      .then(() => writeJsonAtomic(file, snapshot, { mode: 0o600 }))
      .catch((e: unknown) => this.o.log.warn(`cannot keep the update state in ${file}: ${(e as Error).message}`));
  }
}

function failureOf(e: unknown): UpdateFailure {
  if (e instanceof UpdateFailure) return e;
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOSPC' || code === 'EDQUOT') return new UpdateFailure('disk_full', `the disk is full: ${(e as Error).message}`);
  return new UpdateFailure('install_failed', (e as Error).message ?? String(e));
}
