/**
 * Play-time skew between the sites of one stream. Pure. Each site reports
 * when it played the stream's marked messages (server clock, by its own
 * clock estimate); for each marked sequence number the spread is the latest
 * site's time minus the earliest's — what a listener between two clusters
 * hears as an echo. The summary is over the recent marks: p50, p99 and max of
 * those spreads. Only min, max and a count are kept per mark, so memory does
 * not grow with the number of sites.
 */

export interface SkewSummary {
  /** Marked messages with reports from at least two sites. */
  marks: number;
  /** Sites that reported at least one mark. */
  sites: number;
  p50Ms: number | null;
  p99Ms: number | null;
  maxMs: number | null;
}

interface Mark {
  min: number;
  max: number;
  count: number;
}

export class SkewTracker {
  private readonly marks = new Map<number, Mark>();
  private readonly siteIds = new Set<string>();

  /** `keep`: marks remembered (oldest forgotten first). */
  constructor(private readonly keep = 500) {}

  add(siteId: string, seq: number, playedAtMs: number): void {
    if (!Number.isFinite(playedAtMs)) return;
    this.siteIds.add(siteId);
    const m = this.marks.get(seq);
    if (m) {
      m.min = Math.min(m.min, playedAtMs);
      m.max = Math.max(m.max, playedAtMs);
      m.count++;
      return;
    }
    this.marks.set(seq, { min: playedAtMs, max: playedAtMs, count: 1 });
    if (this.marks.size > this.keep) this.marks.delete(this.marks.keys().next().value!);
  }

  summary(): SkewSummary {
    const spreads: number[] = [];
    for (const m of this.marks.values()) if (m.count >= 2) spreads.push(m.max - m.min);
    spreads.sort((a, b) => a - b);
    const q = (p: number) => (spreads.length ? round3(spreads[Math.min(spreads.length - 1, Math.ceil(p * spreads.length) - 1)]!) : null);
    return { marks: spreads.length, sites: this.siteIds.size, p50Ms: q(0.5), p99Ms: q(0.99), maxMs: spreads.length ? round3(spreads[spreads.length - 1]!) : null };
  }
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}
