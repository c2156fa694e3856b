/**
 * An alert's language versions at one site, pure: which versions a site
 * plays and in which order, how copies of one revision add versions, and the
 * alert source laying the message and its versions turn by turn, skipping a
 * version whose frames are not there at its turn instead of waiting for it,
 * and the version turn that opens the cached versions for the source and
 * says which languages were heard and which missed.
 */
import { describe, expect, it } from 'vitest';
import { decodeAlertControl, type AlertStart, type AlertVersion } from '../../protocol/index.ts';
import { FRAME_SAMPLES } from '../../edge-agent/audio/types.ts';
import { AlertSource, type MessageFrames } from '../../edge-agent/alerts/alert-source.ts';
import { decideStart, type Remembered } from '../../edge-agent/alerts/decide.ts';
import {
  bringsVersions,
  languagesStatus,
  mergeVersions,
  VersionTurn,
  versionsMsPerRepeat,
  versionsToOpen,
  versionsToPlay,
  type VersionFiles,
  type VersionTurnOptions,
} from '../../edge-agent/alerts/version-turn.ts';

const media = (n: number) => ({ mediaId: `med-${n}`, sha256: String(n % 10).repeat(64), bytes: 1000 + n, durationMs: 2000 + n });
const version = (language: string, n: number): AlertVersion => ({ language, media: media(n) });
const HMN = version('hmn', 1);
const IUM = version('ium', 2);
const TYZ = version('tyz', 3);

describe('which versions a site plays', () => {
  it("plays the versions of the site's languages in the site's order, after the Vietnamese message", () => {
    expect(versionsToPlay([IUM, HMN, TYZ], ['hmn', 'vi', 'ium']).map((v) => v.language)).toEqual(['hmn', 'ium']);
    expect(versionsToPlay([IUM, HMN, TYZ], ['ium', 'hmn']).map((v) => v.language)).toEqual(['ium', 'hmn']);
  });

  it('plays no version in a language the site does not speak, nor one for Vietnamese however written', () => {
    expect(versionsToPlay([HMN, IUM], ['vi'])).toEqual([]);
    expect(versionsToPlay([HMN, IUM], ['tyz', 'nut'])).toEqual([]);
    expect(versionsToPlay([version('vie', 4), HMN], ['vie', 'vi-VN', 'hmn']).map((v) => v.language)).toEqual(['hmn']);
    expect(versionsToPlay(undefined, ['hmn'])).toEqual([]);
  });

  it('counts a language listed twice once', () => {
    expect(versionsToPlay([HMN], ['hmn', 'hmn']).map((v) => v.language)).toEqual(['hmn']);
  });
});

describe('copies of one revision', () => {
  it('only add versions: a copy without one takes nothing away, a language held keeps its media', () => {
    expect(mergeVersions([HMN], undefined)).toEqual([HMN]);
    expect(mergeVersions([HMN], [IUM])).toEqual([HMN, IUM]);
    expect(mergeVersions([HMN], [version('hmn', 9), IUM])).toEqual([HMN, IUM]);
    expect(bringsVersions([HMN], [HMN])).toBe(false);
    expect(bringsVersions([HMN], [HMN, IUM])).toBe(true);
    expect(bringsVersions([HMN], undefined)).toBe(false);
  });

  const start: AlertStart = {
    v: 1,
    type: 'alert_start',
    alertId: 'alr-0123456789abcdef',
    revision: 2,
    test: false,
    areas: ['2025.02683'],
    media: media(7),
    attention: 'siren',
    repeats: 3,
    validUntil: 10_000,
    at: 0,
  };
  const playing = new Map<string, Remembered>([[start.alertId, { revision: 2, outcome: 'playing', at: 0 }]]);

  it('the revision playing here with a new version joins it; without one it is handled already', () => {
    expect(decideStart(playing, { ...start, versions: [HMN] }, 's1', 1, true, false, true)).toEqual({ action: 'versions' });
    expect(decideStart(playing, { ...start, versions: [HMN] }, 's1', 1, true, false, false)).toEqual({ action: 'ignore', why: 'already_handled' });
    // Finished here: a later copy with versions plays nothing again.
    const done = new Map<string, Remembered>([[start.alertId, { revision: 2, outcome: 'completed', at: 0 }]]);
    expect(decideStart(done, { ...start, versions: [HMN] }, 's1', 1, false, false, true)).toEqual({ action: 'ignore', why: 'already_handled' });
  });

  it('the wire refuses a version in Vietnamese or a language twice', () => {
    const enc = (m: object) => JSON.stringify(m);
    expect(decodeAlertControl.decode(enc({ ...start, versions: [HMN, IUM] })).ok).toBe(true);
    const twice = decodeAlertControl.decode(enc({ ...start, versions: [HMN, version('hmn', 5)] }));
    expect(twice.ok ? '' : twice.error.reason).toMatch(/hmn comes twice/);
    const vi = decodeAlertControl.decode(enc({ ...start, versions: [version('vi', 5)] }));
    expect(vi.ok ? '' : vi.error.reason).toMatch(/language of the message itself/);
    expect(decodeAlertControl.decode(enc({ ...start, versions: Array.from({ length: 8 }, (_, i) => version(`x${'abcdefgh'[i]}a`, i)) })).ok).toBe(false);
  });
});

