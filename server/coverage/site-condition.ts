/**
 * One site's verdict from what the server knows about it: pure, no I/O, no
 * clock of its own (`now` is passed in), so the same observation always gives
 * the same verdict and tests can pin every boundary.
 *
 * The rules, in the order they are applied:
 *
 *  1. Never heard (`firstSeenAt === null`) → `unverified` with no reasons.
 *     `Reason.severity` has no informational level, and an unheard site is not
 *     a failure of something that worked: it is a site nobody has proven yet.
 *     Callers list unverified sites apart (see CoverageReport.unverifiedSites).
 *
 *  2. Offline → `offline` with exactly one reason (code 'offline') and nothing
 *     else. Two ways to be offline:
 *       - `connected === false` (clean shutdown or the broker's last will);
 *         "since" is `disconnectedAt ?? lastSeenAt`; params.cause 'disconnected';
 *       - silent: `now − lastSeenAt > missedHeartbeats × interval × 1000`
 *         (strictly greater: a message arriving exactly on the deadline still
 *         counts), where interval = the site's reported interval, else the one
 *         in its last telemetry, else `policy.defaultIntervalS`. A TCP
 *         connection can hang for many minutes without the broker noticing, so
 *         the retained "online" state alone proves nothing; "since" is
 *         `lastSeenAt`; params.cause 'silent'.
 *     Offline wins over everything: the last telemetry of an offline site is
 *     stale, and listing its old faults would tell operators about a past that
 *     may already be repaired. The message shows "HH:MM" when the time is today
 *     in `policy.timeZone` (relative to `now`), else "dd/MM HH:mm".
 *
 *  3. Faulty (the site is online but cannot, or provably does not, make sound):
 *       - the agent says it has no audio output (telemetry canPlay false, a
 *         heartbeat-only simulation) ('cannot_play'); an agent that omits the
 *         field predates it and plays;
 *       - amplifier fault overheat / overload / no_response ('amplifier_fault');
 *       - every speaker line is open or short ('no_working_line', plus one
 *         'line_open' / 'line_short' reason per line, each severity 'faulty');
 *         lines reporting 'unknown' are neither working nor failed, so a mix of
 *         failed and unknown lines is degraded, not faulty;
 *       - on battery (source 'battery' or mains lost), or solar, below
 *         `criticalBatteryPct` ('battery_critical': about to go dark);
 *       - a device the site cannot play without is unreachable
 *         ('device_unreachable'): kinds amplifier/amp/player/decoder/receiver/
 *         controller/board/codec/main (see CRITICAL_DEVICE_KINDS; the agent's
 *         sim driver reports 'controller', its board driver 'board'); other
 *         devices (monitoring mic, sensors, …) unreachable → degraded;
 *       - the last sound check heard nothing ('sound_check_failed'), unless a
 *         later successful verification exists. Healthy-looking telemetry with a
 *         failed check means the speakers are silent: that is a fault.
 *
 *  4. Degraded (it plays, but something needs attention):
 *       - some, not all, speaker lines open / short ('line_open' / 'line_short');
 *       - on battery with mains lost, at or above critical ('on_battery');
 *       - signal weaker than `weakSignalDbm` ('weak_signal');
 *       - the registry expects a monitoring mic but the agent reports none
 *         ('monitor_mic_unavailable');
 *       - a site with a monitoring mic (telemetry.monitorMic, or, without
 *         telemetry, obs.expectsMonitorMic) whose last verified sound is null or
 *         older than `soundMaxAgeMs` ('sound_not_verified'); not added when a
 *         failed sound check is already listed (that says more);
 *       - amplifier at or above AMPLIFIER_HOT_C without a fault yet
 *         ('amplifier_hot'). An amplifier that is merely switched off is not a
 *         reason: agents switch amplifiers on for broadcasts only.
 *       - the board does not hold the server's newest site configuration
 *         (telemetry.config revision and hash), from `expectedConfig.dueAt`
 *         on ('config_stale'): it may listen to another area's channels than
 *         its own. An agent that omits telemetry.config predates delivered
 *         configurations and holds none. Degraded, not faulty: such a board
 *         still plays its playlist, and the area it listens to may be right.
 *
 *  5. Condition = worst severity among the reasons, else `operational`.
 *     Reasons are returned worst first (stable within a severity). Stations
 *     follow exactly the same rules as clusters.
 *
 * Every reason is a stable code (api/coverage.ts SITE_REASON_CODES) with its
 * raw values in `params` (times as epoch ms): the console words it in the
 * user's language from those. The English `message` is for API clients and
 * logs only.
 */
