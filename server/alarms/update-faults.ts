/**
 * From the updates service's finished attempts to the `update_failed` faults
 * the alarm engine takes as external faults. Pure: attempts in, each site's
 * faults out.
 *
 * A site has the fault while its latest finished attempt of a component
 * (the agent, the device firmware) failed: it runs the previous release,
 * rolled back or never installed. A later attempt of that component that
 * succeeded ends it; one of the other component does not (the agent updated
 * says nothing of the amplifier's firmware). An attempt the server
 * cancelled (its rollout aborted) is no attempt of the site: the one before
 * stands.
 */
import type { FinishedUpdate } from '../updates/store.ts';
import type { ExternalFault } from './model.ts';

/** What the alarms read of the updates store (server/updates/store.ts RolloutStore). */
export interface UpdateAttempts {
  /** The sites with an attempt finished at or after `since`. */
  finishedSince(since: number): Promise<string[]>;
  finishedOf(siteIds: readonly string[]): Promise<FinishedUpdate[]>;
}

/** Each site's update faults (sites whose latest attempts all succeeded: an empty list; sites without attempts: absent). */
export function updateFaults(attempts: readonly FinishedUpdate[]): Map<string, ExternalFault[]> {
  const latest = new Map<string, Map<string, FinishedUpdate>>();
  for (const a of attempts) {
    if (a.state === 'failed' && a.reason === 'cancelled') continue;
    let bySite = latest.get(a.siteId);
    if (!bySite) latest.set(a.siteId, (bySite = new Map()));
    const component = a.component ?? '';
    const was = bySite.get(component);
    if (!was || a.finishedAt > was.finishedAt || (a.finishedAt === was.finishedAt && a.rolloutId > was.rolloutId)) bySite.set(component, a);
  }
  const out = new Map<string, ExternalFault[]>();
  for (const [siteId, bySite] of latest) {
    const faults: ExternalFault[] = [];
    for (const component of [...bySite.keys()].sort()) {
      const a = bySite.get(component)!;
      if (a.state === 'failed')
        faults.push({ kind: 'update_failed', params: { rolloutId: a.rolloutId, component: a.component, release: a.version, reason: a.reason ?? 'failed', at: a.finishedAt } });
    }
    out.set(siteId, faults);
  }
  return out;
}

/** The faults of the sites with an attempt finished at or after `since` (none without a source). */
export async function readUpdateFaults(source: UpdateAttempts | undefined, since: number): Promise<Map<string, ExternalFault[]>> {
  const ids = source ? await source.finishedSince(since) : [];
  return ids.length === 0 ? new Map() : updateFaults(await source!.finishedOf(ids));
}

/** Two fault lists' identity (what the engine would compare): the service feeds a site again only when it changed. */
export function faultsIdentity(faults: readonly ExternalFault[]): string {
  return faults.map((f) => `${f.kind}|${f.params.rolloutId}|${f.params.component}|${f.params.release}|${f.params.reason}`).join(';');
}
