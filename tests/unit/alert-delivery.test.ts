/** The pure alert modules: delivery folding and state, targets, retained slots, CAP Ack, report. */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { AlertStatusEvent } from '../../protocol/index.ts';
import { AreaIndex } from '../../server/coverage/coverage.ts';
import type { SiteVerdict } from '../../server/coverage/model.ts';
import type { AreaNode } from '../../server/registry/model.ts';
import { deliveryState, percentile } from '../../server/alerts/delivery.ts';
import { applyStatus, confirmedPlaying, heardVerdict, playedOf } from '../../server/alerts/delivery-status.ts';
import { pendingDelivery, type Delivery } from '../../server/alerts/model.ts';
import { outsideScope, resolveTargets, sitesInPolygon, type TargetSite } from '../../server/alerts/targets.ts';
import { retainedPlan, slotChanges } from '../../server/alerts/retained.ts';
import { capAck, capDateTime } from '../../server/alerts/cap-ack.ts';
import { parseCap } from '../../server/alerts/cap/parse.ts';
import { reportCsv, reportLines } from '../../server/alerts/report.ts';
import { wordReason, type ReasonLike } from '../../api/words/reasons.ts';
import { ALERT_T0, alertFixture } from '../helpers/alert-fixture.ts';

const TZ = 'Asia/Ho_Chi_Minh';
const T0 = ALERT_T0; // 06:10 on 28/11 in Lào Cai
/** A reason as the console words it in Vietnamese (a day after T0: times show their date). */
const vi = (r: ReasonLike) => wordReason('vi', r, T0 + 86_400_000);

const node = (id: number, code: string, name: string, level: AreaNode['level'], parentId: number | null): AreaNode => ({
  id,
  key: `2025.${code}`,
  code,
  version: '2025',
  name,
  level,
  parentId,
});
const INDEX = AreaIndex.build([
  node(1, '15', 'Tỉnh Lào Cai', 'province', null),
  node(2, '02683', 'Xã Bát Xát', 'commune', 1),
  node(3, '02671', 'Phường Cam Đường', 'commune', 1),
  node(4, '02683-01', 'Thôn Bản Vược', 'village', 2),
]);
const SITES: TargetSite[] = [
  { siteId: 'bx-1', areaId: 4, lat: 22.52, lon: 103.85 },
  { siteId: 'bx-2', areaId: 2, lat: 22.53, lon: 103.86 },
  { siteId: 'cd-1', areaId: 3, lat: 22.43, lon: 104.0 },
];

const alert = alertFixture;

const ev = (status: AlertStatusEvent['status'], at: number, more: Partial<AlertStatusEvent> = {}): AlertStatusEvent => ({
  v: 1,
  siteId: 'bx-1',
  at,
  type: 'alert_status',
  alertId: 'alr-0123456789abcdef',
  revision: 1,
  status,
  ...more,
});

