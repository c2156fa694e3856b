/**
 * A rollout's decisions: which sites are in which wave, which may start
 * installing now, when a wave is done, and when the rollout must stop.
 * Pure: the sites' states and the clock in, the next actions out; the
 * service (to come) stores the rollout, tells the agents and records every
 * transition in the audit log.
 *
 * How the fleet-update systems people trust do it, and what this takes:
 * - hawkBit: groups in order, each started when the previous reached its
 *   success threshold, stopped when its errors pass the error threshold;
 * - AWS IoT Jobs: abort criteria only after a minimum number of devices
 *   finished, so the first failure of a wave cannot stop a fleet;
 * - Memfault: a canary of a few named devices, then growing percentages.
 * And for this network: a site never starts installing while it plays (an
 * alert, a live stream or a bulletin), nor shortly before a broadcast it is
 * scheduled to play, nor inside the hours the rollout excludes (Vietnam
 * time); an emergency alert during an update is the agent's to pre-empt.
 */
import { createHash } from 'node:crypto';

export interface WaveSpec {
  name: string;
  /** Named sites (a canary): exactly these, if targeted. */
  sites?: readonly string[];
  /** Else: the rollout reaches this share of its targets in all once this wave is in (0 < percent ≤ 100). */
  percent?: number;
}

export interface RolloutSpec {
  /** Seeds the order in which sites fall into percentage waves: reproducible, not alphabetical. */
  id: string;
  waves: readonly WaveSpec[];
  /** Share (0..1) of a wave's sites updated before the next wave starts. */
  successThreshold: number;
  /** Share (0..1) of a wave's finished sites that failed, above which the rollout stops... */
  errorThreshold: number;
  /** ... once at least this many of the wave's sites finished. */
  minFinished: number;
  onError: 'pause' | 'abort';
  /** At most this many sites installing at once (their downloads share a province's links). */
  maxInFlight: number;
  /** Local times (Asia/Ho_Chi_Minh, "HH:MM") when no site starts: e.g. the morning broadcast. */
  excludedHours?: ReadonlyArray<{ from: string; to: string }>;
  /** No start this close before a site's next scheduled broadcast, ms. */
  broadcastMarginMs: number;
}

export type SiteRolloutState = 'waiting' | 'installing' | 'updated' | 'failed';

/** What the service knows of a targeted site now. */
export interface SiteNow {
  siteId: string;
  state: SiteRolloutState;
  online: boolean;
  /** Playing something now (an alert, a live stream, a bulletin). */
  playing: boolean;
  /** Its next scheduled broadcast, epoch ms, or null. */
  nextBroadcastAt: number | null;
}

export type RolloutStatus = 'running' | 'paused' | 'aborted' | 'completed';

/**
 * Why a rollout's status last changed, as a code with the numbers and names
 * that go with it: the console words each (Vietnamese and English, its number
 * formats), the audit log keeps them, so no English sentence leaves the
 * server. The rollout's own decisions: `error_threshold` (a wave's failures
 * over the threshold stopped it), `success_threshold` (a wave reached it, the
 * next starts), `completed`. A person's: `paused_by`, `resumed_by`,
 * `aborted_by`, with the person's own words kept as they typed them (`text`).
 * The codes are api/rollouts.ts ROLLOUT_REASON_CODES.
 */
export type RolloutReason =
  | { code: 'error_threshold'; params: { wave: string; failed: number; finished: number; thresholdPct: number } }
  | { code: 'success_threshold'; params: { wave: string; next: string } }
  | { code: 'completed'; params: Record<string, never> }
  | { code: 'paused_by' | 'resumed_by' | 'aborted_by'; params: { by: string | null; text: string | null } };

/** A share (0..1) as a percentage with at most one decimal (0.07 × 100 is 7.000000000000001). */
const pct = (share: number) => Math.round(share * 1000) / 10;

export interface RolloutProgress {
  status: RolloutStatus;
  /** Index of the wave running (or stopped in). */
  wave: number;
  /**
   * Failures of a wave a person accepted by resuming it after it stopped: the
   * error threshold then counts only the sites that finished since, so a
   * resume is not undone by the failures that caused the stop.
   */
  acknowledged?: { wave: number; failed: number; finished: number };
}

export interface RolloutStep {
  status: RolloutStatus;
  wave: number;
  /** Sites to tell to start now. */
  start: string[];
  /** Why the status changed, when it did: a code and its params (the console words it). */
  reason?: RolloutReason;
  /** Per wave: its size and counts. */
  waves: Array<{ name: string; size: number; waiting: number; installing: number; updated: number; failed: number }>;
  /** Sites waiting in the running wave that may not start now, and why. */
  held: Array<{ siteId: string; why: 'offline' | 'playing' | 'broadcast_soon' | 'excluded_hours' | 'in_flight_limit' }>;
}

