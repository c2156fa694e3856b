/**
 * The sites a live stream was for that never reported on it, and why (as far
 * as the server can tell). Pure. A stream's record lists what each reporting
 * site played; an official also needs the villages that were targeted and
 * said nothing — offline, never connected, or online yet silent, which
 * usually means the agent is not listening on that area's channel (its
 * applied site configuration is stale: see config_stale) or predates live streams.
 */
import type { SiteCondition, SiteVerdict } from '../coverage/model.ts';

export interface TargetedSite {
  siteId: string;
  name: string;
  areaName: string | null;
}

export interface SilentSite extends TargetedSite {
  /** The site's condition now (for a past stream: now, not then). */
  conditionNow: SiteCondition | null;
  /** Why, in English and Vietnamese. */
  reasons: Array<{ code: string; message: string; messageVi: string }>;
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
    const reasons: SilentSite['reasons'] = [];
    if (!v) reasons.push({ code: 'site_unknown', message: 'no longer registered', messageVi: 'không còn trong danh sách điểm' });
    else if (v.condition === 'unverified') reasons.push({ code: 'never_connected', message: 'never connected to the server', messageVi: 'chưa từng kết nối với máy chủ' });
    else if (v.condition === 'offline' || v.reasons.length > 0) for (const r of v.reasons) reasons.push({ code: r.code, message: r.message, messageVi: r.messageVi });
    if (v && v.condition !== 'offline' && v.condition !== 'unverified') {
      reasons.push({
        code: 'online_no_report',
        message: 'online but sent no report on this stream: has the board applied its latest site configuration (its area channels)?',
        messageVi: 'đang trực tuyến nhưng không báo cáo buổi phát này: trạm đã áp dụng cấu hình mới nhất (các kênh khu vực) chưa?',
      });
    }
    return { ...s, conditionNow: v?.condition ?? null, reasons };
  });
  return { total: silent.length, sites };
}