import type { TelemetryMessage } from '../../protocol/index.ts';
import type { CoveragePolicy, Reason, ReasonCode, SiteObservation, SiteVerdict, SoundCheckRecord } from './model.ts';
import { zoneOffsetMs } from '../time/zone.ts';

/** Amplifier temperature (°C) from which an amplifier without a fault yet is reported as running hot. */
export const AMPLIFIER_HOT_C = 75;

/** Device kinds without which a site cannot play: unreachable → faulty. Matched case-insensitively as a word prefix. */
export const CRITICAL_DEVICE_KINDS: readonly string[] = ['amplifier', 'amp', 'player', 'decoder', 'receiver', 'controller', 'board', 'codec', 'main'];

// ------------------------------------------------------------ time text ----

interface LocalTime {
  /** yyyy-MM-dd, for same-day comparisons. */
  day: string;
  /** dd/MM */
  dm: string;
  /** HH:mm */
  hm: string;
  hour: number;
}

const pad2 = (n: number) => (n < 10 ? `0${n}` : String(n));

/** Wall-clock parts of `epochMs` in `timeZone` (minute resolution). */
export function localTime(epochMs: number, timeZone: string): LocalTime {
  const d = new Date(epochMs + zoneOffsetMs(epochMs, timeZone));
  const mo = pad2(d.getUTCMonth() + 1);
  const day = pad2(d.getUTCDate());
  const hour = d.getUTCHours();
  return { day: `${d.getUTCFullYear()}-${mo}-${day}`, dm: `${day}/${mo}`, hm: `${pad2(hour)}:${pad2(d.getUTCMinutes())}`, hour };
}

/** "HH:mm" when `epochMs` falls on the same calendar day as `now` in `timeZone`, else "dd/MM HH:mm". */
export function formatSince(epochMs: number, now: number, timeZone: string): string {
  const t = localTime(epochMs, timeZone);
  return t.day === localTime(now, timeZone).day ? t.hm : `${t.dm} ${t.hm}`;
}

/** Always "dd/MM HH:mm". */
export function formatDateTime(epochMs: number, timeZone: string): string {
  const t = localTime(epochMs, timeZone);
  return `${t.dm} ${t.hm}`;
}

// ------------------------------------------------------------- liveness ----

/** The heartbeat interval (s) the silence rule uses for this site. */
export function effectiveIntervalS(obs: SiteObservation, policy: CoveragePolicy): number {
  return obs.intervalS ?? obs.telemetry?.intervalS ?? policy.defaultIntervalS;
}

export interface OfflineState {
  since: number | null;
  cause: 'disconnected' | 'silent';
}

/**
 * Whether a heard site is offline now, and since when (rule 2). Returns null
 * when the site is online or was never heard (that is rule 1, not offline).
 */
export function offlineState(obs: SiteObservation, now: number, policy: CoveragePolicy): OfflineState | null {
  if (obs.firstSeenAt === null) return null;
  const lastSeen = obs.lastSeenAt ?? obs.firstSeenAt;
  if (!obs.connected) return { since: obs.disconnectedAt ?? lastSeen, cause: 'disconnected' };
  const deadlineMs = policy.missedHeartbeats * effectiveIntervalS(obs, policy) * 1000;
  if (now - lastSeen > deadlineMs) return { since: lastSeen, cause: 'silent' };
  return null;
}

/** Online = heard at least once, connected, and not silent past the deadline. */
export function isOnline(obs: SiteObservation, now: number, policy: CoveragePolicy): boolean {
  return obs.firstSeenAt !== null && offlineState(obs, now, policy) === null;
}

/** The newest sound check the server knows of (its own record, or the one in the last telemetry). */
export function latestSoundCheck(obs: SiteObservation): SoundCheckRecord | null {
  // obs.lastSoundCheck is on the server's clock (the fleet state converts the
  // agent's report); the telemetry copy is on the agent's clock and is only a
  // fallback for an observation that never had the server's.
  return obs.lastSoundCheck ?? obs.telemetry?.lastSoundCheck ?? null;
}

/** Whether the site has a monitoring mic that can verify sound: the agent's word if it reported, else the registry's. */
export function hasMonitorMic(obs: SiteObservation): boolean {
  return obs.telemetry ? obs.telemetry.monitorMic : obs.expectsMonitorMic;
}

// -------------------------------------------------------------- reasons ----

