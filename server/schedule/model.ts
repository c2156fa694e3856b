/**
 * Broadcast items (what plays, where, when, at which priority) and the
 * per-site occurrences they expand to. Pure types and small helpers; the
 * functions in resolve.ts, conflicts.ts and playlist.ts turn items into
 * per-site playlists. Times are epoch ms; wall times (DTSTART, EXDATE) are in
 * Asia/Ho_Chi_Minh unless an item names another zone.
 */

/**
 * Priority classes of Circular 39/2020/TT-BTTTT on grassroots radio: ordinary
 * programming, priority announcements, and emergency (disaster, epidemic,
 * security) broadcasts. Higher plays at a site; see conflicts.ts.
 */
export type Priority = 'normal' | 'priority' | 'emergency';
export const PRIORITIES: readonly Priority[] = ['normal', 'priority', 'emergency'];
export const PRIORITY_RANK: Readonly<Record<Priority, number>> = { normal: 0, priority: 1, emergency: 2 };

export type ItemStatus = 'draft' | 'approved' | 'cancelled';

/** A one-off start, or an RFC 5545 recurrence (see recurrence.ts). */
export type ItemStart =
  | { at: number }
  | {
      /** Local wall time of the first occurrence, e.g. "2026-11-27T06:00". */
      dtstart: string;
      /** e.g. "FREQ=DAILY;BYHOUR=6,17;BYMINUTE=0" */
      rrule: string;
      /** Local wall times of excluded occurrences. */
      exdates?: string[];
      /** IANA zone of the wall times; Asia/Ho_Chi_Minh when absent. */
      zone?: string;
    };

export interface BroadcastTargets {
  /** Area keys (`{version}.{code}`); each covers every site in its subtree. */
  areaKeys: string[];
  siteIds: string[];
}

/** One language version of a bulletin: its media, in that language, with its duration copied when scheduled. */
export interface ItemVersion {
  /** BCP 47, as the media library stores it (server/media/languages.ts). */
  language: string;
  mediaId: string;
  durationMs: number;
}

export interface BroadcastItem {
  id: string;
  /** The default version: what a site hears when none of its languages has a version (language-plan.ts). */
  mediaId: string;
  /** The media's duration, copied when the item is scheduled. */
  durationMs: number;
  /** The default version's language (its media's); set when the item has other versions. */
  language?: string;
  /** The bulletin in other languages, one per language, none in the default's. */
  versions?: ItemVersion[];
  title: string;
  targets: BroadcastTargets;
  start: ItemStart;
  priority: Priority;
  /** No occurrence starts before this instant. */
  validFrom?: number;
  /** No occurrence starts at or after this instant, nor (when queued) ends after it. */
  validUntil?: number;
  status: ItemStatus;
  /**
   * The operator accepts that this item waits behind an overlapping item of
   * the same (or a higher) priority at a site instead of being refused
   * (same priority) or skipped (higher priority). See conflicts.ts.
   */
  queue?: boolean;
  createdBy: string;
  approvedBy?: string;
}

/** One play of one item at one site, as scheduled (before arbitration). */
export interface Occurrence {
  itemId: string;
  siteId: string;
  startAt: number;
  endAt: number;
  priority: Priority;
}

/** A site as the schedule sees it. */
export interface ScheduleSite {
  siteId: string;
  areaId: number;
  retired?: boolean;
  /** Its agent plays entries with parts (protocol PLAYLIST_PARTS_FEATURE): it may hear several language versions. */
  canPlayParts?: boolean;
}

/** [from, to) in epoch ms. */
export interface Horizon {
  from: number;
  to: number;
}

/** The default distribution horizon: 48 h, so a site cut off for up to two days still plays what was planned. */
export const DEFAULT_HORIZON_MS = 48 * 3600 * 1000;

/**
 * Stable id of an occurrence: the item and its *scheduled* start (a queued
 * occurrence keeps its id when it is shifted), e.g. `bt-17@1795647600000`.
 */
export function occurrenceId(itemId: string, scheduledAt: number): string {
  return `${itemId}@${scheduledAt}`;
}
