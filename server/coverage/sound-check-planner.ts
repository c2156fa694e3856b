/**
 * Which sites get a scheduled sound check now. Pure: the caller sends the
 * `sound_check` commands and passes the ids still awaiting an answer.
 *
 * A site is due when all of these hold:
 *  - it has a monitoring microphone (the agent's telemetry says so; before any
 *    telemetry, the registry's `expectsMonitorMic`), station or cluster alike;
 *  - it is online: heard at least once, connected, and not silent past
 *    `missedHeartbeats × interval` (the same rule as classifySite); a command
 *    to an offline site would only expire;
 *  - no check for it is pending (`pending`);
 *  - its last attempt is at least `intervalMs` old, or it never had one. The
 *    last attempt is the newest of the last verified sound and the last sound
 *    check, failed or not: a failed check is not retried every run, or a
 *    broken cluster would play a test tone every few minutes at its village.
 *    (It stays faulty until a check succeeds; operators can check on demand.)
 *
 * Due sites are returned oldest attempt first (never-checked first, then by
 * siteId for a stable order), at most `maxPerRun`, so a province's checks are
 * spread over many runs instead of all sounding at once.
 *
 * Quiet hours: none by default, because a tone at any hour is the most
 * reliable way to learn that speakers work. Operators may set, e.g.,
 * { startHour: 21, endHour: 6 } so that no village is woken by a test tone at
 * night. The window is [startHour, endHour) in `timeZone` and may wrap
 * midnight; startHour === endHour means no quiet hours. During quiet hours
 * the plan is empty.
 */
import { DEFAULT_COVERAGE_POLICY, type CoveragePolicy, type SiteObservation } from './model.ts';
import { hasMonitorMic, isOnline, latestSoundCheck, localTime } from './site-condition.ts';

export interface QuietHours {
  /** 0–23, local hour at which quiet starts (inclusive). */
  startHour: number;
  /** 0–23, local hour at which quiet ends (exclusive). */
  endHour: number;
  /** IANA zone the hours are in, e.g. 'Asia/Ho_Chi_Minh'. */
  timeZone: string;
}

export interface SoundCheckPlanOptions {
  /** Minimum time between two scheduled checks of one site. */
  intervalMs: number;
  /** At most this many sites per run. */
  maxPerRun: number;
  quietHours?: QuietHours;
  /** Sites with a sound check already sent and not yet answered. */
  pending: ReadonlySet<string>;
  /** For the liveness rule (missed heartbeats, default interval); DEFAULT_COVERAGE_POLICY if omitted. */
  policy?: CoveragePolicy;
}

/** Whether `now` falls in the quiet hours. */
export function inQuietHours(now: number, q: QuietHours | undefined): boolean {
  if (!q || q.startHour === q.endHour) return false;
  const h = localTime(now, q.timeZone).hour;
  return q.startHour < q.endHour ? h >= q.startHour && h < q.endHour : h >= q.startHour || h < q.endHour;
}

/** The last sound-check attempt known for a site (verified or not), or null. */
export function lastSoundAttempt(site: SiteObservation): number | null {
  const check = latestSoundCheck(site);
  const v = site.lastSoundVerifiedAt;
  if (check === null) return v;
  if (v === null) return check.at;
  return Math.max(v, check.at);
}

export function planSoundChecks(sites: readonly SiteObservation[], now: number, opts: SoundCheckPlanOptions): string[] {
  if (opts.maxPerRun <= 0 || inQuietHours(now, opts.quietHours)) return [];
  const policy = opts.policy ?? DEFAULT_COVERAGE_POLICY;
  const due: Array<{ siteId: string; last: number }> = [];
  for (const s of sites) {
    if (opts.pending.has(s.siteId)) continue;
    if (!hasMonitorMic(s)) continue;
    if (!isOnline(s, now, policy)) continue;
    const last = lastSoundAttempt(s);
    if (last !== null && now - last < opts.intervalMs) continue;
    due.push({ siteId: s.siteId, last: last ?? Number.NEGATIVE_INFINITY });
  }
  due.sort((a, b) => (a.last === b.last ? (a.siteId < b.siteId ? -1 : a.siteId > b.siteId ? 1 : 0) : a.last < b.last ? -1 : 1));
  return due.slice(0, opts.maxPerRun).map((d) => d.siteId);
}
