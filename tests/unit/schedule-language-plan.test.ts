import { describe, expect, it } from 'vitest';
import { AreaIndex } from '../../server/coverage/coverage.ts';
import type { AreaNode } from '../../server/registry/model.ts';
import { LanguagePlanner, longestDurationMs, planLanguages } from '../../server/schedule/language-plan.ts';
import { computePlaylists, mediaNeeded, playlistVersion } from '../../server/schedule/playlist.ts';
import { SiteDirectory, itemStarts } from '../../server/schedule/resolve.ts';
import type { BroadcastItem, ScheduleSite } from '../../server/schedule/model.ts';
import { DAY0, H, MIN, broadcastItem } from '../helpers/schedule-fixture.ts';

const S = 1000;
// The bulletin: Vietnamese 60 s (the default), H'Mông 70 s, Dao 80 s.
const bulletin = (over: Partial<BroadcastItem> = {}) =>
  broadcastItem({
    id: 'bt',
    mediaId: 'm-vi',
    durationMs: 60 * S,
    language: 'vi',
    versions: [
      { language: 'hmn', mediaId: 'm-hmn', durationMs: 70 * S },
      { language: 'ium', mediaId: 'm-ium', durationMs: 80 * S },
    ],
    ...over,
  });

describe('which versions a site hears', () => {
  it('the versions of its languages, in its order, back to back', () => {
    const p = planLanguages(bulletin(), ['ium', 'hmn', 'vi'], true);
    expect(p.plays.map((v) => v.language)).toEqual(['ium', 'hmn', 'vi']);
    expect(p).toMatchObject({ missing: [], fallback: null, durationMs: 210 * S });
  });

  it('a language with no version is listed as missing, never filled by playing another twice', () => {
    const p = planLanguages(bulletin(), ['tyz', 'hmn', 'vi', 'hmn'], true);
    expect(p.plays.map((v) => v.language)).toEqual(['hmn', 'vi']);
    expect(p).toMatchObject({ siteLanguages: ['tyz', 'hmn', 'vi'], missing: ['tyz'], fallback: null, durationMs: 130 * S });
  });

  it('a village whose languages have no version hears the default version alone, and says why', () => {
    const p = planLanguages(bulletin(), ['tyz', 'nut'], true);
    expect(p.plays).toEqual([{ language: 'vi', mediaId: 'm-vi', durationMs: 60 * S }]);
    expect(p).toMatchObject({ missing: ['tyz', 'nut'], fallback: 'no_version', durationMs: 60 * S });
  });

  it('an agent without parts hears the default version alone; one version needs no parts', () => {
    const old = planLanguages(bulletin(), ['hmn', 'vi'], false);
    expect(old.plays.map((v) => v.mediaId)).toEqual(['m-vi']);
    expect(old).toMatchObject({ fallback: 'agent_without_parts', durationMs: 60 * S });
    const single = planLanguages(bulletin(), ['hmn'], false);
    expect(single.plays.map((v) => v.mediaId)).toEqual(['m-hmn']);
    expect(single.fallback).toBeNull();
  });

  it('a Vietnamese village hears the default version, as before', () => {
    expect(planLanguages(bulletin(), ['vi'], true)).toMatchObject({ plays: [{ mediaId: 'm-vi' }], missing: [], fallback: null, durationMs: 60 * S });
  });

  it('the longest programme bounds every site’s, and a planner answers as the function', () => {
    expect(longestDurationMs(bulletin())).toBe(210 * S);
    expect(longestDurationMs(broadcastItem({ id: 'plain', durationMs: 5 * S }))).toBe(5 * S);
    const planner = new LanguagePlanner(bulletin());
    expect(planner.plan(['hmn', 'vi'], true)).toEqual(planLanguages(bulletin(), ['hmn', 'vi'], true));
    expect(planner.plan(['hmn', 'vi'], true)).toBe(planner.plan(['hmn', 'vi'], true));
  });
});

