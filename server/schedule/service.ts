/**
 * The schedule shell: broadcast items through their life (draft → approved
 * → cancelled), checked against the registry, the media library and each
 * other before they are saved, audited, and handed to distribution when the
 * set of approved items changes. Decisions come from the pure core
 * (resolve.ts, conflicts.ts, recurrence.ts) and from `approvalRefusal`/
 * `scopeRefusal` below; this file only gathers their inputs and stores.
 *
 * Rules (docs/bulletins.md):
 * - Drafts never go out; only approved items are distributed.
 * - Four eyes: an operator may approve drafts others made, never one they
 *   created or last edited; an admin may approve any draft.
 * - Area scope: a user scoped to an area acts only on items whose every
 *   target (area or site) lies inside that area's subtree.
 * - An item overlapping, at some site, an approved item of the same
 *   priority is refused (409, naming the item and the sites) unless it asks
 *   to queue; checked on create, update and again on approval.
 * - Approved items are not edited: cancel and create anew (the as-run log
 *   and the agents follow occurrence ids that must not change meaning).
 *
 * Each change re-reads what it depends on and writes inside one
 * `store.exclusive` transaction (the status it changes from, the approved
 * items it must not overlap): two requests at once, on one server or two,
 * cannot both approve overlapping items or approve one being cancelled.
 */
import { randomBytes } from 'node:crypto';
import type { AreaIndex } from '../coverage/coverage.ts';
import type { AreaNode } from '../registry/model.ts';
import type { AuditLog } from '../audit.ts';
import type { User } from '../auth/users.ts';
import type { Site } from '../registry/sites.ts';
import type { MediaItem, JobView } from '../media/library.ts';
import { Errors, fail } from '../errors.ts';
import { checkNewItem, type ConflictEntry } from './conflicts.ts';
import type { BroadcastItem, ItemStart, Priority } from './model.ts';
import { RecurrenceError, SCHEDULE_ZONE, dateTimeToEpoch, validateRecurrence } from './recurrence.ts';
import { SiteDirectory, itemStarts, targetSites, type ResolveProblem } from './resolve.ts';
import { type BroadcastItemStore, startBounds, type ItemFilter, type ScheduledItem } from './items-store.ts';
import { ScheduleInputError, localIso, parseInstant, wallText, type TimeInput } from './times.ts';
import { normaliseLanguageTag } from '../media/languages.ts';
import type { ItemVersion } from './model.ts';
import { MAX_VERSIONS, longestDurationMs } from './language-plan.ts';

export interface ItemInput {
  title: string;
  mediaId: string;
  /** The bulletin in other languages, each a ready media item in that language; the default (`mediaId`) is in its media's. */
  versions?: Array<{ language: string; mediaId: string }>;
  /** Area codes or keys (`02683`, `2025.02683`) and site ids. */
  targets: { areas?: string[]; sites?: string[] };
  start: { at: TimeInput } | { dtstart: TimeInput; rrule: string; exdates?: TimeInput[] };
  priority?: Priority;
  validFrom?: TimeInput | null;
  validUntil?: TimeInput | null;
  queue?: boolean;
  note?: string | null;
}

export type ItemPatch = Partial<ItemInput>;

export interface ScheduleDeps {
  store: BroadcastItemStore;
  areaIndex(): AreaIndex;
  /** Structure version of area codes given without one. */
  areaVersion: string;
  /** Every registered site, retired ones too (sync or async: the registry's reads may be either). */
  sites(): Site[] | Promise<Site[]>;
  media(id: string): Promise<MediaItem | JobView | undefined>;
  audit: AuditLog;
  now(): number;
  /** The set of approved items changed: redistribute (resolves when published). */
  changed(reason: string): Promise<unknown>;
}

/** Same-priority overlaps are looked for this far ahead of the item's first start. */
export const CONFLICT_WINDOW_MS = 31 * 86_400_000;
/** Longest calendar or as-run period one request may ask for. */
export const MAX_PERIOD_MS = 92 * 86_400_000;

type Actor = Pick<User, 'id' | 'username' | 'role' | 'areaId'>;

