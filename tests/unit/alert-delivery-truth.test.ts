/**
 * The delivery view never claims more than happened. Each site gets a truth
 * (what came out of its speakers: nothing, the attention signal only, or k
 * repeats of the message; what its microphone heard), the status reports an
 * agent sends for that truth (today's agents, and those that predate
 * `messageAt`), and the server folds a random part of them in a random order,
 * some twice — reports late, lost for now, or repeated by QoS 1. Whatever
 * arrived, the counts stay within the truth and every site not heard is
 * listed with a reason.
 */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { AlertStatusEvent } from '../../protocol/index.ts';
import type { SiteVerdict } from '../../server/coverage/model.ts';
import { deliveryState } from '../../server/alerts/delivery.ts';
import { applyStatus, playedOf } from '../../server/alerts/delivery-status.ts';
import { pendingDelivery, type Alert, type Delivery } from '../../server/alerts/model.ts';
import { reportLines } from '../../server/alerts/report.ts';
import { reasonDetailOf, wordReason } from '../../api/words/reasons.ts';
import { ALERT_T0, alertFixture } from '../helpers/alert-fixture.ts';

const TZ = 'Asia/Ho_Chi_Minh';
const T0 = ALERT_T0;
const ALERT_ID = 'alr-0123456789abcdef';
const SIGNAL_MS = 4000;
const PASS_MS = 5000;

interface Truth {
  siteId: string;
  /** Reports sent at all: a site offline sends none. */
  online: boolean;
  /** The attention signal sounded. */
  signal: boolean;
  /** Repeats of the message that began (0: the message never played). */
  began: number;
  /** How it ended: every repeat, a failure (no_media when the message never began), a cancel, or not yet. */
  end: 'completed' | 'failed' | 'stopped' | 'running';
  /** The microphone: absent, or the level it heard of the signal and of the message. */
  mic: null | { signalDb: number; messageDb: number };
  /** An agent from before `messageAt`: it says the message only by `repeat`. */
  legacy: boolean;
}

const REPEATS = 3;

const truthArb = (i: number): fc.Arbitrary<Truth> =>
  fc
    .record({
      online: fc.boolean(),
      signal: fc.boolean(),
      began: fc.integer({ min: 0, max: REPEATS }),
      end: fc.constantFrom<Truth['end']>('completed', 'failed', 'stopped', 'running'),
      mic: fc.option(fc.record({ signalDb: fc.constantFrom(-20, -35, -70), messageDb: fc.constantFrom(-22, -38, -45, -75) }), { nil: null }),
      legacy: fc.boolean(),
    })
    .map((t) => {
      // Consistency of the truth itself: every repeat played when completed, a completed message needs one.
      const began = t.end === 'completed' ? (t.began === 0 && t.signal ? 0 : REPEATS) : t.began;
      // A site that sounded nothing cannot have completed.
      return { siteId: `s-${i}`, ...t, began, end: !t.signal && began === 0 && t.end === 'completed' ? 'failed' : t.end };
    });

