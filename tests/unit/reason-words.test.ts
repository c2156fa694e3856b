/**
 * Every reason code the server sends (a site's condition, its delivery of an
 * alert, a silent site of a live stream, an as-run line's why and status) is
 * worded by the console in Vietnamese and English from its params
 * (api/words/reasons.ts): a code added to a list without words fails
 * here, and the console never falls back to the server's prose.
 */
import { describe, expect, it } from 'vitest';
import { AS_RUN_STATUS_VALUES, AS_RUN_WHY_CODES, DELIVERY_REASON_CODES, SILENT_REASON_CODES, SITE_REASON_CODES } from '../../api/index.ts';
import { fill, hasReasonWords, reasonDetailOf, wordAsRunWhy, wordKey, wordReason, type ReasonLang } from '../../api/words/reasons.ts';

const VIETNAMESE = /[àáạảãâầấậẩẫăằắặẳẵèéẹẻẽêềếệểễìíịỉĩòóọỏõôồốộổỗơờớợởỡùúụủũưừứựửữỳýỵỷỹđ]/i;
const NOW = Date.UTC(2026, 11, 5, 5, 0);

/** Params a reason of each kind may carry: every placeholder gets a value. */
const PARAMS = {
  since: NOW - 60_000,
  at: NOW - 120_000,
  cause: 'silent',
  fault: 'overheat',
  temperatureC: 81.4,
  lines: 2,
  open: 1,
  short: 1,
  line: 2,
  status: 'open',
  batteryPct: 8.6,
  source: 'battery',
  signalDbm: -109,
  link: '4g',
  device: 'amp-1',
  kind: 'amplifier',
  error: null,
  levelDb: -61.25,
  thresholdDb: -45,
  applied: 3,
  expected: 4,
  reason: 'no_media',
  detail: 'HTTP 404',
  played: 'attention',
  now: NOW,
};

function expectWorded(code: string, vi: string, en: string): void {
  expect(vi, code).toMatch(VIETNAMESE);
  expect(vi, code).not.toMatch(/[{}]|undefined|NaN/);
  expect(en, code).not.toMatch(/[{}]|undefined|NaN/);
  expect(en, code).not.toBe(vi);
  expect(vi, code).not.toBe(code);
}

describe('reason words', () => {
  const reasonCodes = [...new Set<string>([...SITE_REASON_CODES, ...DELIVERY_REASON_CODES, ...SILENT_REASON_CODES])];

  it.each(reasonCodes)('words the reason %s in both languages from its params', (code) => {
    expect(hasReasonWords(code, PARAMS), code).toBe(true);
    expectWorded(code, wordReason('vi', { code, params: PARAMS }, NOW), wordReason('en', { code, params: PARAMS }, NOW));
    // Without params too (an older server, a reason that has none): no placeholder left.
    expectWorded(code, wordReason('vi', { code, params: {} }, NOW), wordReason('en', { code, params: {} }, NOW));
  });

  it.each([...AS_RUN_WHY_CODES])('words the as-run why %s in both languages', (code) => {
    const p = { seconds: 3.25, reason: 'x_new' };
    expectWorded(code, wordAsRunWhy('vi', { code, params: p }), wordAsRunWhy('en', { code, params: p }));
  });

  it.each([...AS_RUN_STATUS_VALUES])('words the as-run status %s in both languages', (status) => {
    const k = wordKey('asRun_', status);
    expect(k, status).not.toBeNull();
    const [vi, en] = (['vi', 'en'] as ReasonLang[]).map((l) => fill(l, k!));
    expect(en, status).not.toBe('');
    expect(vi, status).not.toMatch(/[{}]/);
  });

  it('writes numbers and times the language way, and keeps the site own words apart as technical detail', () => {
    const hot = { code: 'played_not_heard', params: { levelDb: -61.25, thresholdDb: -45 } };
    expect(wordReason('vi', hot, NOW)).toContain('-61,3\u00a0dBFS');
    expect(wordReason('en', hot, NOW)).toContain('-61.3\u00a0dBFS');
    // 05:00 UTC is 12:00 in Asia/Ho_Chi_Minh; a moment of another day keeps its date.
    expect(wordReason('vi', { code: 'offline', params: { since: NOW } }, NOW)).toBe('mất kết nối từ 12:00');
    expect(wordReason('vi', { code: 'offline', params: { since: NOW - 86_400_000 } }, NOW)).toBe('mất kết nối từ 04/12 12:00');
    const failed = { code: 'alert_no_media', params: { reason: 'no_media', detail: 'HTTP 404 Not Found', at: NOW } };
    expect(wordReason('vi', failed, NOW)).toBe('không tải được âm thanh bản tin cảnh báo lúc 12:00');
    expect(wordReason('vi', failed, NOW)).not.toContain('404');
    expect(reasonDetailOf(failed)).toBe('HTTP 404 Not Found');
    // A code the console does not know shows as itself, never as prose it was sent.
    expect(wordReason('vi', { code: 'brand_new', params: {}, message: 'English words' } as never, NOW)).toBe('brand_new');
  });

  it("words every fault a site's devices report in its history: the protocol's examples, the amplifier's, and a device the agent lost", () => {
    // protocol/device.ts DeviceEvent.fault names these; the agent acts on amp_overheat, amp_no_response and device_unreachable (edge-agent/agent.ts).
    for (const fault of ['line_open', 'line_short', 'amp_overheat', 'amp_no_response', 'mains_lost', 'battery_low', 'modem_link_lost', 'device_unreachable']) {
      const k = wordKey('fault_', fault);
      expect(k, fault).not.toBeNull();
      for (const l of ['vi', 'en'] as ReasonLang[]) expect(fill(l, k!), `${l} ${fault}`).not.toMatch(/_/);
    }
  });
});
