/**
 * Fault episodes from a site's condition history (pure): what exists now to
 * say "faults by kind and time to repair" while the alarms feature (issue 20)
 * is not wired into the server. When it is, its alarms replace this as the
 * source of FaultEpisode (model.ts), and this module goes.
 *
 * A fault is a span in which the fleet classified the site faulty or offline
 * (it could not be heard, or not be known to be heard): it begins at the
 * change into one of those, and is repaired at the first change back to
 * operational or degraded (audible again). Its kind is the first reason the
 * fleet gave at its start (a site reason code: line_open, amplifier_fault,
 * offline…). A change between faulty and offline within one span does not
 * start another fault: a station that lost its amplifier and then its link
 * was repaired once. Unverified (nothing known yet) neither starts nor ends one.
 */
import type { SiteCondition } from '../coverage/model.ts';
import type { FaultEpisode } from './model.ts';

/** A condition change as site_events holds it, with its reasons' codes, oldest first. */
export interface ConditionChange {
  at: number;
  condition: SiteCondition;
  reasons: readonly string[];
}

const DOWN: ReadonlySet<SiteCondition> = new Set(['faulty', 'offline']);
const UP: ReadonlySet<SiteCondition> = new Set(['operational', 'degraded']);

export function faultEpisodes(siteId: string, changes: readonly ConditionChange[]): FaultEpisode[] {
  const out: FaultEpisode[] = [];
  let open: FaultEpisode | null = null;
  for (const c of changes) {
    if (open === null && DOWN.has(c.condition)) {
      open = { siteId, kind: c.reasons[0] ?? c.condition, startedAt: c.at, endedAt: null };
      out.push(open);
    } else if (open !== null && UP.has(c.condition)) {
      open.endedAt = c.at;
      open = null;
    }
  }
  return out;
}