/** What the agent reports for this truth, in the order it sends them. */
function reportsOf(t: Truth): AlertStatusEvent[] {
  if (!t.online) return [];
  const base = { v: 1 as const, siteId: t.siteId, type: 'alert_status' as const, alertId: ALERT_ID, revision: 1 };
  const out: AlertStatusEvent[] = [{ ...base, at: T0 + 100, status: 'received' }];
  const first = T0 + 200;
  const messageAt = first + (t.signal ? SIGNAL_MS : 0);
  const soundsAny = t.signal || t.began > 0;
  // Repeats played to their end: every one when completed, else those before the one it stopped in.
  const finished = t.end === 'completed' ? t.began : Math.max(0, t.began - 1);
  const said = (repeatsDone: number) => (t.legacy ? {} : { ...(t.began > 0 ? { messageAt } : {}), messageRepeats: repeatsDone });
  // Today's agent measures over the message once it began; an older one from the first sound, its signal included.
  const level = (): Pick<AlertStatusEvent, 'levelDb' | 'thresholdDb'> => {
    if (t.mic === null) return { levelDb: null };
    const over = t.began === 0 ? [t.mic.signalDb] : t.legacy && t.signal ? [t.mic.signalDb, t.mic.messageDb] : [t.mic.messageDb];
    return { levelDb: Math.max(...over), thresholdDb: -40 };
  };
  if (t.signal) out.push({ ...base, at: first, status: 'playing', repeat: 0, firstSoundAt: first, ...said(0) });
  for (let r = 1; r <= t.began; r++) {
    const at = messageAt + (r - 1) * PASS_MS;
    out.push({ ...base, at, status: 'playing', repeat: r, firstSoundAt: first, ...said(r - 1) });
    if (r === 2) out.push({ ...base, at: at + 10, status: 'playing', repeat: r, firstSoundAt: first, ...said(r - 1), ...level() });
  }
  const endAt = messageAt + t.began * PASS_MS;
  const last = t.signal || t.began > 0 ? { repeat: t.began, firstSoundAt: first } : {};
  if (t.end === 'completed')
    out.push({
      ...base,
      at: endAt,
      status: 'completed',
      ...last,
      ...said(finished),
      ...(soundsAny ? level() : {}),
      ...(t.began === 0 ? { detail: 'attention signal only: the server could not make the message audio' } : {}),
    });
  if (t.end === 'failed')
    out.push({
      ...base,
      at: endAt,
      status: 'failed',
      reason: soundsAny && t.began === 0 ? 'no_media' : 'amp_fault',
      detail: soundsAny && t.began === 0 ? 'GET /api/media/med-1/audio: HTTP 503 (attempt 3)' : 'overheat',
      ...last,
      ...said(finished),
      ...(soundsAny ? level() : {}),
    });
  if (t.end === 'stopped') out.push({ ...base, at: endAt, status: 'stopped', detail: 'alert cancelled', ...last, ...said(finished), ...(soundsAny ? level() : {}) });
  return out;
}

const alert: Alert = alertFixture({ id: ALERT_ID, media: { mediaId: 'med-1', sha256: 'a'.repeat(64), bytes: 1000, durationMs: PASS_MS }, repeats: REPEATS });

const operational = (siteId: string): SiteVerdict => ({ siteId, condition: 'operational', reasons: [] });

/** Truths, and for each site the reports that reached the server so far: a random subset, shuffled, some twice. */
const fleetArb = fc
  .integer({ min: 1, max: 12 })
  .chain((n) => fc.tuple(...Array.from({ length: n }, (_, i) => truthArb(i))))
  .chain((truths) =>
    fc.tuple(
      fc.constant(truths),
      fc.tuple(
        ...truths.map((t) => {
          const sent = reportsOf(t);
          return sent.length === 0 ? fc.constant<AlertStatusEvent[]>([]) : fc.shuffledSubarray([...sent, ...sent], { minLength: 0 });
        }),
      ),
    ),
  );

