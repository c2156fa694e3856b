/**
 * The sites a live stream was for that never reported on it, and why (as far
 * as the server can tell). Pure. A stream's record lists what each reporting
 * site played; an official also needs the villages that were targeted and
 * said nothing — offline, never connected, or online yet silent, which
 * usually means the agent is not listening on that area's channel (its
 * applied site configuration is stale: see config_stale) or predates live streams.
 */
import type { SilentReasonCode } from '../../api/live.ts';
import type { Reason, SiteCondition, SiteVerdict } from '../coverage/model.ts';

export interface TargetedSite {
  siteId: string;
  name: string;
  areaName: string | null;
}

/** Why a targeted site said nothing: a code (api/live.ts SILENT_REASON_CODES, or a site condition's) the console words from its params; `message` is English for API clients. */
export interface SilentReason {
  code: SilentReasonCode | Reason['code'];
  params: Reason['params'];
  message: string;
}

export interface SilentSite extends TargetedSite {
  /** The site's condition now (for a past stream: now, not then). */
  conditionNow: SiteCondition | null;
  reasons: SilentReason[];
}

export function silentSites(
  targeted: readonly TargetedSite[],
  reported: ReadonlySet<string>,
  verdictOf: (siteId: string) => SiteVerdict | undefined,
  limit: number,
): { total: number; sites: SilentSite[] } {
  const silent = targeted.filter((s) => !reported.has(s.siteId));
  const sites = silent.slice(0, limit).map((s): SilentSite => {
    const v = verdictOf(s.siteId);
    const reasons: SilentReason[] = [];
    if (!v) reasons.push({ code: 'site_unknown', params: {}, message: 'no longer registered' });
    else if (v.condition === 'unverified') reasons.push({ code: 'never_connected', params: {}, message: 'never connected to the server' });
    else if (v.condition === 'offline' || v.reasons.length > 0) for (const r of v.reasons) reasons.push({ code: r.code, params: r.params, message: r.message });
    if (v && v.condition !== 'offline' && v.condition !== 'unverified') {
      reasons.push({
        code: 'online_no_report',
        params: {},
        message: 'online but sent no report on this stream: has the board applied its latest site configuration (its area channels)?',
      });
    }
    return { ...s, conditionNow: v?.condition ?? null, reasons };
  });
  return { total: silent.length, sites };
}
