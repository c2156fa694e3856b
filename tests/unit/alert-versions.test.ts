/**
 * An alert's language versions through their life on the server
 * (server/alerts/versions.ts), pure: what an Update keeps, what adding
 * versions replaces, when a version's settled audio still counts, what a
 * restart marks failed, and what the audit log keeps.
 */
import { describe, expect, it } from 'vitest';
import type { MessageOutcome, PreparedMessage, PreparedVersion } from '../../server/alerts/message.ts';
import type { Alert, AlertVersionRecord } from '../../server/alerts/model.ts';
import { alertFixture } from '../helpers/alert-fixture.ts';
import { revisedVersions, settledForRevision, stoppedByRestart, versionsAudit, withVersionSettled, withVersionsAdded } from '../../server/alerts/versions.ts';

const media = (n: number) => ({ mediaId: `med-${n}`, sha256: String(n % 10).repeat(64), bytes: 1000 + n, durationMs: 2000 + n });

const alert = (over: Partial<Alert> = {}): Alert => alertFixture({ media: media(1), ...over });

const ready = (language: string, n: number): AlertVersionRecord => ({ language, source: 'media', mediaId: `med-${n}`, media: media(n), state: 'ready', reason: null });
const preparing = (language: string, n: number): AlertVersionRecord => ({ language, source: 'tts', mediaId: `med-${n}`, media: null, state: 'preparing', reason: null });
const failed = (language: string, n: number): AlertVersionRecord => ({
  language,
  source: 'upload',
  mediaId: `med-${n}`,
  media: null,
  state: 'failed',
  reason: 'not an audio file',
});

/** A version given as the service receives it: its audio ready, or still being made. */
function given(language: string, n: number, state: 'ready' | 'preparing'): PreparedVersion {
  const message: PreparedMessage =
    state === 'ready'
      ? { media: media(n), source: { kind: 'media', mediaId: `med-${n}` }, state, reason: null }
      : { media: null, source: { kind: 'tts', mediaId: `med-${n}`, text: 'Nyob zoo', lang: language }, state, reason: null };
  return { language, message };
}

describe('a version carried into the next revision', () => {
  it('fails when it was still being made, saying to give it again', () => {
    const v = settledForRevision(preparing('hmn', 2));
    expect(v).toEqual({ ...preparing('hmn', 2), state: 'failed', reason: expect.stringMatching(/updated while this version was being made; give it again/) });
  });

  it('stays as it is when ready or already failed', () => {
    expect(settledForRevision(ready('hmn', 2))).toEqual(ready('hmn', 2));
    expect(settledForRevision(failed('ium', 3))).toEqual(failed('ium', 3));
  });
});

describe('the versions of an Update', () => {
  it('are those the Update gives, in its order, replacing every current one; a language with no voice stays as a failed version', () => {
    const cur = alert({ versions: [ready('hmn', 2), ready('tyz', 4)] });
    expect(revisedVersions(cur, [given('ium', 3, 'ready'), given('hmn', 5, 'preparing'), { language: 'nut', missing: 'no voice speaks nut' }])).toEqual([
      ready('ium', 3),
      { language: 'hmn', source: 'tts', mediaId: 'med-5', media: null, state: 'preparing', reason: null },
      { language: 'nut', source: 'tts', mediaId: null, media: null, state: 'failed', reason: 'no voice speaks nut' },
    ]);
  });

  it('are none when the Update gives an empty list, whatever the alert had', () => {
    expect(revisedVersions(alert({ versions: [ready('hmn', 2)] }), [])).toEqual([]);
  });

  it('are the current ones when the Update gives none: those ready kept, those being made failed', () => {
    const cur = alert({ versions: [ready('hmn', 2), preparing('ium', 3), failed('tyz', 4)] });
    expect(revisedVersions(cur, undefined)).toEqual([
      ready('hmn', 2),
      { ...preparing('ium', 3), state: 'failed', reason: expect.stringMatching(/give it again/) },
      failed('tyz', 4),
    ]);
    expect(revisedVersions(alert(), undefined)).toEqual([]);
  });
});