/** Stable pseudo-random order of sites for a rollout (SHA-256 of id + site). */
function order(rolloutId: string, sites: readonly string[]): string[] {
  const key = (s: string) => createHash('sha256').update(`${rolloutId}\0${s}`).digest('hex');
  return [...sites]
    .map((s) => [key(s), s] as const)
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
    .map(([, s]) => s);
}

/** Why a spec cannot run, or null. */
export function rolloutSpecProblem(spec: RolloutSpec): string | null {
  if (spec.waves.length === 0) return 'waves: at least one';
  let last = 0;
  for (const [i, w] of spec.waves.entries()) {
    if ((w.sites === undefined) === (w.percent === undefined)) return `waves.${i}: either sites or percent`;
    if (w.percent !== undefined) {
      if (!(w.percent > 0 && w.percent <= 100)) return `waves.${i}.percent: more than 0, at most 100`;
      if (w.percent < last) return `waves.${i}.percent: the shares grow wave by wave (${w.percent} after ${last})`;
      last = w.percent;
    }
  }
  for (const [k, v] of [
    ['successThreshold', spec.successThreshold],
    ['errorThreshold', spec.errorThreshold],
  ] as const) {
    if (!(v >= 0 && v <= 1)) return `${k}: a share from 0 to 1`;
  }
  if (!Number.isInteger(spec.minFinished) || spec.minFinished < 1) return 'minFinished: a whole number, at least 1';
  if (!Number.isInteger(spec.maxInFlight) || spec.maxInFlight < 1) return 'maxInFlight: a whole number, at least 1';
  for (const [i, h] of (spec.excludedHours ?? []).entries()) {
    if (minuteOfDay(h.from) === null || minuteOfDay(h.to) === null) return `excludedHours.${i}: HH:MM to HH:MM`;
  }
  return null;
}

/**
 * The waves' members: named sites first (those targeted), then each
 * percentage wave adds sites in the rollout's order until the share is
 * reached. Every target is in exactly one wave, or in none when the last
 * wave's share is under 100.
 */
export function planWaves(spec: RolloutSpec, targets: readonly string[]): string[][] {
  const targeted = new Set(targets);
  const taken = new Set<string>();
  const rest = order(spec.id, targets);
  const waves: string[][] = [];
  for (const w of spec.waves) {
    if (w.sites) {
      const members = w.sites.filter((s) => targeted.has(s) && !taken.has(s));
      members.forEach((s) => taken.add(s));
      waves.push(members);
      continue;
    }
    const upTo = Math.ceil((targets.length * w.percent!) / 100);
    const members: string[] = [];
    for (const s of rest) {
      if (taken.size >= upTo) break;
      if (taken.has(s)) continue;
      taken.add(s);
      members.push(s);
    }
    waves.push(members);
  }
  return waves;
}

/** "HH:MM" → minutes after midnight, or null. */
function minuteOfDay(hhmm: string): number | null {
  const m = /^([01]\d|2[0-3]):([0-5]\d)$/.exec(hhmm);
  return m ? Number(m[1]) * 60 + Number(m[2]) : null;
}

/** Vietnam has kept UTC+7 without daylight saving since 1975. */
const VN_OFFSET_MS = 7 * 3600_000;

function inExcludedHours(now: number, hours: RolloutSpec['excludedHours']): boolean {
  const minute = Math.floor(((now + VN_OFFSET_MS) % 86_400_000) / 60_000);
  return (hours ?? []).some((h) => {
    const from = minuteOfDay(h.from)!;
    const to = minuteOfDay(h.to)!;
    return from <= to ? minute >= from && minute < to : minute >= from || minute < to;
  });
}

/**
 * The next step of a running rollout: stop it if its wave's errors passed
 * the threshold, move to the next wave when this one reached its success
 * threshold, and choose which waiting sites start now. A paused or aborted
 * rollout starts nothing (resuming is the caller's: status back to running).
 */