describe('the delivery view never claims more than happened', () => {
  it('heard ≤ played the message ≤ started ≤ targeted, each within the truth, and every site not heard has a reason', () => {
    fc.assert(
      fc.property(fleetArb, ([truths, arrived]) => {
        const rows: Delivery[] = truths.map((t, i) => arrived[i]!.reduce((row, ev) => applyStatus(row, ev, 1, ev.at + 5), pendingDelivery(ALERT_ID, t.siteId, 1)));
        const st = deliveryState(alert, rows, (s) => ({ name: s, areaKey: null, areaName: null }), operational, T0 + 60_000, TZ, 1000);
        const c = st.counts;
        expect(c.heard + c.notHeard).toBeLessThanOrEqual(c.confirmedPlaying);
        expect(c.confirmedPlaying).toBeLessThanOrEqual(c.started);
        expect(c.started).toBeLessThanOrEqual(c.targeted);
        expect(c.started).toBe(c.confirmedPlaying + c.attentionOnly);
        expect(c.targeted).toBe(c.started + c.unreached);
        expect(c.completed).toBeLessThanOrEqual(c.confirmedPlaying);
        // Within the truth: nothing counted that did not happen.
        const truly = {
          started: truths.filter((t) => t.signal || t.began > 0).length,
          message: truths.filter((t) => t.began > 0).length,
          heard: truths.filter((t) => t.began > 0 && t.mic !== null && t.mic.messageDb >= -40).length,
          completed: truths.filter((t) => t.end === 'completed' && t.began === REPEATS).length,
        };
        expect(c.started).toBeLessThanOrEqual(truly.started);
        expect(c.confirmedPlaying).toBeLessThanOrEqual(truly.message);
        expect(c.heard).toBeLessThanOrEqual(truly.heard);
        expect(c.completed).toBeLessThanOrEqual(truly.completed);
        for (const u of [...st.unreached, ...st.attentionOnly, ...st.notHeard]) expect(u.reasons.length, u.siteId).toBeGreaterThan(0);

        const lines = reportLines(alert, rows, (s) => ({ name: s, areaKey: null, areaName: null }), operational, T0 + 60_000, TZ);
        lines.forEach((l, i) => {
          const t = truths[i]!;
          if (l.heard !== true) expect(l.reasons.length, `${l.siteId} ${JSON.stringify(l)}`).toBeGreaterThan(0);
          if (t.began === 0) {
            expect(l.played, l.siteId).not.toBe('message');
            expect(l.heard, l.siteId).toBe(false);
          }
          if (l.messageRepeats !== null) expect(l.messageRepeats, l.siteId).toBeLessThanOrEqual(t.end === 'completed' ? t.began : Math.max(0, t.began - 1));
          expect(playedOf(rows[i]!)).toBe(l.played);
        });
      }),
      { numRuns: 400 },
    );
  });

  it('once every report is in, each site is counted as what it played: the signal alone is attention only with its reason, never heard', () => {
    fc.assert(
      fc.property(fc.tuple(...Array.from({ length: 8 }, (_, i) => truthArb(i))), (truths) => {
        const rows = truths.map((t) => reportsOf(t).reduce((row, ev) => applyStatus(row, ev, 1, ev.at + 5), pendingDelivery(ALERT_ID, t.siteId, 1)));
        const st = deliveryState(alert, rows, () => undefined, operational, T0 + 60_000, TZ, 1000);
        const online = truths.filter((t) => t.online);
        expect(st.counts.started).toBe(online.filter((t) => t.signal || t.began > 0).length);
        expect(st.counts.confirmedPlaying).toBe(online.filter((t) => t.began > 0).length);
        expect(st.counts.attentionOnly).toBe(online.filter((t) => t.signal && t.began === 0).length);
        // An older agent's level included its siren: it is not counted heard on that alone.
        // A level comes with the second repeat and with the end.
        const measured = (t: Truth) => t.began >= 2 || t.end !== 'running';
        expect(st.counts.heard).toBe(online.filter((t) => t.began > 0 && measured(t) && !t.legacy && t.mic !== null && t.mic.messageDb >= -40).length);
        for (const u of st.attentionOnly) {
          const t = truths.find((x) => x.siteId === u.siteId)!;
          const codes = u.reasons.map((r) => r.code);
          expect(codes[0]).toBe(t.end === 'running' ? 'attention_only_so_far' : 'attention_only');
          if (t.end === 'failed') {
            expect(codes[1]).toBe('alert_no_media');
            expect(u.reasons[1]!.message).toContain('HTTP 503');
            // The console words the code; the site's fetch error is its technical detail, apart.
            expect(wordReason('vi', u.reasons[1]!, 0)).toMatch(/^không tải được âm thanh bản tin cảnh báo lúc /);
            expect(reasonDetailOf(u.reasons[1]!)).toMatch(/GET .*HTTP 503/);
          }
        }
      }),
      { numRuns: 300 },
    );
  });
});