const tagged = (tag: number, n: number): MessageFrames => ({
  framesPerPass: n,
  frame(k: number) {
    if (k < 0 || k >= n) return null;
    const f = new Int16Array(FRAME_SAMPLES);
    f[0] = tag;
    f[1] = k;
    return f;
  },
});

describe('the alert source with versions', () => {
  const signal = [Int16Array.from({ length: FRAME_SAMPLES }, () => 1)];
  const run = (s: AlertSource, from: number, to: number) =>
    Array.from({ length: to - from }, (_, i) => s.frame(from + i, (from + i) * 20)).map((f) => (f === null ? 'end' : f[0] === 0 ? '.' : `${f[0]}:${f[1]}`));

  it('each repeat: the message, then the versions in order, a gap between items', () => {
    const heard: string[] = [];
    const s = new AlertSource({ signal, repeats: 2, gapFrames: 1, onVersion: (l, r) => heard.push(`${l}@${r}`) });
    s.setVersionOrder(['hmn', 'ium']);
    s.attach(tagged(9, 2));
    s.attachVersion('hmn', tagged(5, 1));
    s.attachVersion('ium', tagged(6, 2));
    expect(run(s, 0, 19)).toEqual(['1:1', '9:0', '9:1', '.', '5:0', '.', '6:0', '6:1', '.', '9:0', '9:1', '.', '5:0', '.', '6:0', '6:1', 'end', 'end', 'end']);
    expect(heard).toEqual(['hmn@1', 'ium@1', 'hmn@2', 'ium@2']);
  });

  it('a version not there at its turn is skipped for that repeat, taking no frame, and plays from its next turn once attached', () => {
    const skipped: string[] = [];
    const s = new AlertSource({ signal: [], repeats: 2, gapFrames: 1, onVersionSkipped: (l, r) => skipped.push(`${l}@${r}`) });
    s.setVersionOrder(['hmn', 'ium']);
    s.attach(tagged(9, 1));
    s.attachVersion('ium', tagged(6, 1));
    // Repeat 1: hmn missing at its turn: ium follows the message directly.
    expect(run(s, 0, 4)).toEqual(['9:0', '.', '6:0', '.']);
    s.attachVersion('hmn', tagged(5, 1));
    expect(run(s, 4, 10)).toEqual(['9:0', '.', '5:0', '.', '6:0', 'end']);
    expect(skipped).toEqual(['hmn@1']);
    // Asked again after a retraction: the turns laid stay.
    expect(run(s, 0, 4)).toEqual(['9:0', '.', '6:0', '.']);
  });

  it('with no version attached at all, the message repeats exactly as without versions', () => {
    const s = new AlertSource({ signal: [], repeats: 2, gapFrames: 1 });
    s.setVersionOrder(['hmn']);
    s.attach(tagged(9, 2));
    expect(run(s, 0, 6)).toEqual(['9:0', '9:1', '.', '9:0', '9:1', 'end']);
  });

  it('a version added to the order while playing joins the repeats still to come', () => {
    const s = new AlertSource({ signal: [], repeats: 2, gapFrames: 0 });
    s.attach(tagged(9, 1));
    expect(run(s, 0, 1)).toEqual(['9:0']);
    s.setVersionOrder(['hmn']);
    s.attachVersion('hmn', tagged(5, 1));
    expect(run(s, 1, 5)).toEqual(['5:0', '9:0', '5:0', 'end']);
  });
});

