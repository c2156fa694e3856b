import { describe, expect, it } from 'vitest';
import { type ReceiptInput, type SentEntryInput, accountAsRun } from '../../server/asrun/accounting.ts';
import { explainNotHeard, lineLanguages } from '../../server/asrun/languages.ts';
import { asRunCsv } from '../../server/asrun/csv.ts';
import type { PlannedLanguages } from '../../server/schedule/playlist.ts';

const T = Date.parse('2026-11-27T06:00:00+07:00');
const S = 1000;
const plan = (site: string[], played: string[], missing: string[] = [], fallback: PlannedLanguages['fallback'] = null): PlannedLanguages => ({ site, played, missing, fallback });

function sent(siteId: string, languages: PlannedLanguages | null, over: Partial<SentEntryInput> = {}): SentEntryInput {
  return {
    siteId,
    entryId: `bt@${T}`,
    itemId: 'bt',
    scheduledAt: T,
    startAt: T,
    durationMs: 130 * S,
    priority: 'normal',
    plan: 'play',
    skipReason: null,
    mediaId: 'm-vi',
    languages,
    ...over,
  };
}
function receipt(siteId: string, over: Partial<ReceiptInput> = {}): ReceiptInput {
  return {
    siteId,
    entryId: `bt@${T}`,
    itemId: 'bt',
    scheduledAt: T,
    outcome: 'played',
    startedAt: T,
    endedAt: T + 130 * S,
    startErrorMs: 0,
    frames: 6500,
    reason: null,
    detail: null,
    clockSynced: true,
    clockErrorMs: 0,
    receivedAt: T + 131 * S,
    ...over,
  };
}
const account = (s: SentEntryInput[], r: ReceiptInput[], now = T + 3600 * S) =>
  accountAsRun({
    sent: s,
    receipts: r,
    sites: new Map(s.map((e) => [e.siteId, { name: e.siteId, areaKey: `2025.${e.siteId}`, areaName: e.siteId }])),
    titleOf: () => 'Bản tin',
    siteNow: () => undefined,
    now,
  }).lines;

describe('did a village hear the bulletin in its own language', () => {
  it("each part's outcome is said per language; a village whose first language played heard it", () => {
    const [line] = account(
      [sent('thon-hmn', plan(['hmn', 'vi'], ['hmn', 'vi']), { mediaId: 'm-hmn' })],
      [
        receipt('thon-hmn', {
          parts: [
            { language: 'hmn', mediaId: 'm-hmn', outcome: 'played', startedAt: T, endedAt: T + 70 * S, frames: 3500 },
            { language: 'vi', mediaId: 'm-vi', outcome: 'played', startedAt: T + 70 * S, endedAt: T + 130 * S, frames: 3000 },
          ],
        }),
      ],
    );
    expect(line!.status).toBe('played');
    expect(line!.languages).toMatchObject({
      site: ['hmn', 'vi'],
      played: ['hmn', 'vi'],
      missing: [],
      heardOwnLanguage: true,
      notHeard: null,
      versions: [
        { language: 'hmn', mediaId: 'm-hmn', outcome: 'played', startedAt: T, endedAt: T + 70 * S },
        { language: 'vi', mediaId: 'm-vi', outcome: 'played' },
      ],
    });
  });

  it('a village whose language has no version heard Vietnamese instead, and the log says so', () => {
    const [line] = account([sent('thon-tay', plan(['tyz'], ['vi'], ['tyz'], 'no_version'))], [receipt('thon-tay')]);
    expect(line!.status).toBe('played');
    expect(line!.languages).toMatchObject({
      played: ['vi'],
      missing: ['tyz'],
      fallback: 'no_version',
      heardOwnLanguage: false,
      notHeard: { reason: 'no_version', language: 'tyz' },
    });
    expect(explainNotHeard(line!.languages!)).toEqual({ vi: 'Chưa có bản tiếng Tày; đã phát bằng tiếng Việt', en: 'No Tày version; played in Vietnamese instead' });
  });

  it('its own version pre-empted is not heard, with the part’s reason, even though others played', () => {
    const [line] = account(
      [sent('thon-dao', plan(['ium', 'hmn', 'vi'], ['ium', 'hmn', 'vi']), { mediaId: 'm-ium' })],
      [
        receipt('thon-dao', {
          outcome: 'partial',
          reason: 'preempted',
          parts: [
            { language: 'ium', mediaId: 'm-ium', outcome: 'partial', reason: 'preempted', startedAt: T, endedAt: T + 10 * S },
            { language: 'hmn', mediaId: 'm-hmn', outcome: 'skipped', reason: 'preempted' },
            { language: 'vi', mediaId: 'm-vi', outcome: 'skipped', reason: 'preempted' },
          ],
        }),
      ],
    );
    expect(line!.languages).toMatchObject({ played: [], heardOwnLanguage: false, notHeard: { reason: 'not_played', language: 'ium', detail: 'preempted' } });
  });

  it('an older agent heard the default version: not its own language when that is not Vietnamese', () => {
    const [line] = account([sent('thon-old', plan(['hmn', 'vi'], ['vi'], [], 'agent_without_parts'))], [receipt('thon-old')]);
    expect(line!.languages).toMatchObject({ played: ['vi'], heardOwnLanguage: false, notHeard: { reason: 'agent_without_parts', language: 'hmn' } });
  });

  it('not known before it is due; no receipt after it is overdue; the server skipping it is said', () => {
    const upcoming = account([sent('a', plan(['vi'], ['vi']))], [], T - 1)[0]!;
    expect(upcoming.languages).toMatchObject({ heardOwnLanguage: null, notHeard: null });
    const overdue = account([sent('a', plan(['vi'], ['vi']))], [])[0]!;
    expect(overdue.languages).toMatchObject({ heardOwnLanguage: false, notHeard: { reason: 'no_receipt' } });
    const skipped = account([sent('a', plan(['hmn', 'vi'], ['hmn', 'vi']), { plan: 'skipped', skipReason: 'higher_priority' })], [])[0]!;
    expect(skipped.languages).toMatchObject({ heardOwnLanguage: false, notHeard: { reason: 'skipped' } });
  });

  it('an item without versions has no languages on its lines, as before', () => {
    const [line] = account([sent('a', null)], [receipt('a')]);
    expect(line!.languages).toBeUndefined();
    expect(lineLanguages({ plan: 'play', languages: null, mediaId: 'm', receipt: undefined, overdue: false })).toBeNull();
  });

  it('the CSV says the languages and whether each village heard its own', () => {
    const lines = account([sent('thon-tay', plan(['tyz'], ['vi'], ['tyz'], 'no_version')), sent('thon-vi', plan(['vi'], ['vi']))], [receipt('thon-tay'), receipt('thon-vi')]);
    const rows = asRunCsv(lines, 'Asia/Ho_Chi_Minh').slice(1).trimEnd().split('\r\n');
    expect(rows[0]).toContain('Tiếng chưa có bản / Languages without a version');
    expect(rows.find((r) => r.includes('thon-tay'))).toContain('không / no (Chưa có bản tiếng Tày; đã phát bằng tiếng Việt / No Tày version; played in Vietnamese instead)');
    expect(rows.find((r) => r.includes('thon-vi'))).toContain('có / yes');
  });
});