describe('a site status moves its delivery on, never back', () => {
  it('received → playing (first sound) → completed', () => {
    let d = pendingDelivery('alr-0123456789abcdef', 'bx-1', 1);
    d = applyStatus(d, ev('received', T0 + 50), 1, T0 + 60);
    expect(d).toMatchObject({ status: 'received', receivedAt: T0 + 50, reportedAt: T0 + 60 });
    d = applyStatus(d, ev('playing', T0 + 140, { repeat: 0, levelDb: -20 }), 1, T0 + 150);
    expect(d).toMatchObject({ status: 'playing', firstSoundAt: T0 + 140, repeat: 0, levelDb: -20 });
    d = applyStatus(d, ev('completed', T0 + 30_000, { repeat: 3, levelDb: -25 }), 1, T0 + 30_010);
    expect(d).toMatchObject({ status: 'completed', completedAt: T0 + 30_000, repeat: 3, levelDb: -20, firstSoundAt: T0 + 140 });
  });

  it('a late or repeated report changes nothing; another revision is ignored', () => {
    const done = applyStatus(applyStatus(pendingDelivery('a', 'bx-1', 1), ev('playing', T0 + 100), 1, T0), ev('completed', T0 + 9000), 1, T0);
    expect(applyStatus(done, ev('received', T0 + 10), 1, T0 + 1)).toBe(done);
    expect(applyStatus(done, ev('failed', T0 + 10, { reason: 'amp_fault' }), 1, T0 + 1).status).toBe('completed');
    expect(applyStatus(done, ev('playing', T0 + 100, { revision: 2 }), 1, T0 + 1)).toBe(done);
  });

  it('in any order, the status is the furthest step reported and first sound the earliest', () => {
    const steps: AlertStatusEvent[] = [
      ev('received', T0 + 10),
      ev('playing', T0 + 200, { repeat: 0 }),
      ev('playing', T0 + 5000, { repeat: 1 }),
      ev('completed', T0 + 20_000, { repeat: 3 }),
    ];
    fc.assert(
      fc.property(fc.shuffledSubarray(steps, { minLength: 1 }), (some) => {
        const d = some.reduce((acc, e) => applyStatus(acc, e, 1, T0), pendingDelivery('a', 'bx-1', 1));
        const rank = { received: 1, playing: 2, completed: 3 } as Record<string, number>;
        const best = some.reduce((m, e) => Math.max(m, rank[e.status]!), 0);
        expect(rank[d.status]).toBe(best);
        const sounds = some.filter((e) => e.status === 'playing').map((e) => e.at);
        expect(d.firstSoundAt).toBe(sounds.length ? Math.min(...sounds) : null);
      }),
    );
  });

  it('a failure keeps its reason; stopped during the message still counts as confirmed playing, after the signal alone it does not', () => {
    const f = applyStatus(pendingDelivery('a', 'bx-1', 1), ev('failed', T0 + 3000, { reason: 'no_media', detail: 'HTTP 503' }), 1, T0);
    expect(f).toMatchObject({ status: 'failed', reason: 'no_media', detail: 'HTTP 503', failedAt: T0 + 3000 });
    expect(confirmedPlaying(f)).toBe(false);
    const signal = applyStatus(pendingDelivery('a', 'bx-1', 1), ev('playing', T0 + 100, { repeat: 0, firstSoundAt: T0 + 100, messageRepeats: 0 }), 1, T0);
    const s = applyStatus(signal, ev('stopped', T0 + 900, { repeat: 0, firstSoundAt: T0 + 100, messageRepeats: 0 }), 1, T0);
    expect(s.status).toBe('stopped');
    expect(playedOf(s)).toBe('attention');
    expect(confirmedPlaying(s)).toBe(false);
    const m = applyStatus(
      applyStatus(signal, ev('playing', T0 + 4200, { repeat: 1, firstSoundAt: T0 + 100, messageAt: T0 + 4200, messageRepeats: 0 }), 1, T0),
      ev('stopped', T0 + 9000, { repeat: 1, firstSoundAt: T0 + 100, messageAt: T0 + 4200, messageRepeats: 0 }),
      1,
      T0,
    );
    expect(m).toMatchObject({ status: 'stopped', messageAt: T0 + 4200, messageRepeats: 0 });
    expect(confirmedPlaying(m)).toBe(true);
  });

  it('an agent that predates messageAt said the message by its repeat: playing repeat 1 is the message, repeat 0 the signal only', () => {
    const signal = applyStatus(pendingDelivery('a', 'bx-1', 1), ev('playing', T0 + 100, { repeat: 0 }), 1, T0);
    expect(playedOf(signal)).toBe('attention');
    const msg = applyStatus(signal, ev('playing', T0 + 4100, { repeat: 1, firstSoundAt: T0 + 100 }), 1, T0);
    expect(msg).toMatchObject({ messageAt: T0 + 4100, messageRepeats: null });
    const done = applyStatus(msg, ev('completed', T0 + 20_000, { repeat: 3, firstSoundAt: T0 + 100 }), 1, T0);
    expect(done).toMatchObject({ messageAt: T0 + 4100, messageRepeats: null, repeat: 3 });
    // Its "completed" after the signal alone (the server could not make the message) is not the message.
    const signalOnly = applyStatus(signal, ev('completed', T0 + 4000, { repeat: 0, firstSoundAt: T0 + 100, detail: 'attention signal only' }), 1, T0);
    expect(playedOf(signalOnly)).toBe('attention');
  });
});

