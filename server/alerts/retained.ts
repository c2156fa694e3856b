/**
 * Which alert holds the retained slot of each area control channel, pure.
 *
 * MQTT keeps one retained message per topic, and a site that connects while
 * an alert is valid must get it from that slot. When several valid alerts
 * share a channel, the newest (by issue time of its current revision, then
 * id) holds it: it is the one most likely to still matter, and a site that
 * connects late should hear the latest word. When it ends, the slot goes back
 * to the next one. The service compares two plans and publishes only the
 * difference: a new holder's alert_start, or an empty retained payload for a
 * slot nobody holds any more.
 */
export interface SlotCandidate {
  id: string;
  revision: number;
  revisedAt: number;
  channels: readonly string[];
}

/** channel → the alert (id and revision) that should be retained there. */
export type RetainedPlan = Map<string, { id: string; revision: number }>;

export function retainedPlan(active: readonly SlotCandidate[]): RetainedPlan {
  const plan: RetainedPlan = new Map();
  const when = new Map<string, SlotCandidate>();
  for (const a of active) {
    for (const ch of a.channels) {
      const cur = when.get(ch);
      if (!cur || a.revisedAt > cur.revisedAt || (a.revisedAt === cur.revisedAt && a.id > cur.id)) {
        when.set(ch, a);
        plan.set(ch, { id: a.id, revision: a.revision });
      }
    }
  }
  return plan;
}

export interface SlotChange {
  channel: string;
  /** The alert to retain now; null: clear the slot. */
  holder: { id: string; revision: number } | null;
}

/** What to publish to go from `before` to `after`. */
export function slotChanges(before: RetainedPlan, after: RetainedPlan): SlotChange[] {
  const out: SlotChange[] = [];
  for (const [ch, h] of after) {
    const b = before.get(ch);
    if (!b || b.id !== h.id || b.revision !== h.revision) out.push({ channel: ch, holder: h });
  }
  for (const ch of before.keys()) if (!after.has(ch)) out.push({ channel: ch, holder: null });
  return out.sort((a, b) => (a.channel < b.channel ? -1 : a.channel > b.channel ? 1 : 0));
}