export function stepRollout(spec: RolloutSpec, waves: readonly (readonly string[])[], progress: RolloutProgress, sites: ReadonlyMap<string, SiteNow>, now: number): RolloutStep {
  const count = (members: readonly string[]) => {
    const c = { waiting: 0, installing: 0, updated: 0, failed: 0 };
    for (const s of members) c[sites.get(s)?.state ?? 'waiting']++;
    return c;
  };
  const summary = waves.map((m, i) => ({ name: spec.waves[i]?.name ?? `wave ${i + 1}`, size: m.length, ...count(m) }));
  const out = (status: RolloutStatus, wave: number, start: string[] = [], held: RolloutStep['held'] = [], reason?: RolloutReason): RolloutStep => ({
    status,
    wave,
    start,
    waves: summary,
    held,
    ...(reason ? { reason } : {}),
  });
  if (progress.status !== 'running') return out(progress.status, progress.wave);

  let wave = progress.wave;
  let reason: RolloutReason | undefined;
  const completed: RolloutReason = { code: 'completed', params: {} };
  for (;;) {
    const c = summary[wave];
    if (!c) return out('completed', waves.length - 1, [], [], completed);
    const ack = progress.acknowledged?.wave === wave ? progress.acknowledged : { failed: 0, finished: 0 };
    const finished = c.updated + c.failed - ack.finished;
    const failed = c.failed - ack.failed;
    if (finished >= spec.minFinished && failed / finished > spec.errorThreshold) {
      const why: RolloutReason = { code: 'error_threshold', params: { wave: c.name, failed, finished, thresholdPct: pct(spec.errorThreshold) } };
      return out(spec.onError === 'abort' ? 'aborted' : 'paused', wave, [], [], why);
    }
    // An empty wave (its named sites not targeted) is passed; a wave is done at its success threshold.
    if (c.size === 0 || c.updated / c.size >= spec.successThreshold) {
      if (wave + 1 >= waves.length) {
        // The last wave: done when nothing is left installing or waiting that could still succeed.
        if (c.installing === 0 && c.waiting === 0) return out('completed', wave, [], [], completed);
        break;
      }
      reason = { code: 'success_threshold', params: { wave: c.name, next: summary[wave + 1]!.name } };
      wave++;
      continue;
    }
    break;
  }

  // In flight across the rollout (an earlier wave's stragglers count against the limit too).
  let inFlight = summary.reduce((n, c) => n + c.installing, 0);
  const excluded = inExcludedHours(now, spec.excludedHours);
  const start: string[] = [];
  const held: RolloutStep['held'] = [];
  for (let w = 0; w <= wave; w++) {
    for (const id of waves[w]!) {
      const s = sites.get(id);
      if (s && s.state !== 'waiting') continue;
      let why: RolloutStep['held'][number]['why'] | null = null;
      if (!s?.online) why = 'offline';
      else if (s.playing) why = 'playing';
      else if (s.nextBroadcastAt !== null && s.nextBroadcastAt - now < spec.broadcastMarginMs && s.nextBroadcastAt >= now) why = 'broadcast_soon';
      else if (excluded) why = 'excluded_hours';
      else if (inFlight >= spec.maxInFlight) why = 'in_flight_limit';
      if (why) held.push({ siteId: id, why });
      else {
        start.push(id);
        inFlight++;
      }
    }
  }
  return out('running', wave, start, held, reason);
}

// ------------------------------------------------------------ targets ----

/** Why a targeted site is left out of a rollout (a dry run lists them; being offline is only noted). */
export type ExclusionReason = 'retired' | 'already_on_version' | 'in_other_rollout' | 'wrong_profile' | 'no_matching_device';

/** What the release asks of a site. */
export interface ReleaseTarget {
  component: 'agent' | 'device-firmware';
  version: string;
  /** Only sites of these device profiles, when given. */
  profiles?: readonly string[];
  /** Device firmware: the hardware id of the devices it is built for (what a device says in `hardware`). */
  hardware?: string;
}

/** What the server knows of a targeted site. */
export interface TargetFacts {
  siteId: string;
  retired: boolean;
  profile: string | null;
  /** The agent version of its latest heartbeat; null when never heard. */
  agentVersion: string | null;
  /**
   * Its devices: from its latest heartbeat (with their firmware and the hardware id each says), else the
   * ones the registry expects (firmware null, hardware unknown).
   */
  devices: ReadonlyArray<{ id: string; kind: string; hardware?: string | null; firmware: string | null }>;
  /** Another rollout still running or paused that holds this site, or null. */
  otherRollout: string | null;
}

export type Eligibility = { included: true; fromVersion: string | null; devices?: string[] } | { included: false; why: ExclusionReason; detail: string };

/**
 * Whether a targeted site takes part, and with which devices. The checks the
 * board makes again (signature, downgrade, minimum version) are the board's:
 * the server only leaves out what it knows cannot or need not be done.
 */