describe('the monitoring microphone: played but not heard', () => {
  const lineOpen: SiteVerdict = {
    siteId: 'bx-2',
    condition: 'faulty',
    reasons: [{ code: 'line_open', params: { line: 1 }, message: 'speaker line 1 open', severity: 'faulty' }],
  };
  const played = (site: string, more: Partial<AlertStatusEvent>) =>
    applyStatus(
      applyStatus(pendingDelivery('a', site, 1), ev('playing', T0 + 300, { siteId: site, repeat: 0, messageRepeats: 0 }), 1, T0),
      ev('completed', T0 + 20_000, { siteId: site, repeat: 3, messageAt: T0 + 4300, messageRepeats: 3, ...more }),
      1,
      T0,
    );
  const heard = played('bx-1', { levelDb: -31.4, thresholdDb: -40 });
  const silent = played('bx-2', { levelDb: -71.8, thresholdDb: -40 });
  const noMic = played('cd-1', { levelDb: null });
  const strict = played('cd-2', { levelDb: -31.4, thresholdDb: -30 });

  it('the level is judged by the threshold the site sent; no microphone is no verdict', () => {
    expect(heard).toMatchObject({ levelDb: -31.4, levelThresholdDb: -40 });
    expect(heardVerdict(heard)).toBe('heard');
    expect(heardVerdict(silent)).toBe('not_heard');
    expect(heardVerdict(strict)).toBe('not_heard');
    expect(noMic.levelDb).toBeNull();
    expect(heardVerdict(noMic)).toBeNull();
    // A level without a threshold (an older agent) is judged by the default sound-check threshold.
    expect(heardVerdict({ ...heard, levelThresholdDb: null })).toBe('heard');
    expect(heardVerdict({ ...silent, levelThresholdDb: null })).toBe('not_heard');
    // An agent that does not say what it played measured the siren too: loud is no proof the message was heard; quiet still proves it was not.
    expect(heardVerdict({ ...heard, messageRepeats: null })).toBeNull();
    expect(heardVerdict({ ...silent, messageRepeats: null })).toBe('not_heard');
  });

  it('a site that played but was not heard still confirms playing, and is counted and listed apart with reasons in both languages', () => {
    const verdicts: Record<string, SiteVerdict> = { 'bx-2': lineOpen };
    const st = deliveryState(
      alert(),
      [heard, silent, noMic, strict],
      (s) => ({ name: `Cụm ${s}`, areaKey: null, areaName: null }),
      (s) => verdicts[s] ?? { siteId: s, condition: 'operational', reasons: [] },
      T0 + 30_000,
      TZ,
    );
    expect(st.counts).toMatchObject({ targeted: 4, confirmedPlaying: 4, completed: 4, unreached: 0, heard: 1, notHeard: 2 });
    expect(st.notHeard.map((n) => n.siteId)).toEqual(['bx-2', 'cd-2']);
    const bx2 = st.notHeard[0]!;
    expect(bx2.reasons.map((r) => r.code)).toEqual(['played_not_heard', 'line_open']);
    expect(vi(bx2.reasons[0]!)).toBe('đã phát nhưng micrô giám sát chỉ nghe -71,8\u00a0dBFS (ngưỡng -40,0\u00a0dBFS): kiểm tra đường dây loa và bộ khuếch đại');
    expect(bx2.reasons[0]!.message).toContain('-71.8 dBFS (threshold -40.0 dBFS)');
    expect(st.levels).toEqual([
      { siteId: 'bx-1', levelDb: -31.4, thresholdDb: -40, played: 'message', heard: true },
      { siteId: 'bx-2', levelDb: -71.8, thresholdDb: -40, played: 'message', heard: false },
      { siteId: 'cd-2', levelDb: -31.4, thresholdDb: -30, played: 'message', heard: false },
    ]);
    // The report: the level and the verdict per site; the not-heard reason in the CSV's reasons column.
    const lines = reportLines(
      alert(),
      [heard, silent, noMic],
      (s) => ({ name: s, areaKey: null, areaName: null }),
      (s) => verdicts[s],
      T0 + 30_000,
      TZ,
    );
    expect(lines.map((l) => [l.siteId, l.levelDb, l.heard])).toEqual([
      ['bx-1', -31.4, true],
      ['bx-2', -71.8, false],
      ['cd-1', null, null],
    ]);
    // Not heard is never without a reason: no microphone says so.
    expect(lines.map((l) => l.reasons.map((r) => r.code))).toEqual([[], ['played_not_heard', 'line_open'], ['not_verified']]);
    const csv = reportCsv(lines, TZ).split('\r\n');
    // The reasons cell holds "; ", so it is quoted (a spreadsheet splitting on ";" keeps it one cell).
    expect(csv[2]).toContain(',-71.8,"đã phát nhưng micrô giám sát chỉ nghe -71,8\u00a0dBFS (ngưỡng -40,0\u00a0dBFS)');
    expect(csv[2]).toContain('; đường loa 1 bị hở mạch"');
  });
});