/** Why `user` may not approve `item` (four eyes: LOANET_FOUR_EYES's params, worded by the console), or null. Pure. */
export function approvalRefusal(
  user: Actor,
  item: Pick<ScheduledItem, 'createdById' | 'updatedById' | 'createdBy' | 'title'>,
): { rule: 'four_eyes'; username: string; title: string } | null {
  if (user.role === 'admin') return null;
  if (item.createdById === user.id || item.updatedById === user.id) return { rule: 'four_eyes', username: user.username, title: item.title };
  return null;
}

/** Why `user` may not act on an item with these targets (area scope), or null. Pure over the index. */
export function scopeRefusal(user: Actor, targets: { areaIds: readonly number[] }, index: AreaIndex): string | null {
  if (user.areaId === null) return null;
  for (const id of targets.areaIds) {
    if (!index.isInSubtree(id, user.areaId)) {
      const scope = index.byId.get(user.areaId);
      const target = index.byId.get(id);
      return `${user.username} may schedule only inside ${scope?.name ?? `area ${user.areaId}`}; ${target?.name ?? `area ${id}`} is outside it`;
    }
  }
  return null;
}

/** A refused input: its problem code and values for the console's words; the English as technical detail. */
export const inputRefused = (e: ScheduleInputError) => fail('LOANET_BAD_REQUEST', { field: e.field, text: e.message, ...(e.problem ? { problem: e.problem } : {}), ...e.params });

function recurrenceField(part: string): string {
  switch (part) {
    case 'DTSTART':
      return 'start.dtstart';
    case 'EXDATE':
      return 'start.exdates';
    case 'TZID':
      return 'start.zone';
    default:
      return 'start.rrule';
  }
}

export class ScheduleService {
  constructor(private readonly deps: ScheduleDeps) {}

  /** The registry as the schedule sees it, built per call (a few ms for a province). */
  async directory(): Promise<SiteDirectory> {
    const sites = await this.deps.sites();
    return new SiteDirectory(
      this.deps.areaIndex(),
      sites.map((s) => ({ siteId: s.id, areaId: s.areaId, retired: s.retiredAt !== null })),
    );
  }

  list(f: ItemFilter): Promise<{ total: number; items: ScheduledItem[] }> {
    return this.deps.store.list(f);
  }

  async get(id: string, store: BroadcastItemStore = this.deps.store): Promise<ScheduledItem> {
    const item = await store.get(id);
    if (!item) throw Errors.notFound('broadcast_item', id);
    return item;
  }

  resolveArea(keyOrCode: string, field: string): AreaNode {
    const key = keyOrCode.includes('.') ? keyOrCode : `${this.deps.areaVersion}.${keyOrCode}`;
    const node = this.deps.areaIndex().get(key);
    if (!node) throw fail('LOANET_REFERENCE_NOT_FOUND', { field, thing: 'area', id: keyOrCode });
    return node;
  }

  /** The area ids an item's targets lie in (area targets and targeted sites' areas). */
  targetAreaIds(item: Pick<BroadcastItem, 'targets'>, dir: SiteDirectory): number[] {
    const ids: number[] = [];
    for (const k of item.targets.areaKeys) {
      const a = dir.index.get(k);
      if (a) ids.push(a.id);
    }
    for (const s of item.targets.siteIds) {
      const site = dir.byId.get(s);
      if (site) ids.push(site.areaId);
    }
    return ids;
  }

  /** Validate input against the registry and the library; the item as it would be stored. */
  async prepare(input: ItemInput, actor: Actor, existing?: ScheduledItem, dir?: SiteDirectory): Promise<ScheduledItem> {
    const media = await this.deps.media(input.mediaId);
    const versionMedia = new Map<string, MediaItem | JobView | undefined>();
    for (const v of input.versions ?? []) if (!versionMedia.has(v.mediaId)) versionMedia.set(v.mediaId, await this.deps.media(v.mediaId));
    try {
      const item = this.prepareOrThrow(input, actor, media, dir ?? (await this.directory()), existing);
      // prepareOrThrow refused anything but a ready media item.
      return this.withVersions(item, input.versions ?? [], media as MediaItem, versionMedia);
    } catch (e) {
      if (e instanceof ScheduleInputError) throw inputRefused(e);
      if (e instanceof RecurrenceError) {
        const field = recurrenceField(e.part);
        throw fail('LOANET_BAD_REQUEST', { field, text: `${field}: ${e.message}`, problem: 'recurrence' });
      }
      throw e;
    }
  }