describe('versions added while the alert plays', () => {
  it('come after those the alert has, the same revision', () => {
    const cur = alert({ revision: 2, versions: [ready('hmn', 2)] });
    const { next, added } = withVersionsAdded(cur, [given('ium', 3, 'ready')]);
    expect(added).toEqual([ready('ium', 3)]);
    expect(next).toEqual({ ...cur, versions: [ready('hmn', 2), ready('ium', 3)] });
    expect(next.revision).toBe(2);
  });

  it('replace the version of their language, which moves to the end', () => {
    const cur = alert({ versions: [failed('hmn', 2), ready('tyz', 4)] });
    const { next, added } = withVersionsAdded(cur, [given('hmn', 5, 'preparing')]);
    expect(added.map((v) => [v.language, v.mediaId, v.state])).toEqual([['hmn', 'med-5', 'preparing']]);
    expect(next.versions?.map((v) => [v.language, v.mediaId, v.state])).toEqual([
      ['tyz', 'med-4', 'ready'],
      ['hmn', 'med-5', 'preparing'],
    ]);
  });

  it('are the first versions of an alert that had none, and leave the alert given untouched', () => {
    const cur = alert();
    const { next } = withVersionsAdded(cur, [given('ium', 3, 'ready')]);
    expect(next.versions).toEqual([ready('ium', 3)]);
    expect(cur.versions).toBeUndefined();
  });
});

describe("a version's audio settling", () => {
  const ok: MessageOutcome = { ok: true, media: media(3) };
  const refused: MessageOutcome = { ok: false, code: 'LOANET_MEDIA_FAILED', statusCode: 422, reason: 'espeak-ng exited with 1' };

  it('makes the version ready with its media, the others as they were', () => {
    const a = alert({ versions: [ready('hmn', 2), preparing('ium', 3)] });
    const s = withVersionSettled(a, 'ium', 'med-3', ok);
    expect(s?.done).toEqual({ ...preparing('ium', 3), media: media(3), state: 'ready', reason: null });
    expect(s?.next).toEqual({ ...a, versions: [ready('hmn', 2), s?.done] });
  });

  it('fails the version with the reason, cut to 500 characters', () => {
    const a = alert({ versions: [preparing('ium', 3)] });
    expect(withVersionSettled(a, 'ium', 'med-3', refused)?.done).toEqual({ ...preparing('ium', 3), media: null, state: 'failed', reason: 'espeak-ng exited with 1' });
    const long = withVersionSettled(a, 'ium', 'med-3', { ...refused, reason: 'x'.repeat(800) });
    expect(long?.done.reason).toBe('x'.repeat(500));
  });

  it('counts for nothing once the alert ended', () => {
    for (const state of ['cancelled', 'expired'] as const) expect(withVersionSettled(alert({ state, versions: [preparing('ium', 3)] }), 'ium', 'med-3', ok)).toBeUndefined();
  });

  it('counts for nothing once its language was given another audio, settled, or taken away', () => {
    expect(withVersionSettled(alert({ versions: [preparing('ium', 9)] }), 'ium', 'med-3', ok)).toBeUndefined();
    expect(withVersionSettled(alert({ versions: [{ ...preparing('ium', 3), state: 'failed', reason: 'updated' }] }), 'ium', 'med-3', ok)).toBeUndefined();
    expect(withVersionSettled(alert({ versions: [preparing('hmn', 3)] }), 'ium', 'med-3', ok)).toBeUndefined();
    expect(withVersionSettled(alert(), 'ium', 'med-3', ok)).toBeUndefined();
  });
});

describe('after a restart', () => {
  it('versions being made are failed, saying the server stopped; the others stay', () => {
    const a = alert({ versions: [ready('hmn', 2), preparing('ium', 3), failed('tyz', 4)] });
    expect(stoppedByRestart(a)).toEqual({
      ...a,
      versions: [ready('hmn', 2), { ...preparing('ium', 3), state: 'failed', reason: 'the server stopped while this version was being made' }, failed('tyz', 4)],
    });
  });

  it('an alert with no version being made needs no change', () => {
    expect(stoppedByRestart(alert())).toBeUndefined();
    expect(stoppedByRestart(alert({ versions: [] }))).toBeUndefined();
    expect(stoppedByRestart(alert({ versions: [ready('hmn', 2), failed('tyz', 4)] }))).toBeUndefined();
  });
});

describe('what the audit log keeps of the versions', () => {
  it('each version by language, audio and state, in order', () => {
    expect(versionsAudit(alert({ versions: [ready('hmn', 2), preparing('ium', 3), { ...failed('nut', 0), mediaId: null }] }))).toEqual({
      versions: [
        { language: 'hmn', mediaId: 'med-2', state: 'ready' },
        { language: 'ium', mediaId: 'med-3', state: 'preparing' },
        { language: 'nut', mediaId: null, state: 'failed' },
      ],
    });
  });

  it('nothing of an alert without versions', () => {
    expect(versionsAudit(alert())).toEqual({});
    expect(versionsAudit(alert({ versions: [] }))).toEqual({});
  });
});