describe('the version turn of one alert at a site', () => {
  const inCache =
    (...shas: string[]) =>
    (sha: string) =>
      shas.includes(sha) ? `/cache/${sha}` : null;

  it('makes each repeat longer by every version it plays and the second of silence before it', () => {
    expect(versionsMsPerRepeat([])).toBe(0);
    expect(versionsMsPerRepeat([HMN, IUM])).toBe(2001 + 1000 + 2002 + 1000);
  });

  it('opens, in the site order, the versions whose file is in the cache and that are neither held, being opened, nor unreadable', () => {
    const files = (over: Partial<VersionFiles> = {}): VersionFiles => ({
      attached: () => false,
      opening: new Set(),
      unreadable: new Set(),
      pathOf: inCache(HMN.media.sha256, IUM.media.sha256, TYZ.media.sha256),
      ...over,
    });
    expect(versionsToOpen([IUM, HMN, TYZ], files()).map((x) => x.language)).toEqual(['ium', 'hmn', 'tyz']);
    expect(versionsToOpen([HMN], files())).toEqual([{ language: 'hmn', path: `/cache/${HMN.media.sha256}` }]);
    expect(versionsToOpen([HMN, IUM, TYZ], files({ attached: (l) => l === 'hmn', opening: new Set(['ium']), unreadable: new Set(['tyz']) }))).toEqual([]);
    expect(versionsToOpen([HMN, IUM], files({ pathOf: inCache(IUM.media.sha256) })).map((x) => x.language)).toEqual(['ium']);
  });

  it('says the languages heard once a version is due and the message came out, and those missed whenever their turn came without them', () => {
    expect(languagesStatus(0, true, [], [])).toEqual({});
    expect(languagesStatus(2, false, [], [])).toEqual({});
    expect(languagesStatus(2, true, [], [])).toEqual({ languagesPlayed: [] });
    expect(languagesStatus(2, true, ['ium'], ['hmn'])).toEqual({ languagesPlayed: ['ium'], languagesMissed: ['hmn'] });
    // Missed at one turn, heard at a later one: not missed.
    expect(languagesStatus(2, true, ['ium', 'hmn'], ['hmn'])).toEqual({ languagesPlayed: ['ium', 'hmn'] });
    expect(languagesStatus(1, false, [], ['hmn'])).toEqual({ languagesMissed: ['hmn'] });
  });

  const turnOf = (over: Partial<VersionTurnOptions> = {}) => {
    const source = new AlertSource({ signal: [], repeats: 2, gapFrames: 1 });
    const opened: Promise<MessageFrames>[] = [];
    const warned: string[] = [];
    const turn = new VersionTurn({
      alertId: 'alr-0123456789abcdef',
      source,
      siteLanguages: () => ['vi', 'ium', 'hmn'],
      pathOf: inCache(HMN.media.sha256, IUM.media.sha256),
      openMessage: (path) => {
        const p = path.endsWith(IUM.media.sha256) ? Promise.reject(new Error('bad page')) : Promise.resolve(tagged(5, 1));
        opened.push(p);
        return p;
      },
      // The watch is driven by hand here (attachArrived).
      pollMs: 3_600_000,
      running: () => true,
      warn: (m) => warned.push(m),
      ...over,
    });
    return { source, turn, opened, warned };
  };

  it("plays the versions of the site's languages in its order, and a copy with more adds them", () => {
    const { turn } = turnOf();
    try {
      turn.add([HMN, TYZ]);
      expect(turn.toPlay.map((v) => v.language)).toEqual(['hmn']);
      expect(turn.brings([HMN])).toBe(false);
      expect(turn.brings([HMN, IUM])).toBe(true);
      turn.add([IUM, version('hmn', 9)]);
      expect(turn.versions.map((v) => v.language)).toEqual(['hmn', 'tyz', 'ium']);
      expect(turn.toPlay.map((v) => v.language)).toEqual(['ium', 'hmn']);
      expect(turn.media()).toEqual([
        { mediaId: IUM.media.mediaId, sha256: IUM.media.sha256, bytes: IUM.media.bytes },
        { mediaId: HMN.media.mediaId, sha256: HMN.media.sha256, bytes: HMN.media.bytes },
      ]);
    } finally {
      turn.stop();
    }
  });

  it('hands a cached version to the source once, and never tries an unreadable one again', async () => {
    const { source, turn, opened, warned } = turnOf();
    try {
      turn.add([HMN, IUM]);
      turn.attachArrived();
      turn.attachArrived(); // both still being opened: not opened twice
      expect(opened).toHaveLength(2);
      await Promise.allSettled(opened);
      expect(source.hasVersion('hmn')).toBe(true);
      expect(source.hasVersion('ium')).toBe(false);
      expect(warned).toEqual(['alert alr-0123456789abcdef: cached audio of the ium version unreadable (bad page); skipped here']);
      turn.attachArrived();
      expect(opened).toHaveLength(2);
    } finally {
      turn.stop();
    }
  });

  it('opens nothing once the alert no longer runs here', () => {
    const { turn, opened } = turnOf({ running: () => false });
    try {
      turn.add([HMN]);
      turn.attachArrived();
      expect(opened).toHaveLength(0);
    } finally {
      turn.stop();
    }
  });

  it('counts a language heard once, and a missed turn no longer missed once it is heard', () => {
    const { turn } = turnOf();
    try {
      turn.add([HMN, IUM]);
      expect(turn.status(false)).toEqual({});
      turn.missed('hmn');
      expect(turn.status(true)).toEqual({ languagesPlayed: [], languagesMissed: ['hmn'] });
      expect(turn.heard('ium')).toBe(true);
      expect(turn.heard('hmn')).toBe(true);
      expect(turn.heard('hmn')).toBe(false);
      expect(turn.status(true)).toEqual({ languagesPlayed: ['ium', 'hmn'] });
    } finally {
      turn.stop();
    }
  });
});