describe('the delivery state an official reads', () => {
  const offline: SiteVerdict = {
    siteId: 'bx-2',
    condition: 'offline',
    reasons: [{ code: 'offline', params: { since: T0 - 600_000 }, message: 'offline since 06:00', severity: 'offline' }],
  };
  const ampFault: SiteVerdict = {
    siteId: 'cd-1',
    condition: 'faulty',
    reasons: [{ code: 'amplifier_fault', params: { fault: 'overheat' }, message: 'amplifier fault: overheat', severity: 'faulty' }],
  };
  const rows: Delivery[] = [
    { ...pendingDelivery('a', 'bx-1', 1), status: 'completed', receivedAt: T0 + 50, firstSoundAt: T0 + 400, messageAt: T0 + 900, messageRepeats: 3, completedAt: T0 + 30_000 },
    pendingDelivery('a', 'bx-2', 1),
    { ...pendingDelivery('a', 'cd-1', 1), status: 'failed', reason: 'amp_fault', failedAt: T0 + 2000, receivedAt: T0 + 60 },
    { ...pendingDelivery('a', 'cd-2', 1), status: 'playing', receivedAt: T0 + 60, firstSoundAt: T0 + 1500 },
  ];
  const verdicts: Record<string, SiteVerdict> = {
    'bx-2': offline,
    'cd-1': ampFault,
    'bx-1': { siteId: 'bx-1', condition: 'operational', reasons: [] },
    'cd-2': { siteId: 'cd-2', condition: 'operational', reasons: [] },
  };
  const st = deliveryState(
    alert(),
    rows,
    (s) => ({ name: `Cụm ${s}`, areaKey: null, areaName: null }),
    (s) => verdicts[s],
    T0 + 4000,
    TZ,
  );

  it('counts, time to first sound and to the message, and the share that played the message over time', () => {
    expect(st.counts).toEqual({
      targeted: 4,
      received: 3,
      playing: 1,
      started: 2,
      confirmedPlaying: 1,
      attentionOnly: 1,
      completed: 1,
      failed: 1,
      stopped: 0,
      unreached: 2,
      heard: 0,
      notHeard: 0,
    });
    expect(st.timeToFirstSound).toEqual({ firstMs: 400, p50Ms: 400, p99Ms: 1500, lastMs: 1500 });
    expect(st.timeToMessage).toEqual({ firstMs: 900, p50Ms: 900, p99Ms: 900, lastMs: 900 });
    expect(st.confirmedPlayingOverTime).toEqual([
      { afterMs: 250, sites: 0, share: 0 },
      { afterMs: 500, sites: 0, share: 0 },
      { afterMs: 1000, sites: 1, share: 0.25 },
      { afterMs: 2000, sites: 1, share: 0.25 },
      { afterMs: 3000, sites: 1, share: 0.25 },
    ]);
  });

  it('a site on its attention signal, the message not yet played, is attention only so far, with why', () => {
    expect(st.attentionOnly.map((u) => u.siteId)).toEqual(['cd-2']);
    expect(st.attentionOnly[0]!.reasons.map((r) => r.code)).toEqual(['attention_only_so_far', 'message_fetching']);
    expect(vi(st.attentionOnly[0]!.reasons[0]!)).toBe('đã phát tín hiệu báo động lúc 28/11 06:10; chưa phát bản tin cảnh báo');
    const preparing = deliveryState(
      alert({ messageState: 'preparing', media: null }),
      rows,
      () => undefined,
      (s) => verdicts[s],
      T0 + 4000,
      TZ,
    );
    expect(vi(preparing.attentionOnly[0]!.reasons[1]!)).toBe('máy chủ đang tạo âm thanh bản tin cảnh báo');
  });

  it('unreached sites with reasons the console words in Vietnamese: offline since, the failure the site reported, the amplifier fault', () => {
    const byId = Object.fromEntries(st.unreached.map((u) => [u.siteId, u]));
    expect(byId['bx-2']!.reasons.map(vi)).toEqual(['mất kết nối từ 28/11 06:00']);
    expect(byId['cd-1']!.reasons.map((r) => r.code)).toEqual(['alert_amp_fault', 'amplifier_fault']);
    expect(vi(byId['cd-1']!.reasons[0]!)).toBe('bộ khuếch đại không bật được hoặc bị lỗi lúc 28/11 06:10');
    expect(byId['cd-1']!.reasons[0]!.message).toBe('the amplifier did not switch on or faulted (06:10 28/11)');
  });

  it('the list is cut to the limit, and says so', () => {
    const cut = deliveryState(
      alert(),
      rows,
      () => undefined,
      (s) => verdicts[s],
      T0 + 4000,
      TZ,
      1,
    );
    expect(cut.unreached).toHaveLength(1);
    expect(cut.unreachedTruncated).toBe(true);
    expect(cut.counts.unreached).toBe(2);
  });

  it('percentile is the nearest rank', () => {
    expect(percentile([1, 2, 3, 4], 50)).toBe(2);
    expect(percentile([1, 2, 3, 4], 99)).toBe(4);
    expect(percentile([5], 1)).toBe(5);
  });
});

