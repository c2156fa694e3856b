/** server/live/silent-sites.ts: targeted sites that never reported on a live stream, and why. */
import { describe, expect, it } from 'vitest';
import { silentSites } from '../../server/live/silent-sites.ts';
import { wordReason } from '../../api/words/reasons.ts';
import type { SiteVerdict } from '../../server/coverage/model.ts';

const site = (siteId: string) => ({ siteId, name: `Cụm loa ${siteId}`, areaName: 'Thôn 1' });
const verdicts: Record<string, SiteVerdict> = {
  off: {
    siteId: 'off',
    condition: 'offline',
    reasons: [{ code: 'offline', params: { since: 1 }, message: 'offline since 05:40', severity: 'offline' }],
  },
  never: { siteId: 'never', condition: 'unverified', reasons: [] },
  ok: { siteId: 'ok', condition: 'operational', reasons: [] },
  weak: { siteId: 'weak', condition: 'degraded', reasons: [{ code: 'on_battery', params: {}, message: 'on battery', severity: 'degraded' }] },
};

describe('silentSites', () => {
  it('lists every targeted site without a report, with the reason a technician acts on', () => {
    const r = silentSites(['heard', 'off', 'never', 'ok', 'weak', 'gone'].map(site), new Set(['heard']), (id) => verdicts[id], 100);
    expect(r.total).toBe(5);
    const by = Object.fromEntries(r.sites.map((s) => [s.siteId, s]));
    expect(by.heard).toBeUndefined();
    expect(by.off).toMatchObject({ conditionNow: 'offline', reasons: [{ code: 'offline', params: { since: 1 } }] });
    expect(by.never).toMatchObject({ conditionNow: 'unverified', reasons: [{ code: 'never_connected' }] });
    // Online and silent: most likely not listening on the stream's area channel.
    expect(by.ok!.reasons.map((x) => x.code)).toEqual(['online_no_report']);
    expect(by.weak!.reasons.map((x) => x.code)).toEqual(['on_battery', 'online_no_report']);
    expect(by.gone).toMatchObject({ conditionNow: null, reasons: [{ code: 'site_unknown' }] });
    // Codes the console words (English only for API clients): no Vietnamese prose from the server.
    for (const s of r.sites) for (const x of s.reasons) expect(x).not.toHaveProperty('messageVi');
    for (const s of r.sites) for (const x of s.reasons) expect(wordReason('vi', x, 0), x.code).not.toBe(x.code);
  });

  it('cuts the list to the limit and keeps the total', () => {
    const r = silentSites(['a', 'b', 'c'].map(site), new Set(), () => verdicts.ok, 2);
    expect(r.total).toBe(3);
    expect(r.sites.map((s) => s.siteId)).toEqual(['a', 'b']);
    expect(silentSites([], new Set(), () => undefined, 10)).toEqual({ total: 0, sites: [] });
  });
});
