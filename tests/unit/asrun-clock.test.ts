/**
 * The as-run verdict of a play once the clock it was played under is taken
 * into account (server/asrun/accounting.ts receiptStatus, and the log's lines
 * and CSV): "played, clock not verified" or "played N s early/late" instead of
 * a plain "played" when that is the truth.
 */
import { describe, expect, it } from 'vitest';
import { accountAsRun, receiptStatus, STATUS_LABEL } from '../../server/asrun/accounting.ts';
import { asRunCsv } from '../../server/asrun/csv.ts';
import type { AsRunReceipt } from '../../server/asrun/log.ts';

const T = Date.UTC(2026, 11, 4, 23, 0); // 06:00 in Hà Nội

function receipt(over: Partial<AsRunReceipt> = {}): AsRunReceipt {
  return {
    siteId: 'cum-loa-1',
    entryId: `bi-1@${T}`,
    kind: 'bulletin',
    itemId: 'bi-1',
    mediaId: 'm1',
    scheduledAt: T,
    outcome: 'played',
    startedAt: T + 20,
    endedAt: T + 60_020,
    startErrorMs: 20,
    frames: 3000,
    reason: null,
    detail: null,
    playlistVersion: 'v1',
    clockUncertaintyMs: 3,
    clockSynced: true,
    clockErrorMs: 0.5,
    at: T + 60_100,
    receivedAt: T + 60_500,
    ...over,
  };
}

describe('receiptStatus', () => {
  it('a play on a verified clock that was on time is played', () => {
    expect(receiptStatus(receipt())).toBe('played');
  });

  it('a board that booted 60 s fast with no link, never corrected: played, clock not verified (not played)', () => {
    expect(receiptStatus(receipt({ clockSynced: false, clockErrorMs: null, startErrorMs: 0, clockUncertaintyMs: null }))).toBe('unverified');
    // Its own verdict 'late' is no better known.
    expect(receiptStatus(receipt({ outcome: 'late', clockSynced: false, clockErrorMs: null, startErrorMs: 900 }))).toBe('unverified');
  });

  it('the same board corrected before its receipt: 60 s early', () => {
    expect(receiptStatus(receipt({ clockSynced: false, clockErrorMs: 60_000, startErrorMs: -60_000 }))).toBe('early');
  });

  it('a server clock stepped +5 s during the play: late by 5 s though the agent said played', () => {
    expect(receiptStatus(receipt({ outcome: 'played', clockSynced: true, clockErrorMs: -5000, startErrorMs: 5000 }))).toBe('late');
  });

  it('a correction that brings a late start back on time makes it played', () => {
    expect(receiptStatus(receipt({ outcome: 'late', clockErrorMs: 400, startErrorMs: 50 }))).toBe('played');
  });

  it('agents that do not report their clock keep their own verdict; receipts of no play keep theirs', () => {
    expect(receiptStatus(receipt({ clockSynced: null, clockErrorMs: null }))).toBe('played');
    expect(receiptStatus(receipt({ outcome: 'late', clockSynced: null, clockErrorMs: null, startErrorMs: 800 }))).toBe('late');
    expect(receiptStatus(receipt({ outcome: 'skipped', clockSynced: false, clockErrorMs: null, startErrorMs: null, startedAt: null, endedAt: null }))).toBe('skipped');
    expect(receiptStatus(receipt({ outcome: 'partial', clockSynced: false, clockErrorMs: null }))).toBe('partial');
  });
});

describe('the as-run log says it in both languages', () => {
  const sites = new Map([['cum-loa-1', { name: 'Cụm loa thôn 1', areaKey: '2025.0268301', areaName: 'Thôn 1' }]]);
  const account = (r: AsRunReceipt) => accountAsRun({ sent: [], receipts: [r], sites, titleOf: () => 'Bản tin sáng', siteNow: () => undefined, now: T + 3_600_000 }).lines[0]!;

  it('labels: Vietnamese first with full diacritics, then English', () => {
    expect(STATUS_LABEL.unverified).toEqual({ vi: 'Đã phát, chưa xác minh đồng hồ', en: 'played, clock not verified' });
    expect(STATUS_LABEL.early).toEqual({ vi: 'Phát sớm', en: 'early' });
  });

  it('60 s early, with how far the clock was off', () => {
    const l = account(receipt({ clockSynced: false, clockErrorMs: 60_000, startErrorMs: -60_000, startedAt: T - 60_000 }));
    expect(l.status).toBe('early');
    expect(l.clockErrorMs).toBe(60_000);
    expect(l.explanation).toEqual({
      vi: 'phát sớm 60,0\u00a0s so với giờ máy chủ; đồng hồ của trạm nhanh 60,0\u00a0s lúc phát',
      en: "played 60.0\u00a0s early on the server clock; the site's clock was 60.0\u00a0s fast when it played",
    });
  });

  it('5 s late after a server clock step, and clock not verified', () => {
    const late = account(receipt({ clockErrorMs: -5000, startErrorMs: 5000 }));
    expect(late.status).toBe('late');
    expect(late.why).toEqual([
      { code: 'late', params: { seconds: 5 } },
      { code: 'clock_slow', params: { seconds: 5 } },
    ]);
    expect(late.explanation!.en).toBe("started 5.0\u00a0s late; the site's clock was 5.0\u00a0s slow when it played");
    expect(late.explanation!.vi).toBe('phát muộn 5,0\u00a0s; đồng hồ của trạm chậm 5,0\u00a0s lúc phát');
    const unverified = account(receipt({ clockSynced: false, clockErrorMs: null, startErrorMs: 0 }));
    expect(unverified.status).toBe('unverified');
    expect(unverified.explanation!.vi).toContain('chưa được đối chiếu với máy chủ');
    const csv = asRunCsv([unverified], 'Asia/Ho_Chi_Minh');
    expect(csv).toContain('Đã phát, chưa xác minh đồng hồ / played, clock not verified');
  });
});