  /**
   * The item with its language versions, each checked: its media exists, is
   * ready, not retired and in the language it is given for; no language comes
   * twice, nor the default's. Thrown as ScheduleInputError naming the version.
   */
  private withVersions(
    item: ScheduledItem,
    input: ReadonlyArray<{ language: string; mediaId: string }>,
    media: MediaItem,
    found: ReadonlyMap<string, MediaItem | JobView | undefined>,
  ): ScheduledItem {
    const { versions: _none, language: _lang, ...plain } = item;
    if (input.length === 0) return plain;
    if (input.length > MAX_VERSIONS - 1) throw fail('LOANET_TOO_MANY_TAGS', { field: 'versions', max: MAX_VERSIONS - 1, maxLength: 35 });
    const seen = new Set<string>([media.lang]);
    const versions: ItemVersion[] = [];
    for (const [i, v] of input.entries()) {
      const language = normaliseLanguageTag(v.language);
      if (!language) throw fail('LOANET_NOT_A_LANGUAGE_TAG', { field: `versions[${i}].language`, value: v.language });
      if (seen.has(language)) {
        throw new ScheduleInputError(
          `versions[${i}].language`,
          language === media.lang ? `the default version is already in ${language}` : `two versions in ${language}`,
          'version_duplicate',
          { value: language },
        );
      }
      seen.add(language);
      const m = found.get(v.mediaId);
      const field = `versions[${i}].mediaId`;
      if (!m) throw new ScheduleInputError(field, `no media item ${v.mediaId} in the library`, 'media_unknown', { id: v.mediaId });
      if (m.status !== 'ready')
        throw new ScheduleInputError(field, `media ${v.mediaId} is ${m.status === 'processing' ? 'still processing' : `not usable (${m.reason ?? 'failed'})`}`, 'media_not_ready', {
          id: v.mediaId,
          status: m.status,
        });
      if (m.retiredAt !== null) throw new ScheduleInputError(field, `media ${v.mediaId} is retired`, 'media_retired', { id: v.mediaId });
      if (m.lang !== language) throw new ScheduleInputError(field, `media ${v.mediaId} is in ${m.lang}, not ${language}`, 'version_language', { id: v.mediaId, value: m.lang });
      versions.push({ language, mediaId: m.id, durationMs: m.durationMs });
    }
    return { ...plain, language: media.lang, versions };
  }

