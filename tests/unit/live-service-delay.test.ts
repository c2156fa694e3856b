/**
 * The live service's adaptive delay (server/live/service.ts) over a recording
 * broker: a stream starts at what its sites' last measured links need, a
 * site's report raises a playing stream (its start re-sent first), a named
 * delay is kept, a site beyond the ceiling is named, the preview says it all
 * before going live.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { LiveService } from '../../server/live/service.ts';
import type { LiveArea, LiveStartInput } from '../../server/live/model.ts';
import type { BrokerLink } from '../../server/fleet/broker.ts';
import type { AuditLog } from '../../server/audit.ts';
import { PROTOCOL_VERSION, type StreamStatsEvent } from '../../protocol/index.ts';

const COMMUNE: LiveArea = { id: 7, key: '2025.02683', path: [1, 7] };
const OTHER: LiveArea = { id: 8, key: '2025.02686', path: [1, 8] };
const siteArea: Record<string, readonly number[]> = { clean: [1, 7, 70], mountain: [1, 7, 71], elsewhere: [1, 8, 80] };

function setup() {
  const sent: Array<{ topic: string; payload: Buffer; retain: boolean }> = [];
  const broker = {
    publish: async (topic: string, payload: Buffer, o: { retain?: boolean }) => void sent.push({ topic, payload, retain: o.retain ?? false }),
  } as unknown as BrokerLink;
  const audit = { record: async () => {}, recordDetached: () => {} } as unknown as AuditLog;
  const log = { info() {}, warn() {}, error() {}, debug() {} } as unknown as ConstructorParameters<typeof LiveService>[0]['log'];
  const live = new LiveService({ broker, audit, log, now: Date.now, config: { announceMs: 0 }, areaPathOfSite: (id) => siteArea[id] });
  const input = (over: Partial<LiveStartInput> = {}): LiveStartInput => ({
    source: { kind: 'browser', format: 'pcm' },
    areas: [COMMUNE],
    priority: 'normal',
    actor: { id: 1, username: 'op' },
    ...over,
  });
  const start = (over: Partial<LiveStartInput> = {}) => live.start(input(over), () => ({ pause() {}, resume() {}, close() {} }));
  const stats = (siteId: string, streamId: number, p99Ms: number, behind = true): StreamStatsEvent => ({
    v: PROTOCOL_VERSION,
    siteId,
    at: Date.now(),
    type: 'stream_stats',
    streamId,
    received: 50,
    late: 40,
    lost: 100,
    concealed: 10,
    fecRecovered: 0,
    played: 50,
    bufferLevelMs: 0,
    marks: [],
    clockUncertaintyMs: 1,
    final: false,
    transit: { p50Ms: p99Ms / 2, p99Ms, maxMs: p99Ms, samples: 50 },
    behind,
  });
  /** The delayMs of each stream_start published for a stream, in order. */
  const starts = (id: number) =>
    sent
      .filter((m) => m.payload[0] === 0x7b)
      .map((m) => JSON.parse(m.payload.toString()) as { type: string; streamId: number; delayMs: number })
      .filter((m) => m.type === 'stream_start' && m.streamId === id)
      .map((m) => m.delayMs);
  return { live, start, stats, starts, sent };
}

let close: (() => Promise<void>) | undefined;
afterEach(async () => {
  await close?.();
  close = undefined;
});

describe('the live service adapts a stream delay to its sites links', () => {
  it('raises a playing stream when a site needs more, re-sending its start with the new delay, within the ceiling', async () => {
    const { live, start, stats, starts } = setup();
    close = () => live.close();
    const s = await start();
    expect(s.delayMs).toBe(500);
    expect(s.adaptive).toMatchObject({ initialMs: 500, ceilingMs: 3000, raises: [] });
    live.onStats('clean', stats('clean', s.id, 20, false));
    expect((await live.get(s.id))!.delayMs).toBe(500); // a clean link needs less than the floor
    live.onStats('mountain', stats('mountain', s.id, 1300));
    const v = (await live.get(s.id))!;
    expect(v.delayMs).toBe(100 + 1300 + 100 + 180); // grouping (5 × 20 ms), transit p99, margin, output
    expect(v.adaptive!.raises).toEqual([expect.objectContaining({ fromMs: 500, toMs: 1680 })]);
    // The sites learn it from the start again (control and audio channels), before any frame sent further ahead.
    expect(starts(s.id).slice(-2)).toEqual([1680, 1680]);
    expect(v.siteReports.find((r) => r.siteId === 'mountain')!.link).toMatchObject({ transitP99Ms: 1300, neededMs: 1680, behind: true });
    // Another measure within 3 s waits; a site outside the stream's areas does not count.
    live.onStats('mountain', stats('mountain', s.id, 2000));
    live.onStats('elsewhere', stats('elsewhere', s.id, 5000));
    expect((await live.get(s.id))!.delayMs).toBe(1680);
  });

  it('names a site whose link needs more than the ceiling, and serves the others', async () => {
    const { live, start, stats } = setup();
    close = () => live.close();
    const s = await start({ maxDelayMs: 1000 });
    live.onStats('mountain', stats('mountain', s.id, 1300));
    const v = (await live.get(s.id))!;
    expect(v.delayMs).toBe(1000);
    expect(v.adaptive!.behind).toEqual([{ siteId: 'mountain', neededMs: 1680, reason: 'beyond_ceiling' }]);
  });

  it('a named delay is kept; the next stream starts at what the measured links need, as the preview says', async () => {
    const { live, start, stats } = setup();
    close = () => live.close();
    const fixed = await start({ delayMs: 500 });
    expect(fixed.adaptive).toMatchObject({ ceilingMs: 500 });
    live.onStats('mountain', stats('mountain', fixed.id, 1300));
    expect((await live.get(fixed.id))!.delayMs).toBe(500);
    expect((await live.get(fixed.id))!.adaptive!.behind[0]).toMatchObject({ siteId: 'mountain', reason: 'beyond_ceiling' });
    await live.stop(fixed.id, { id: 1, username: 'op' });

    const preview = live.previewDelay([COMMUNE]);
    expect(preview).toMatchObject({ delayMs: 1680, ceilingMs: 3000, adaptive: true, measured: 1, beyondCeiling: 0 });
    expect(live.previewDelay([COMMUNE], { maxDelayMs: 1000 })).toMatchObject({ delayMs: 1000, beyondCeiling: 1 });
    // Another commune's sites are not measured for this one.
    expect(live.previewDelay([OTHER])).toMatchObject({ delayMs: 500, measured: 0 });
    const next = await start();
    expect(next.delayMs).toBe(1680);
    expect(next.adaptive).toMatchObject({ initialMs: 1680, raises: [] });
  });
});