describe('targets', () => {
  it('an area targets its subtree; channels are a minimal cover', () => {
    const r = resolveTargets({ areaKeys: ['2025.02683', '2025.02683-01'], siteIds: [] }, INDEX, SITES);
    expect(r.ok && r.targets).toEqual({ siteIds: ['bx-1', 'bx-2'], channels: ['2025.02683'], siteFilter: null, areas: [INDEX.get('2025.02683'), INDEX.get('2025.02683-01')] });
  });

  it('geometry names its sites and publishes on their own areas', () => {
    const inside = sitesInPolygon(
      [
        [22.51, 103.84],
        [22.51, 103.855],
        [22.525, 103.855],
        [22.525, 103.84],
      ],
      SITES,
    );
    expect(inside).toEqual(['bx-1']);
    const r = resolveTargets({ areaKeys: [], siteIds: inside }, INDEX, SITES);
    expect(r.ok && r.targets).toMatchObject({ siteIds: ['bx-1'], channels: ['2025.02683-01'], siteFilter: ['bx-1'] });
  });

  it('refuses an unknown area naming it, and a target with no site', () => {
    expect(resolveTargets({ areaKeys: ['2025.99999'], siteIds: [] }, INDEX, SITES)).toEqual({
      ok: false,
      problem: { field: 'areas[0]', message: 'area 2025.99999 is not in the area registry' },
    });
    const empty = resolveTargets({ areaKeys: ['2025.15'], siteIds: [] }, INDEX, []);
    expect(!empty.ok && empty.problem.message).toContain('no registered site');
  });

  it('an official of Cam Đường cannot reach Bát Xát, by area or by drawing', () => {
    const byArea = resolveTargets({ areaKeys: ['2025.02683'], siteIds: [] }, INDEX, SITES);
    const drawn = resolveTargets({ areaKeys: [], siteIds: ['bx-2', 'cd-1'] }, INDEX, SITES);
    if (!byArea.ok || !drawn.ok) throw new Error('unexpected');
    expect(outsideScope(byArea.targets, 3, INDEX, SITES)).toBe('area 2025.02683 (Xã Bát Xát) lies outside your area');
    expect(outsideScope(drawn.targets, 3, INDEX, SITES)).toBe('1 site of the target lies outside your area');
    expect(outsideScope(byArea.targets, 2, INDEX, SITES)).toBeNull();
    expect(outsideScope(drawn.targets, null, INDEX, SITES)).toBeNull();
  });
});