  private prepareOrThrow(input: ItemInput, actor: Actor, media: MediaItem | JobView | undefined, dir: SiteDirectory, existing?: ScheduledItem): ScheduledItem {
    const now = this.deps.now();
    const title = input.title.trim();
    // The known cases carry their own codes, which the console words; only the rarer ones stay a field and an English text.
    if (!title) throw fail('LOANET_FIELD_REQUIRED', { field: 'title' });
    if (!media) throw new ScheduleInputError('mediaId', `no media item ${input.mediaId} in the library`, 'media_unknown', { id: input.mediaId });
    if (media.status !== 'ready')
      throw new ScheduleInputError(
        'mediaId',
        `media ${input.mediaId} is ${media.status === 'processing' ? 'still processing' : `not usable (${media.reason ?? 'failed'})`}`,
        'media_not_ready',
        { id: input.mediaId, status: media.status },
      );
    if (media.retiredAt !== null) throw new ScheduleInputError('mediaId', `media ${input.mediaId} is retired`, 'media_retired', { id: input.mediaId });

    const areaKeys: string[] = [];
    for (const [i, a] of (input.targets.areas ?? []).entries()) areaKeys.push(this.resolveArea(a, `targets.areas[${i}]`).key);
    const siteIds: string[] = [];
    for (const [i, id] of (input.targets.sites ?? []).entries()) {
      const s = dir.byId.get(id);
      if (!s) throw new ScheduleInputError(`targets.sites[${i}]`, `site ${id} is not registered`, 'site_unknown', { id });
      if (s.retired) throw new ScheduleInputError(`targets.sites[${i}]`, `site ${id} is retired`, 'site_retired', { id });
      siteIds.push(id);
    }
    if (areaKeys.length === 0 && siteIds.length === 0) throw fail('LOANET_TARGET_REQUIRED', { field: 'targets' });

    const validFrom = input.validFrom === undefined || input.validFrom === null ? undefined : parseInstant(input.validFrom, 'validFrom');
    const validUntil = input.validUntil === undefined || input.validUntil === null ? undefined : parseInstant(input.validUntil, 'validUntil');
    if (validFrom !== undefined && validUntil !== undefined && validUntil <= validFrom) {
      throw fail('LOANET_PERIOD_EMPTY', { field: 'validUntil', from: localIso(validFrom), to: localIso(validUntil) });
    }

    let start: ItemStart;
    if ('at' in input.start) {
      const at = parseInstant(input.start.at, 'start.at');
      if (at + media.durationMs <= now) throw fail('LOANET_IN_THE_PAST', { field: 'start.at', at: localIso(at) });
      if (validFrom !== undefined && at < validFrom)
        throw new ScheduleInputError('start.at', `${localIso(at)} is before validFrom ${localIso(validFrom)}`, 'before_valid_from', {
          at: localIso(at),
          limit: localIso(validFrom),
        });
      if (validUntil !== undefined && at >= validUntil)
        throw new ScheduleInputError('start.at', `${localIso(at)} is not before validUntil ${localIso(validUntil)}`, 'not_before_valid_until', {
          at: localIso(at),
          limit: localIso(validUntil),
        });
      start = { at };
    } else {
      const dtstart = wallText(input.start.dtstart, 'start.dtstart');
      const exdates = input.start.exdates?.map((x, i) => wallText(x, `start.exdates[${i}]`));
      const rrule = input.start.rrule.trim().replace(/^RRULE:/i, '');
      validateRecurrence({ dtstart, rrule, ...(exdates ? { exdates } : {}) });
      start = { dtstart, rrule, ...(exdates?.length ? { exdates } : {}) };
    }
    const t = now;
    const item: ScheduledItem = {
      id: existing?.id ?? `bi-${randomBytes(6).toString('hex')}`,
      mediaId: media.id,
      durationMs: media.durationMs,
      title,
      targets: { areaKeys: [...new Set(areaKeys)], siteIds: [...new Set(siteIds)] },
      start,
      priority: input.priority ?? 'normal',
      ...(validFrom !== undefined ? { validFrom } : {}),
      ...(validUntil !== undefined ? { validUntil } : {}),
      status: existing?.status ?? 'draft',
      queue: input.queue === true,
      createdBy: existing?.createdBy ?? actor.username,
      note: input.note?.trim() || null,
      createdById: existing ? existing.createdById : actor.id,
      createdAt: existing?.createdAt ?? t,
      updatedBy: actor.username,
      updatedById: actor.id,
      updatedAt: t,
      approvedById: null,
      approvedAt: null,
      cancelledBy: null,
      cancelledById: null,
      cancelledAt: null,
      cancelReason: null,
    };
    return item;
  }

  /** Refuse (403) when `actor` may not act on this item's targets. */
  assertScope(actor: Actor, item: Pick<BroadcastItem, 'targets'>, dir: SiteDirectory): void {
    const why = scopeRefusal(actor, { areaIds: this.targetAreaIds(item, dir) }, dir.index);
    if (why) throw Errors.forbidden({ rule: 'scope', field: 'targets', text: why });
  }

  /** The same-priority check of the core, over the next CONFLICT_WINDOW_MS of the item, against what `store` holds approved. */
  async check(item: BroadcastItem, dir: SiteDirectory, store: BroadcastItemStore = this.deps.store) {
    const from = Math.max(this.deps.now(), 'at' in item.start ? item.start.at : (item.validFrom ?? 0));
    const horizon = { from, to: from + CONFLICT_WINDOW_MS };
    const live = await store.live(horizon.from);
    const result = checkNewItem(item, live, dir, horizon, { zone: SCHEDULE_ZONE });
    const sites = targetSites(item, dir).siteIds.length;
    const next = itemStarts(item, { from: this.deps.now(), to: this.deps.now() + CONFLICT_WINDOW_MS }, 10).starts;
    return { result, sites, next };
  }

