/**
 * Which target areas of two live streams overlap. Pure: the service asks it
 * about the streams it runs and, on a shared store, about every server's.
 */
import { fail } from '../errors.ts';
import type { LiveArea } from './model.ts';

/** Drop areas that lie inside another target: a site under both would get every frame twice. */
export function outermost(areas: readonly LiveArea[]): LiveArea[] {
  const out: LiveArea[] = [];
  for (const a of areas) {
    if (out.some((b) => b.id === a.id)) continue;
    if (areas.some((b) => b.id !== a.id && a.path.includes(b.id))) continue;
    out.push(a);
  }
  return out;
}

/** The first of `areas` that is, contains or lies inside one of `other`'s: the sites both streams would reach. */
export function firstOverlap(areas: readonly LiveArea[], other: readonly LiveArea[]): LiveArea | undefined {
  const theirs = outermost(other);
  return areas.find((a) => theirs.some((b) => a.path.includes(b.id) || b.path.includes(a.id)));
}

/** A stream on air (or being started) as far as overlap goes. */
export interface StreamAreas {
  id: number | null;
  priority: string;
  areas: readonly LiveArea[];
  label: string;
}

/**
 * The first stream of `others` with `priority` whose areas overlap `areas`,
 * and where: two streams of one priority over one site would fight for it
 * (at equal priority the one on air keeps a site), so the second is refused.
 */
export function firstClash<S extends StreamAreas>(areas: readonly LiveArea[], priority: string, others: Iterable<S>): { other: S; area: LiveArea } | undefined {
  for (const other of others) {
    if (other.priority !== priority) continue;
    const area = firstOverlap(areas, other.areas);
    if (area) return { other, area };
  }
  return undefined;
}

/** LOANET_LIVE_BUSY (409): a stream of this priority is on air (or starting) over one of the areas. */
export function liveBusy(c: { other: StreamAreas; area: LiveArea }, priority: string) {
  return fail('LOANET_LIVE_BUSY', { id: String(c.other.id ?? ''), priority, areaKey: c.area.key, source: c.other.label });
}
