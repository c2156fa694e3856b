/** The nhật ký phát thanh as people read it: every (entry, site) accounted for, and its CSV. */
import { describe, expect, it } from 'vitest';
import { accountAsRun, type SiteInfo } from '../../server/asrun/accounting.ts';
import { asRunCsv } from '../../server/asrun/csv.ts';
import type { AsRunReceipt } from '../../server/asrun/log.ts';
import type { SentEntry } from '../../server/schedule/sent-entries.ts';

const H = 3_600_000;
/** 2026-11-27 06:00 local (Asia/Ho_Chi_Minh). */
const T6 = Date.parse('2026-11-26T23:00:00Z');

function sent(siteId: string, over: Partial<SentEntry> = {}): SentEntry {
  return {
    siteId,
    entryId: `bi-1@${T6}`,
    itemId: 'bi-1',
    mediaId: 'm1',
    scheduledAt: T6,
    startAt: T6,
    durationMs: 60_000,
    priority: 'normal',
    plan: 'play',
    skipReason: null,
    blockedBy: null,
    firstSentAt: T6 - H,
    sentAt: T6 - H,
    version: 'v1',
    withdrawnAt: null,
    ...over,
  };
}

function receipt(siteId: string, over: Partial<AsRunReceipt> = {}): AsRunReceipt {
  return {
    siteId,
    entryId: `bi-1@${T6}`,
    kind: 'bulletin',
    itemId: 'bi-1',
    mediaId: 'm1',
    scheduledAt: T6,
    outcome: 'played',
    startedAt: T6 + 20,
    endedAt: T6 + 60_020,
    startErrorMs: 20,
    frames: 3000,
    reason: null,
    detail: null,
    playlistVersion: 'v1',
    clockUncertaintyMs: 3,
    clockSynced: true,
    clockErrorMs: 0.5,
    at: T6 + 60_100,
    receivedAt: T6 + 60_500,
    ...over,
  };
}

const sites = new Map<string, SiteInfo>([
  ['a', { name: 'Cụm loa thôn 1', areaKey: '2025.0268301', areaName: 'Thôn 1' }],
  ['b', { name: 'Cụm loa thôn 2', areaKey: '2025.0268302', areaName: 'Thôn 2' }],
  ['c', { name: 'Cụm loa thôn 3', areaKey: '2025.0268303', areaName: 'Thôn 3' }],
  ['d', { name: 'Cụm loa thôn 4', areaKey: '2025.0268304', areaName: 'Thôn 4' }],
]);

const base = {
  sites,
  titleOf: (id: string) => (id === 'bi-1' ? 'Thông báo tiêm chủng, đợt 2' : id),
  siteNow: (id: string) =>
    id === 'c' ? { condition: 'offline', reason: { code: 'offline', params: { since: T6 - 20 * 60_000, cause: 'silent' }, message: 'offline since 05:40' } } : undefined,
};