  /** Throw the 409 that names the item(s) and sites, when the check refuses. */
  private async assertNoConflict(item: BroadcastItem, dir: SiteDirectory, store: BroadcastItemStore): Promise<ResolveProblem[]> {
    const { result } = await this.check(item, dir, store);
    if (!result.ok) {
      const titles = [...new Set(result.conflicts.map((c) => c.title))];
      throw fail(
        'LOANET_SCHEDULE_CONFLICT',
        { text: result.message, reason: result.code, titles },
        {
          code: result.code,
          conflicts: result.conflicts.map(conflictView),
          hint: 'set "queue": true to play it right after the item it overlaps',
        },
      );
    }
    return result.problems;
  }

  private async save(item: ScheduledItem, dir: SiteDirectory, store: BroadcastItemStore): Promise<void> {
    const dtstartAt = 'dtstart' in item.start ? dateTimeToEpoch(item.start.dtstart, 'DTSTART', item.start.zone ?? SCHEDULE_ZONE) : undefined;
    await store.save(item, startBounds(item, dtstartAt), this.targetAreaIds(item, dir));
  }

  async create(input: ItemInput, actor: Actor): Promise<ScheduledItem> {
    const dir = await this.directory();
    const item = await this.prepare(input, actor, undefined, dir);
    this.assertScope(actor, item, dir);
    await this.deps.store.exclusive(async (tx) => {
      await this.assertNoConflict(item, dir, tx);
      await this.save(item, dir, tx);
    });
    await this.deps.audit.record(actor, 'schedule.create', item.id, {
      title: item.title,
      mediaId: item.mediaId,
      ...(item.versions ? { versions: item.versions.map((v) => ({ language: v.language, mediaId: v.mediaId })) } : {}),
      priority: item.priority,
      targets: item.targets,
      start: item.start,
      queue: item.queue,
    });
    return await this.get(item.id);
  }

  async update(id: string, patch: ItemPatch, actor: Actor): Promise<ScheduledItem> {
    const old = await this.get(id);
    const dir = await this.directory();
    this.assertScope(actor, old, dir);
    if (old.status !== 'draft') throw fail('LOANET_ITEM_NOT_DRAFT', { title: old.title, status: old.status });
    const input: ItemInput = {
      title: patch.title ?? old.title,
      mediaId: patch.mediaId ?? old.mediaId,
      targets: patch.targets ?? { areas: old.targets.areaKeys, sites: old.targets.siteIds },
      start: patch.start ?? old.start,
      priority: patch.priority ?? old.priority,
      validFrom: patch.validFrom === undefined ? (old.validFrom ?? null) : patch.validFrom,
      validUntil: patch.validUntil === undefined ? (old.validUntil ?? null) : patch.validUntil,
      queue: patch.queue ?? old.queue === true,
      note: patch.note === undefined ? old.note : patch.note,
      versions: patch.versions ?? (old.versions ?? []).map((v) => ({ language: v.language, mediaId: v.mediaId })),
    };
    const item = await this.prepare(input, actor, old, dir);
    this.assertScope(actor, item, dir);
    await this.deps.store.exclusive(async (tx) => {
      // Approved or cancelled since it was read: an edit must not turn it back into a draft.
      const current = await this.get(id, tx);
      if (current.status !== 'draft') throw fail('LOANET_ITEM_NOT_DRAFT', { title: current.title, status: current.status });
      await this.assertNoConflict(item, dir, tx);
      await this.save(item, dir, tx);
    });
    await this.deps.audit.record(actor, 'schedule.update', id, { changed: Object.keys(patch) });
    return await this.get(id);
  }

  async approve(id: string, actor: Actor): Promise<ScheduledItem> {
    const dir = await this.directory();
    const item = await this.deps.store.exclusive(async (tx) => {
      // Read inside: what is approved is the draft as it is now, checked against what is approved now.
      const item = await this.get(id, tx);
      this.assertScope(actor, item, dir);
      if (item.status !== 'draft') throw fail('LOANET_ITEM_NOT_DRAFT', { title: item.title, status: item.status });
      const refusal = approvalRefusal(actor, item);
      if (refusal) throw fail('LOANET_FOUR_EYES', { title: refusal.title, username: refusal.username }, { rule: refusal.rule });
      if ('at' in item.start && item.start.at + item.durationMs <= this.deps.now()) {
        throw fail('LOANET_IN_THE_PAST', { field: 'start.at', at: localIso(item.start.at) });
      }
      // Others may have been approved since this draft was checked.
      await this.assertNoConflict(item, dir, tx);
      const t = this.deps.now();
      const approved: ScheduledItem = { ...item, status: 'approved', approvedBy: actor.username, approvedById: actor.id, approvedAt: t };
      await this.save(approved, dir, tx);
      return item;
    });
    await this.deps.audit.record(actor, 'schedule.approve', id, { title: item.title, createdBy: item.createdBy });
    await this.deps.changed(`approved ${id}`);
    return await this.get(id);
  }

