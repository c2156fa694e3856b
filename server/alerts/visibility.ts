/**
 * Who may see which alerts, and which alert audio: an alert is visible to a
 * user whose area its targets intersect (server/auth/scope-policy.ts). Used by
 * the alert routes, the console's live stream and the media library (audio
 * made for another commune's alert carries that alert's words).
 */
import type { ServerContext } from '../context.ts';
import type { Principal } from '../auth/users.ts';
import { alertVisible, siteVisible } from '../auth/scope-policy.ts';
import type { MediaPurpose } from '../media/library.ts';
import type { Alert } from './model.ts';

type ReaderDeps = Pick<ServerContext, 'coverage' | 'sites'>;
type AlertMediaDeps = ReaderDeps & Pick<ServerContext, 'alerts' | 'media'>;

/**
 * What a reader may see of alerts (server/auth/scope-policy.ts): an alert
 * whose targets intersect its area, and of its delivery only its own sites
 * (`site` undefined: every site). An alert outside is not found (404), never
 * refused by name.
 */
export function alertReader(ctx: ReaderDeps, p: Principal): { sees: (a: Alert) => boolean; site: ((siteId: string) => boolean) | undefined } {
  const scope = p.user.areaId;
  const idx = ctx.coverage.areaIndex();
  const areaOfSite = (id: string) => ctx.sites.entry(id)?.areaId;
  return {
    sees: (a: Alert) =>
      alertVisible(scope, { areaIds: a.areas.flatMap((k) => idx.get(k)?.id ?? []), siteAreaIds: a.sites ? a.sites.flatMap((id) => areaOfSite(id) ?? []) : null }, idx),
    site: scope === null ? undefined : (id: string) => siteVisible(scope, areaOfSite(id), idx),
  };
}

/** Audio made for an alert (an item or a job still making it): a bulletin an alert chose from the library stays visible as a bulletin. */
const isAlertItem = (x: { purpose: MediaPurpose } | undefined): boolean => x?.purpose === 'alert';

/**
 * Library items made for alerts (purpose `alert`) that `p` may not see,
 * because every alert using them lies outside its area: their titles and
 * transcripts are the alerts' words. Empty for a network-wide user.
 */
export async function hiddenAlertMedia(ctx: AlertMediaDeps, p: Principal): Promise<Set<string>> {
  if (p.user.areaId === null) return new Set();
  const reader = alertReader(ctx, p);
  const alerts = await ctx.alerts.service.list({ limit: 5000 });
  const seen = new Set(alerts.filter(reader.sees).flatMap((a) => (a.media ? [a.media.mediaId] : [])));
  const hidden = new Set<string>();
  for (const a of alerts) {
    const id = a.media?.mediaId;
    if (id && !seen.has(id) && !reader.sees(a) && isAlertItem(await ctx.media.library.get(id))) hidden.add(id);
  }
  return hidden;
}