describe('retained slots', () => {
  it('the newest valid alert holds a channel; when it ends the slot returns to the other, or is cleared', () => {
    const a = { id: 'alr-a', revision: 1, revisedAt: 100, channels: ['2025.15'] };
    const b = { id: 'alr-b', revision: 1, revisedAt: 200, channels: ['2025.15', '2025.02683'] };
    const both = retainedPlan([a, b]);
    expect([...both]).toEqual([
      ['2025.15', { id: 'alr-b', revision: 1 }],
      ['2025.02683', { id: 'alr-b', revision: 1 }],
    ]);
    const onlyA = retainedPlan([a]);
    expect(slotChanges(both, onlyA)).toEqual([
      { channel: '2025.02683', holder: null },
      { channel: '2025.15', holder: { id: 'alr-a', revision: 1 } },
    ]);
    expect(slotChanges(onlyA, onlyA)).toEqual([]);
    expect(slotChanges(onlyA, retainedPlan([{ ...a, revision: 2 }]))).toEqual([{ channel: '2025.15', holder: { id: 'alr-a', revision: 2 } }]);
  });
});

describe('CAP Ack and the report', () => {
  it('CAP dateTime in Vietnam time, numeric zone', () => {
    expect(capDateTime(T0 + 999, TZ)).toBe('2026-11-28T06:10:00+07:00');
  });

  it('the Ack is valid CAP 1.2, references the CAP message, and keeps a test a test', () => {
    const counts = {
      targeted: 4,
      received: 3,
      playing: 1,
      started: 3,
      confirmedPlaying: 2,
      attentionOnly: 1,
      completed: 1,
      failed: 1,
      stopped: 0,
      unreached: 2,
      heard: 0,
      notHeard: 0,
    };
    const a = alert({ test: true, cap: { sender: 'pctt@laocai.gov.vn', identifier: 'LC-1', sent: '2026-11-28T06:09:00+07:00' } });
    const r = parseCap(capAck(a, counts, { sender: 'loanet', now: T0 + 5000, timeZone: TZ }));
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.alert).toMatchObject({
      msgType: 'Ack',
      status: 'Test',
      sender: 'loanet',
      references: [{ sender: 'pctt@laocai.gov.vn', identifier: 'LC-1', sent: '2026-11-28T06:09:00+07:00' }],
    });
    expect(r.alert.note).toContain('targeted 4, received 3, confirmed playing 2');
    expect(r.alert.note).toContain('attention signal only 1');
  });

  it('CSV: BOM, Vietnamese headers and statuses, local times, formulas defused, numbers kept', () => {
    const rows: Delivery[] = [
      {
        ...pendingDelivery('a', 'bx-1', 1),
        status: 'completed',
        receivedAt: T0 + 50,
        firstSoundAt: T0 + 400,
        messageAt: T0 + 4400,
        messageRepeats: 3,
        completedAt: T0 + 30_000,
        repeat: 3,
        levelDb: -21.25,
      },
    ];
    const lines = reportLines(
      alert(),
      rows,
      () => ({ name: '=HYPERLINK("x")', areaKey: '2025.02683', areaName: 'Xã Bát Xát' }),
      () => undefined,
      T0,
      TZ,
    );
    const csv = reportCsv(lines, TZ);
    expect(csv.startsWith('\uFEFFMã điểm,Tên điểm,')).toBe(true);
    expect(csv.split('\r\n')[1]).toBe(
      `bx-1,"'=HYPERLINK(""x"")",2025.02683,Xã Bát Xát,đã phát xong,28/11/2026 06:10:00,28/11/2026 06:10:00,0.40,3,bản tin cảnh báo,3,28/11/2026 06:10:30,,-21.3,,,`,
    );
  });
});
