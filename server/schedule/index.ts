/**
 * The schedule's pure core (issue 3, items 3–4), for the shell that will own
 * routes, tables and MQTT: broadcast items → per-site occurrences → priority
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