const AMP_FAULT_EN: Record<string, string> = {
  overheat: 'overheat',
  overload: 'overload',
  no_response: 'no response',
};

function reason(code: ReasonCode, severity: Reason['severity'], params: Reason['params'], message: string): Reason {
  return { code, params, message, severity };
}

function lineReason(id: number, status: 'open' | 'short', severity: 'degraded' | 'faulty'): Reason {
  return status === 'open'
    ? reason('line_open', severity, { line: id, status }, `speaker line ${id} open`)
    : reason('line_short', severity, { line: id, status }, `speaker line ${id} short`);
}

function isCriticalDevice(kind: string): boolean {
  const k = kind.toLowerCase();
  return CRITICAL_DEVICE_KINDS.some((c) => k === c || k.startsWith(`${c}_`) || k.startsWith(`${c}-`) || k.startsWith(`${c}.`));
}

function telemetryReasons(t: TelemetryMessage, policy: CoveragePolicy, out: Reason[]): void {
  // An agent without an audio output hears alerts nobody will hear: never an operational target.
  if (t.canPlay === false) {
    out.push(reason('cannot_play', 'faulty', {}, 'cannot play: the agent has no audio output'));
  }

  // Amplifier.
  const amp = t.amplifier;
  if (amp && amp.fault !== 'none') {
    out.push(reason('amplifier_fault', 'faulty', { fault: amp.fault, temperatureC: amp.temperatureC }, `amplifier fault: ${AMP_FAULT_EN[amp.fault] ?? amp.fault}`));
  } else if (amp && amp.temperatureC !== null && amp.temperatureC >= AMPLIFIER_HOT_C) {
    const c = Math.round(amp.temperatureC);
    out.push(reason('amplifier_hot', 'degraded', { temperatureC: amp.temperatureC }, `amplifier hot ${c}°C`));
  }

  // Speaker lines.
  if (t.lines.length > 0) {
    const failed = t.lines.filter((l) => l.status === 'open' || l.status === 'short');
    if (failed.length === t.lines.length) {
      const open = failed.filter((l) => l.status === 'open').length;
      out.push(
        reason('no_working_line', 'faulty', { lines: t.lines.length, open, short: failed.length - open }, `no speaker line works (${t.lines.length} of ${t.lines.length} failed)`),
      );
      for (const l of failed) out.push(lineReason(l.id, l.status as 'open' | 'short', 'faulty'));
    } else {
      for (const l of failed) out.push(lineReason(l.id, l.status as 'open' | 'short', 'degraded'));
    }
  }

  // Power.
  const p = t.power;
  const onBattery = p.source === 'battery' || p.mainsOk === false;
  const pct = p.batteryPct;
  if ((onBattery || p.source === 'solar') && pct !== null && pct < policy.criticalBatteryPct) {
    const r = Math.round(pct);
    out.push(reason('battery_critical', 'faulty', { batteryPct: pct, source: p.source }, `battery critical ${r}%`));
  } else if (onBattery) {
    const r = pct === null ? null : Math.round(pct);
    out.push(reason('on_battery', 'degraded', { batteryPct: pct, source: p.source }, r === null ? 'on battery' : `on battery ${r}%`));
  }

  // Signal.
  const dbm = t.link.signalDbm;
  if (dbm !== null && dbm < policy.weakSignalDbm) {
    out.push(reason('weak_signal', 'degraded', { signalDbm: dbm, link: t.link.type }, `weak signal ${dbm} dBm`));
  }

  // Devices.
  for (const d of t.devices) {
    if (d.reachable) continue;
    const severity = isCriticalDevice(d.kind) ? 'faulty' : 'degraded';
    out.push(reason('device_unreachable', severity, { device: d.id, kind: d.kind, error: d.error ?? null }, `device ${d.id} (${d.kind}) not responding`));
  }
}

function soundReasons(obs: SiteObservation, now: number, policy: CoveragePolicy, out: Reason[]): void {
  const tz = policy.timeZone;
  const verified = obs.lastSoundVerifiedAt;
  const check = latestSoundCheck(obs);
  let failedListed = false;
  if (check && !check.ok && (verified === null || verified < check.at)) {
    const when = formatSince(check.at, now, tz);
    out.push(reason('sound_check_failed', 'faulty', { at: check.at, levelDb: check.levelDb }, `sound check heard nothing at ${when}`));
    failedListed = true;
  }

  if (obs.expectsMonitorMic && obs.telemetry && !obs.telemetry.monitorMic) {
    out.push(reason('monitor_mic_unavailable', 'degraded', {}, 'monitoring microphone not available'));
  }

  if (!failedListed && hasMonitorMic(obs)) {
    if (verified === null) {
      out.push(reason('sound_not_verified', 'degraded', { since: null }, 'sound never verified'));
    } else if (now - verified > policy.soundMaxAgeMs) {
      const when = formatDateTime(verified, tz);
      out.push(reason('sound_not_verified', 'degraded', { since: verified }, `sound not verified since ${when}`));
    }
  }
}