export function eligibility(release: ReleaseTarget, site: TargetFacts): Eligibility {
  const out = (why: ExclusionReason, detail: string): Eligibility => ({ included: false, why, detail });
  if (site.retired) return out('retired', 'the site is retired');
  if (site.otherRollout) return out('in_other_rollout', `rollout ${site.otherRollout} still holds this site`);
  if (release.profiles && release.profiles.length > 0 && (site.profile === null || !release.profiles.includes(site.profile))) {
    return out('wrong_profile', `profile ${site.profile ?? 'none'}; the release is for ${release.profiles.join(', ')}`);
  }
  if (release.component === 'agent') {
    if (site.agentVersion === release.version) return out('already_on_version', `its agent reports ${release.version} already`);
    return { included: true, fromVersion: site.agentVersion };
  }
  const mine = site.devices.filter((d) => hardwareOf(d) === release.hardware);
  if (mine.length === 0) return out('no_matching_device', `no device of hardware ${release.hardware ?? '(none named)'} here`);
  const behind = mine.filter((d) => d.firmware !== release.version);
  if (behind.length === 0) return out('already_on_version', `every ${release.hardware} device reports ${release.version} already`);
  // At most 32 devices per order (protocol/update.ts); a site has a handful.
  return { included: true, fromVersion: behind[0]!.firmware, devices: behind.slice(0, 32).map((d) => d.id) };
}

/**
 * The hardware id a device firmware release is matched on: the one the device says (device protocol
 * `hello`, reported in the heartbeat), as MCUboot or ThingsBoard match an image on the board id. A
 * device that says none (firmware or an agent older than it, or one known only from the registry) falls
 * back to its `kind`, which is what releases were matched on before devices said their hardware.
 */
export function hardwareOf(device: { kind: string; hardware?: string | null }): string {
  return device.hardware ?? device.kind;
}

// ------------------------------------------------------------ reports ----

/** A targeted site as the rollout keeps it. */
export interface SiteRecord {
  state: SiteRolloutState;
  reason: string | null;
}

/** Report states after which the site does nothing more for the order. */
const FINAL_REPORTS = new Set(['updated', 'failed', 'rolled_back', 'cancelled']);

/**
 * Where a site's report moves it: `updated` → updated; `failed`, `rolled_back`
 * → failed with its reason; `cancelled` → waiting again while the rollout
 * runs (it may be started later), else failed with reason `cancelled`;
 * progress keeps an installing site installing, and revives one the server
 * had given up on for silence (`no_report`; its `cancelled`, the answer to
 * the cancel it was sent, keeps it failed). `final`: the site is done with
 * its order (the service clears it). Null: nothing changes.
 */
export function siteAfterReport(
  current: SiteRecord,
  report: { state: string; reason?: string | undefined },
  rolloutStatus: RolloutStatus,
): (SiteRecord & { final: boolean }) | null {
  const silentFailed = current.state === 'failed' && current.reason === 'no_report';
  if (report.state === 'updated') return current.state === 'updated' ? null : { state: 'updated', reason: null, final: true };
  if (current.state !== 'installing' && !silentFailed) return null;
  if (!FINAL_REPORTS.has(report.state)) return silentFailed ? { state: 'installing', reason: null, final: false } : null;
  // The board obeyed the cancel sent when it went silent: it stays failed for its silence, its order can go.
  if (report.state === 'cancelled' && silentFailed) return { state: 'failed', reason: current.reason, final: true };
  if (report.state === 'cancelled') return rolloutStatus === 'running' ? { state: 'waiting', reason: null, final: true } : { state: 'failed', reason: 'cancelled', final: true };
  return { state: 'failed', reason: report.reason ?? report.state, final: true };
}

/**
 * An installing site whose report has not moved (state or bytes) for
 * `noReportMs` is failed with the server's own reason `no_report`: a board
 * that hangs without saying so must not hold a wave forever. A board that
 * says, heartbeat after heartbeat, that its switch waits for what it plays
 * (`waiting_idle`) is not silent: a live stream or an alert may last longer
 * than `noReportMs`, and failing the site then would cancel a release it has
 * already installed. It counts from when it was last heard so; a board that
 * goes quiet while waiting is failed as any other.
 */
export function silentTooLong(
  site: { state: SiteRolloutState; changedAt: number | null; startedAt: number | null; reportState?: string | null; heardAt?: number | null },
  now: number,
  noReportMs: number,
): boolean {
  if (site.state !== 'installing') return false;
  const moved = site.changedAt ?? site.startedAt;
  const since = site.reportState === 'waiting_idle' && site.heardAt != null ? Math.max(site.heardAt, moved ?? 0) : moved;
  return since !== null && now - since >= noReportMs;
}