describe('per-site playlists of a bulletin with versions', () => {
  let id = 500;
  const node = (code: string, level: AreaNode['level'], parent: AreaNode | null, languages?: string[]): AreaNode => ({
    id: id++,
    key: `2025.${code}`,
    code,
    version: '2025',
    name: code,
    level,
    parentId: parent?.id ?? null,
    ...(languages ? { languages } : {}),
  });
  const province = node('10', 'province', null);
  const commune = node('02683', 'commune', province, ['hmn', 'vi']);
  const vHmn = node('0268301', 'village', commune);
  const vIum = node('0268302', 'village', commune, ['ium', 'hmn', 'vi']);
  const vVi = node('0268303', 'village', commune, ['vi']);
  const vTay = node('0268304', 'village', commune, ['tyz']);
  const idx = AreaIndex.build([province, commune, vHmn, vIum, vVi, vTay]);
  const sites: ScheduleSite[] = [
    { siteId: 'hmn', areaId: vHmn.id, canPlayParts: true },
    { siteId: 'ium', areaId: vIum.id, canPlayParts: true },
    { siteId: 'vi', areaId: vVi.id, canPlayParts: true },
    { siteId: 'tay', areaId: vTay.id, canPlayParts: true },
    { siteId: 'old', areaId: vHmn.id },
  ];
  const dir = new SiteDirectory(idx, sites);
  const media = (m: string) => ({ sha256: m.replace('m-', '').padEnd(64, '0') });
  const horizon = { from: DAY0, to: DAY0 + 48 * H };
  const at = DAY0 + 6 * H;

  it('each site gets parts in its area’s language order, and what it was planned to hear', () => {
    const c = computePlaylists([bulletin({ targets: { areaKeys: [commune.key], siteIds: [] }, start: { at } })], dir, media, horizon);
    const entry = (s: string) => c.playlists.get(s)!.entries[0]!;
    expect(entry('hmn').parts?.map((p) => p.language)).toEqual(['hmn', 'vi']);
    expect(entry('hmn')).toMatchObject({ mediaId: 'm-hmn', sha256: media('m-hmn').sha256, durationMs: 130 * S });
    expect(entry('ium').parts?.map((p) => p.mediaId)).toEqual(['m-ium', 'm-hmn', 'm-vi']);
    expect(entry('ium').durationMs).toBe(210 * S);
    expect(entry('vi')).toMatchObject({ mediaId: 'm-vi', durationMs: 60 * S, languages: { site: ['vi'], played: ['vi'], missing: [], fallback: null } });
    expect(entry('vi').parts).toBeUndefined();
    expect(entry('tay')).toMatchObject({ mediaId: 'm-vi', durationMs: 60 * S, languages: { played: ['vi'], missing: ['tyz'], fallback: 'no_version' } });
    expect(entry('old')).toMatchObject({ mediaId: 'm-vi', durationMs: 60 * S, languages: { played: ['vi'], fallback: 'agent_without_parts' } });
    expect(entry('old').parts).toBeUndefined();
    expect(mediaNeeded(c.playlists.get('ium')!)).toEqual(new Set(['ium', 'hmn', 'vi'].map((l) => media(`m-${l}`).sha256)));
  });

  it('arbitration keeps each site’s own end clear: a normal item right after the default version ends is skipped only where the parts run on', () => {
    const next = broadcastItem({ id: 'after', mediaId: 'm-x', durationMs: 30 * S, targets: { areaKeys: [commune.key], siteIds: [] }, start: { at: at + 90 * S } });
    const emergency = broadcastItem({
      id: 'z-alert',
      mediaId: 'm-e',
      durationMs: 30 * S,
      priority: 'emergency',
      targets: { areaKeys: [commune.key], siteIds: [] },
      start: { at: at + 150 * S },
    });
    const c = computePlaylists([bulletin({ targets: { areaKeys: [commune.key], siteIds: [] }, start: { at } }), next, emergency], dir, media, horizon);
    // 'after' starts at 90 s: the Vietnamese village (60 s) is free, the H'Mông one (130 s) is not.
    expect(c.plans.get('vi')!.plays.map((p) => p.itemId)).toEqual(['bt', 'after', 'z-alert']);
    expect(c.plans.get('hmn')!.skipped.map((s) => [s.itemId, s.reason])).toEqual([['after', 'same_priority']]);
    // The emergency at 150 s overlaps only the three-language village's 210 s programme, which yields whole (and frees the slot of 'after').
    expect(c.plans.get('ium')!.skipped.map((s) => [s.itemId, s.reason])).toEqual([['bt', 'higher_priority']]);
    expect(c.plans.get('ium')!.plays.map((p) => p.itemId)).toEqual(['after', 'z-alert']);
  });

  it('a change of versions changes the playlist version; a playlist without versions keeps the version it always had', () => {
    const a = computePlaylists([bulletin({ targets: { areaKeys: [commune.key], siteIds: [] }, start: { at } })], dir, media, horizon);
    const b = computePlaylists(
      [bulletin({ targets: { areaKeys: [commune.key], siteIds: [] }, start: { at }, versions: [{ language: 'hmn', mediaId: 'm-hmn2', durationMs: 70 * S }] })],
      dir,
      media,
      horizon,
    );
    expect(a.playlists.get('hmn')!.version).not.toBe(b.playlists.get('hmn')!.version);
    const plain = { id: 'p@1', itemId: 'p', mediaId: 'm', sha256: 'a'.repeat(64), startAt: 1, durationMs: 2, priority: 'normal' as const };
    expect(playlistVersion([plain])).toBe(playlistVersion([{ ...plain, languages: { site: ['vi'], played: ['vi'], missing: [], fallback: null } }]));
  });

  it('an occurrence that started before the horizon is kept while its longest programme may still play', () => {
    const item = bulletin({ start: { at: DAY0 - 3 * MIN } });
    expect(itemStarts(item, { from: DAY0, to: DAY0 + H }).starts).toEqual([DAY0 - 3 * MIN]);
    expect(itemStarts({ ...item, versions: [] }, { from: DAY0, to: DAY0 + H }).starts).toEqual([]);
  });
});