  async cancel(id: string, actor: Actor, reason: string | undefined): Promise<ScheduledItem> {
    const dir = await this.directory();
    const { item, cancelled } = await this.deps.store.exclusive(async (tx) => {
      // Read inside: cancelling answers once, and `was` says what it really was (an approval may have just landed).
      const item = await this.get(id, tx);
      this.assertScope(actor, item, dir);
      if (item.status === 'cancelled') throw fail('LOANET_ITEM_CANCELLED', { title: item.title });
      const t = this.deps.now();
      const cancelled: ScheduledItem = { ...item, status: 'cancelled', cancelledBy: actor.username, cancelledById: actor.id, cancelledAt: t, cancelReason: reason?.trim() || null };
      await this.save(cancelled, dir, tx);
      return { item, cancelled };
    });
    await this.deps.audit.record(actor, 'schedule.cancel', id, { title: item.title, was: item.status, reason: cancelled.cancelReason });
    if (item.status === 'approved') await this.deps.changed(`cancelled ${id}`);
    return await this.get(id);
  }

  /** Media still needed by a draft or approved item (the library's retire guard). */
  async mediaInUse(mediaId: string): Promise<string | null> {
    const using = await this.deps.store.usingMedia(mediaId, this.deps.now());
    if (using.length === 0) return null;
    const names = using
      .slice(0, 3)
      .map((i) => `"${i.title}" (${i.id}, ${i.status})`)
      .join(', ');
    return `still scheduled by ${names}${using.length > 3 ? ` and ${using.length - 3} more` : ''}; cancel those first`;
  }

  /**
   * Occurrences (as scheduled, before per-site arbitration) of every item
   * that plays somewhere in `area`'s subtree during [from, to): the week view.
   */
  async calendar(area: AreaNode, from: number, to: number, opts: { includeDrafts: boolean; includeCancelled: boolean }) {
    const dir = await this.directory();
    const index = dir.index;
    const areaIds = [...index.subtree(area.id)].map((a) => a.id).concat(index.ancestors(area.id).map((a) => a.id));
    const inArea = new Set(dir.sitesIn(area).map((s) => s.siteId));
    const { items } = await this.deps.store.list({ areaIds, from, to, limit: 10_000 });
    const occurrences: Array<{
      itemId: string;
      title: string;
      status: string;
      priority: Priority;
      queue: boolean;
      startAt: number;
      startLocal: string;
      endAt: number;
      endLocal: string;
      sites: number;
    }> = [];
    const problems: ResolveProblem[] = [];
    const shown: ScheduledItem[] = [];
    for (const item of items) {
      if (item.status === 'draft' && !opts.includeDrafts) continue;
      if (item.status === 'cancelled' && !opts.includeCancelled) continue;
      const targeted = targetSites(item, dir).siteIds.filter((s) => inArea.has(s)).length;
      const r = itemStarts(item, { from, to });
      problems.push(...r.problems);
      if (r.starts.length === 0) continue;
      shown.push(item);
      for (const s of r.starts) {
        occurrences.push({
          itemId: item.id,
          title: item.title,
          status: item.status,
          priority: item.priority,
          queue: item.queue === true,
          startAt: s,
          startLocal: localIso(s),
          // With language versions, the longest any site plays it (its villages hearing several versions back to back).
          endAt: s + longestDurationMs(item),
          endLocal: localIso(s + longestDurationMs(item)),
          sites: targeted,
        });
      }
    }
    occurrences.sort((a, b) => a.startAt - b.startAt || (a.itemId < b.itemId ? -1 : 1));
    return { occurrences, items: shown, problems };
  }
}

export function conflictView(c: ConflictEntry) {
  return { itemId: c.itemId, title: c.title, siteIds: c.siteIds, places: c.places, firstOverlapAt: c.firstOverlapAt, firstOverlapLocal: localIso(c.firstOverlapAt) };
}
