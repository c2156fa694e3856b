/**
 * The wire contract of programmes in several languages (protocol/playlist.ts):
 * entries with parts, their rules beyond the schema, the receipt's summary of
 * its parts, and the features an agent declares in its state.
 */
import { describe, expect, it } from 'vitest';
import {
  LANGUAGE_TAG_PATTERN,
  PLAYLIST_PARTS_FEATURE,
  decodeEvent,
  decodePlaylist,
  decodeState,
  entryWithoutParts,
  summariseParts,
  type AsRunOutcome,
  type PlaylistEntryMessage,
  type PlaylistMessage,
} from '../../protocol/index.ts';
import { KNOWN_LANGUAGES, normaliseLanguageTag } from '../../server/media/languages.ts';

const sha = (c: string) => c.repeat(64);
const part = (language: string, c: string, durationMs: number) => ({ language, mediaId: `med-${language}`, sha256: sha(c), bytes: 1000, durationMs });

function entry(over: Partial<PlaylistEntryMessage> = {}): PlaylistEntryMessage {
  const parts = [part('vi', 'a', 3000), part('hmn', 'b', 4000), part('ium', 'c', 5000)];
  return {
    id: 'itm-1@1795820400000',
    kind: 'bulletin',
    itemId: 'itm-1',
    mediaId: 'med-vi',
    sha256: sha('a'),
    bytes: 1000,
    startAt: 1795820400000,
    durationMs: 12000,
    priority: 'normal',
    parts,
    ...over,
  };
}

const playlist = (entries: PlaylistEntryMessage[]): PlaylistMessage => ({ v: 1, siteId: 'sim-1', version: 'p1', at: 1795815000000, horizonEnd: 1795987800000, entries });

const reasonOf = (m: PlaylistMessage): string => {
  const r = decodePlaylist.check(m);
  return r.ok ? 'ok' : r.error.reason;
};

describe('playlist entries with parts', () => {
  it('an entry whose media is its first part and whose duration is the sum of its parts is accepted', () => {
    expect(reasonOf(playlist([entry()]))).toBe('ok');
  });

  it('an entry whose media is not its first part is refused, naming the entry', () => {
    expect(reasonOf(playlist([entry(), entry({ id: 'itm-2@1', mediaId: 'med-hmn' })]))).toBe(
      'playlist: /entries/1: entry itm-2@1: mediaId, sha256 and bytes must be those of parts[0]',
    );
    expect(reasonOf(playlist([entry({ sha256: sha('b') })]))).toMatch(/must be those of parts\[0\]/);
    expect(reasonOf(playlist([entry({ bytes: 999 })]))).toMatch(/must be those of parts\[0\]/);
  });

  it("an entry whose duration is not the sum of its parts' is refused", () => {
    expect(reasonOf(playlist([entry({ durationMs: 3000 })]))).toBe("playlist: /entries/0: entry itm-1@1795820400000: durationMs 3000 is not the sum of its parts' (12000)");
  });

  it('a language twice is refused', () => {
    const e = entry();
    e.parts = [part('vi', 'a', 3000), part('vi', 'b', 4000)];
    e.durationMs = 7000;
    expect(reasonOf(playlist([e]))).toMatch(/language vi comes twice/);
  });

  it('one part, or more than eight, is a schema error', () => {
    const one = entry({ parts: [part('vi', 'a', 12000)] });
    expect(reasonOf(playlist([one]))).toMatch(/parts/);
    const nine = entry({ parts: Array.from({ length: 9 }, (_, i) => part(`l${'abcdefghi'[i]}x`, 'a', 1000)) });
    expect(reasonOf(playlist([nine]))).toMatch(/parts/);
  });

  it('an entry without parts is checked as before', () => {
    const { parts: _p, ...plain } = entry();
    expect(reasonOf(playlist([{ ...plain, durationMs: 1 }]))).toBe('ok');
  });

  it('without parts, an entry keeps its first version alone, for agents that do not take parts', () => {
    const e = entryWithoutParts(entry({ title: 'Bản tin' }));
    expect(e.parts).toBeUndefined();
    expect(e).toMatchObject({ mediaId: 'med-vi', sha256: sha('a'), bytes: 1000, durationMs: 3000, title: 'Bản tin' });
    expect(reasonOf(playlist([e]))).toBe('ok');
  });

  it('the language pattern takes every tag the media library stores, in its canonical case only', () => {
    const re = new RegExp(LANGUAGE_TAG_PATTERN);
    const raw = [...KNOWN_LANGUAGES.map((l) => l.tag), 'zh-hant-tw', 'EN_us', 'sr-latn-rs', 'de-ch-1996', 'es-419', 'hmn-x-hmong-do', 'en-u-ca-buddhist'];
    for (const t of raw) {
      const tag = normaliseLanguageTag(t);
      expect(tag, t).toBeDefined();
      expect(re.test(tag!), tag).toBe(true);
    }
    for (const bad of ['VI', 'zh-hant', 'en-us', 'vi-', '', 'v', 'h mn']) expect(re.test(bad), bad).toBe(false);
  });
});

describe('a receipt summarises its parts', () => {
  const s = (...outcomes: AsRunOutcome[]) => summariseParts(outcomes.map((outcome) => ({ outcome })));

  it('played only if every part played', () => {
    expect(s('played', 'played', 'played')).toBe('played');
  });
  it('late if the first part started late and every part ran to its end', () => {
    expect(s('late', 'played', 'played')).toBe('late');
    expect(s('late', 'played', 'skipped')).toBe('partial');
  });
  it('partial if some part did not run to its end or was skipped', () => {
    expect(s('played', 'skipped', 'played')).toBe('partial');
    expect(s('skipped', 'played', 'played')).toBe('partial');
    expect(s('played', 'partial', 'skipped')).toBe('partial');
    expect(s('partial', 'skipped', 'skipped')).toBe('partial');
  });
  it('skipped if none started', () => {
    expect(s('skipped', 'skipped', 'skipped')).toBe('skipped');
    expect(s()).toBe('skipped');
  });

  it('a receipt with parts is a valid event', () => {
    const r = decodeEvent.check({
      v: 1,
      siteId: 'sim-1',
      at: 1795820420000,
      type: 'as_run',
      entryId: 'itm-1@1795820400000',
      kind: 'bulletin',
      itemId: 'itm-1',
      mediaId: 'med-vi',
      scheduledAt: 1795820400000,
      outcome: 'partial',
      reason: 'no_media',
      parts: [
        { language: 'vi', mediaId: 'med-vi', outcome: 'played', startedAt: 1795820400000, endedAt: 1795820403000, frames: 150 },
        { language: 'hmn', mediaId: 'med-hmn', outcome: 'skipped', reason: 'no_media' },
      ],
    });
    expect(r.ok ? 'ok' : r.error.reason).toBe('ok');
  });
});

describe('state features', () => {
  const state = (features: unknown) => decodeState.check({ v: 1, siteId: 'sim-1', state: 'online', at: 1, features });

  it('an agent declares that it takes playlist parts', () => {
    expect(state([PLAYLIST_PARTS_FEATURE]).ok).toBe(true);
  });
  it('unknown feature names are accepted (a newer agent), malformed ones are not', () => {
    expect(state(['playlist_parts', 'something_newer']).ok).toBe(true);
    expect(state(['Playlist-Parts']).ok).toBe(false);
    expect(state(Array.from({ length: 33 }, (_, i) => `f${i}`)).ok).toBe(false);
  });
});