describe('accountAsRun', () => {
  it('lists every targeted site: played, late, skipped by the server, and no receipt with the site condition', () => {
    const { lines, summary } = accountAsRun({
      ...base,
      sent: [sent('a'), sent('b'), sent('c'), sent('d', { plan: 'skipped', skipReason: 'higher_priority', blockedBy: 'bi-9@1' })],
      receipts: [receipt('a'), receipt('b', { outcome: 'late', startErrorMs: 3200, startedAt: T6 + 3200 })],
      now: T6 + H,
    });
    expect(lines.map((l) => [l.siteId, l.status, l.source])).toEqual([
      ['a', 'played', 'agent'],
      ['b', 'late', 'agent'],
      ['c', 'no_receipt', 'server'],
      ['d', 'skipped', 'server'],
    ]);
    // Codes the console words, and the same words (the console's) for the CSV and API clients.
    expect(lines[1]!.why).toEqual([{ code: 'late', params: { seconds: 3.2 } }]);
    expect(lines[1]!.explanation).toEqual({ vi: 'phát muộn 3,2\u00a0s', en: 'started 3.2\u00a0s late' });
    expect(lines[2]!.why).toEqual([{ code: 'no_receipt', params: {} }]);
    expect(lines[2]!.explanation).toEqual({ vi: 'chưa nhận được báo cáo của trạm; mất kết nối từ 05:40', en: 'no receipt from the site yet; offline since 05:40' });
    expect(lines[2]!.siteNow?.condition).toBe('offline');
    expect(lines[3]!.reason).toBe('higher_priority');
    expect(summary.byStatus).toMatchObject({ played: 1, late: 1, no_receipt: 1, skipped: 1, upcoming: 0 });
    expect(summary.sites).toBe(4);
  });

  it('sums each occurrence over its sites', () => {
    const { entries } = accountAsRun({ ...base, sent: [sent('a'), sent('b'), sent('c')], receipts: [receipt('a')], now: T6 + H });
    expect(entries).toEqual([
      {
        entryId: `bi-1@${T6}`,
        itemId: 'bi-1',
        title: 'Thông báo tiêm chủng, đợt 2',
        scheduledAt: T6,
        sites: 3,
        byStatus: { played: 1, late: 0, early: 0, unverified: 0, partial: 0, skipped: 0, unknown: 0, no_receipt: 2, upcoming: 0 },
      },
    ]);
  });

  it('a site that lost its record of an entry says unknown, and the log shows it in both languages', () => {
    const { lines, summary } = accountAsRun({
      ...base,
      sent: [sent('a')],
      receipts: [receipt('a', { outcome: 'unknown', reason: 'state_lost', startedAt: null, endedAt: null, startErrorMs: null, frames: null })],
      now: T6 + H,
    });
    expect(lines[0]).toMatchObject({ status: 'unknown', source: 'agent', reason: 'state_lost' });
    expect(lines[0]!.explanation!.vi).toMatch(/không biết đã phát hay chưa/);
    expect(lines[0]!.explanation!.en).toMatch(/whether it played is not known/);
    expect(summary.byStatus.unknown).toBe(1);
  });

  it('an entry still within its end + grace is not due yet, not missing', () => {
    const { lines } = accountAsRun({ ...base, sent: [sent('c')], receipts: [], now: T6 + 60_000 + 60_000 });
    expect(lines[0]!.status).toBe('upcoming');
    const later = accountAsRun({ ...base, sent: [sent('c')], receipts: [], now: T6 + 60_000 + 120_000 });
    expect(later.lines[0]!.status).toBe('no_receipt');
  });

  it('a skip reported by the agent says why, and a receipt for an entry never recorded as sent is still listed', () => {
    const { lines } = accountAsRun({
      ...base,
      sent: [sent('a')],
      receipts: [
        receipt('a', { outcome: 'skipped', reason: 'no_media', startedAt: null, endedAt: null, startErrorMs: null }),
        receipt('b', { entryId: 'bi-7@5', itemId: 'bi-7', scheduledAt: T6 + 5 }),
      ],
      now: T6 + H,
    });
    expect(lines[0]).toMatchObject({
      siteId: 'a',
      status: 'skipped',
      reason: 'no_media',
      why: [{ code: 'no_media', params: {} }],
      explanation: { vi: 'không có tệp âm thanh trong bộ nhớ của trạm', en: 'the audio was not in the site cache' },
    });
    expect(lines[1]).toMatchObject({ siteId: 'b', entryId: 'bi-7@5', status: 'played', source: 'agent' });
  });
});

describe('asRunCsv', () => {
  it('starts with a BOM, has Vietnamese / English headers, local times and quotes what needs quoting', () => {
    const { lines } = accountAsRun({ ...base, sent: [sent('a'), sent('c')], receipts: [receipt('a', { detail: '=HYPERLINK("x")' })], now: T6 + H });
    const csv = asRunCsv(lines, 'Asia/Ho_Chi_Minh');
    expect(csv.startsWith('\uFEFF')).toBe(true);
    const rows = csv.slice(1).trimEnd().split('\r\n');
    expect(rows).toHaveLength(3);
    expect(rows[0]).toMatch(/^Giờ dự kiến \/ Scheduled \(local\),Bản tin \/ Bulletin,/);
    expect(rows[1]).toContain('27/11/2026 06:00:00');
    expect(rows[1]).toContain('"Thông báo tiêm chủng, đợt 2"');
    expect(rows[1]).toContain('Đã phát / played');
    expect(rows[1]).toContain('0.020');
    // A formula is defused, and its quotes doubled.
    expect(rows[1]).toContain(`"'=HYPERLINK(""x"")"`);
    expect(rows[2]).toContain('Chưa có báo cáo / no receipt yet');
    expect(rows[2]).toContain('chưa nhận được báo cáo của trạm; mất kết nối từ 05:40 / no receipt from the site yet; offline since 05:40');
  });
});
