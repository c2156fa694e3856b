/**
 * The schedule's pure core, for its shell (service.ts, items-store.ts,
 * distribution.ts: routes, tables and MQTT): broadcast items → per-site occurrences → priority
 * arbitration → per-site desired playlists with a content version.
 * No I/O here; the clock and every input are passed in.
 */
export { PRIORITIES, PRIORITY_RANK, DEFAULT_HORIZON_MS, occurrenceId } from './model.ts';
export type { BroadcastItem, BroadcastTargets, Horizon, ItemStart, ItemStatus, Occurrence, Priority, ScheduleSite } from './model.ts';
export { DEFAULT_MAX_OCCURRENCES, RecurrenceError, SCHEDULE_ZONE, dateTimeToEpoch, expandRecurrence, parseRRule, validateRecurrence } from './recurrence.ts';
export type { Expansion, RRule, RecurrenceSpec } from './recurrence.ts';
export { SiteDirectory, isLive, itemStarts, resolveItem, resolveOccurrences, targetSites } from './resolve.ts';
export type { ResolveProblem, ResolvedItem } from './resolve.ts';
export { arbitrate, arbitrateSite, checkNewItem, firstOverlap, placesOf } from './conflicts.ts';
export type { CheckResult, ConflictEntry, ItemLookup, PlannedOccurrence, SitePlaces, SitePlan, SkipReason, SkippedOccurrence } from './conflicts.ts';
export { computePlaylists, defaultHorizon, diffPlaylists, makePlaylist, mediaNeeded, playlistForSite, playlistVersion } from './playlist.ts';
export type { MediaLookup, PlaylistDiff, PlaylistEntry, PlaylistProblem, ScheduleComputation, SitePlaylist } from './playlist.ts';
export { formatShort, wallTimeAt, wallTimeToEpoch, zoneOffsetMs } from '../time/zone.ts';
export type { WallTime } from '../time/zone.ts';