/** The board holds an older (or no) configuration than the server delivers, past the grace period. */
export function configReasons(obs: SiteObservation, now: number, out: Reason[]): void {
  const want = obs.expectedConfig;
  if (!want || now < want.dueAt) return;
  const held = obs.telemetry?.config ?? null;
  if (held && held.revision === want.revision && held.hash === want.hash) return;
  const applied = held?.revision ?? null;
  out.push(
    reason(
      'config_stale',
      'degraded',
      { applied, expected: want.revision },
      applied === null ? `configuration revision ${want.revision} not applied (none held)` : `configuration revision ${want.revision} not applied (holds ${applied})`,
    ),
  );
}

const SEVERITY_RANK: Record<Reason['severity'], number> = { degraded: 1, faulty: 2, offline: 3 };

/** Classify one site (see the rules at the top of this file). Pure. */
export function classifySite(obs: SiteObservation, now: number, policy: CoveragePolicy): SiteVerdict {
  // Rule 1: never heard.
  if (obs.firstSeenAt === null) return { siteId: obs.siteId, condition: 'unverified', reasons: [] };

  // Rule 2: offline wins over everything.
  const off = offlineState(obs, now, policy);
  if (off) {
    const since = off.since;
    const when = since === null ? null : formatSince(since, now, policy.timeZone);
    return {
      siteId: obs.siteId,
      condition: 'offline',
      reasons: [reason('offline', 'offline', { since, cause: off.cause }, when === null ? 'offline' : `offline since ${when}`)],
    };
  }

  // Rules 3 and 4.
  const reasons: Reason[] = [];
  if (obs.telemetry) telemetryReasons(obs.telemetry, policy, reasons);
  soundReasons(obs, now, policy, reasons);
  configReasons(obs, now, reasons);

  if (reasons.length === 0) return { siteId: obs.siteId, condition: 'operational', reasons };

  // Rule 5: worst first, stable within a severity.
  let worst: Reason['severity'] = 'degraded';
  for (const r of reasons) if (SEVERITY_RANK[r.severity] > SEVERITY_RANK[worst]) worst = r.severity;
  if (worst !== 'degraded') {
    const sorted = reasons
      .map((r, i) => ({ r, i }))
      .sort((a, b) => SEVERITY_RANK[b.r.severity] - SEVERITY_RANK[a.r.severity] || a.i - b.i)
      .map((x) => x.r);
    return { siteId: obs.siteId, condition: worst, reasons: sorted };
  }
  return { siteId: obs.siteId, condition: worst, reasons };
}

/**
 * Whether time alone may have made `condition` — the verdict last recorded
 * for `obs`, whose observation has not changed since — out of date at `now`.
 * Time only makes verdicts worse, in three ways: silence past the deadline
 * (→ offline), a verified sound growing older than `soundMaxAgeMs`, and a
 * delivered configuration falling due (→ degraded, which only matters to an
 * operational site). False means classifySite would give `condition` again,
 * so a caller keeping conditions up to date need only reclassify the sites
 * this says true for. Cheap: no allocation, no formatting.
 */
export function mayHaveWorsened(obs: SiteObservation, condition: SiteVerdict['condition'], now: number, policy: CoveragePolicy): boolean {
  if (condition === 'offline' || condition === 'unverified') return false;
  if (obs.firstSeenAt === null || !obs.connected) return true;
  const lastSeen = obs.lastSeenAt ?? obs.firstSeenAt;
  if (now - lastSeen > policy.missedHeartbeats * effectiveIntervalS(obs, policy) * 1000) return true;
  if (condition !== 'operational') return false;
  if (hasMonitorMic(obs)) {
    const verified = obs.lastSoundVerifiedAt;
    if (verified === null || now - verified > policy.soundMaxAgeMs) return true;
  }
  const want = obs.expectedConfig;
  if (want && now >= want.dueAt) {
    const held = obs.telemetry?.config ?? null;
    if (!held || held.revision !== want.revision || held.hash !== want.hash) return true;
  }
  return false;
}
