/**
 * Rollout decisions (server/updates/rollout.ts): waves from a canary and
 * growing shares, the next wave only at the success threshold, a stop at the
 * error threshold once enough sites finished, and no site started while it
 * plays, just before its broadcast, in excluded hours, or over the limit.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { planWaves, rolloutSpecProblem, stepRollout, type RolloutProgress, type RolloutSpec, type SiteNow, type SiteRolloutState } from '../../server/updates/rollout.ts';

const sites = (n: number) => Array.from({ length: n }, (_, i) => `lc-${String(i + 1).padStart(4, '0')}`);
const spec = (over: Partial<RolloutSpec> = {}): RolloutSpec => ({
  id: 'r1',
  waves: [
    { name: 'canary', sites: ['lc-0001', 'lc-0002', 'lc-0003'] },
    { name: '5 %', percent: 5 },
    { name: '25 %', percent: 25 },
    { name: 'all', percent: 100 },
  ],
  successThreshold: 0.9,
  errorThreshold: 0.05,
  minFinished: 5,
  onError: 'pause',
  maxInFlight: 1000,
  broadcastMarginMs: 10 * 60_000,
  ...over,
});
// 2026-12-05 10:00 in Vietnam.
const NOON = Date.UTC(2026, 11, 5, 3, 0);
const running: RolloutProgress = { status: 'running', wave: 0 };
function fleet(ids: readonly string[], state: (id: string) => SiteRolloutState = () => 'waiting', extra: Partial<SiteNow> = {}): Map<string, SiteNow> {
  return new Map(ids.map((id) => [id, { siteId: id, state: state(id), online: true, playing: false, nextBroadcastAt: null, ...extra }]));
}

describe('planWaves', () => {
  it('puts every target in exactly one wave, the canary first, the shares reached', () => {
    const t = sites(200);
    const w = planWaves(spec(), t);
    expect(w[0]).toEqual(['lc-0001', 'lc-0002', 'lc-0003']);
    expect(w.map((x) => x.length)).toEqual([3, 7, 40, 150]);
    expect(new Set(w.flat()).size).toBe(200);
  });

  it('is the same plan for the same rollout, another for another, never alphabetical', () => {
    const t = sites(100);
    expect(planWaves(spec(), t)).toEqual(planWaves(spec(), [...t].reverse()));
    expect(planWaves(spec({ id: 'r2' }), t)[1]).not.toEqual(planWaves(spec(), t)[1]);
    expect(planWaves(spec(), t)[1]).not.toEqual(t.slice(3, 8));
  });

  it('for any fleet and shares: each target at most once, and none outside the targets', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 300 }), fc.array(fc.integer({ min: 1, max: 100 }), { minLength: 1, maxLength: 5 }), (n, shares) => {
        const t = sites(n);
        const sorted = [...shares].sort((a, b) => a - b);
        const w = planWaves(spec({ waves: [{ name: 'c', sites: ['lc-0002', 'nowhere'] }, ...sorted.map((p) => ({ name: `${p}`, percent: p }))] }), t);
        const all = w.flat();
        expect(new Set(all).size).toBe(all.length);
        expect(all.every((s) => t.includes(s))).toBe(true);
        expect(all.length).toBe(Math.max(Math.ceil((n * sorted.at(-1)!) / 100), n >= 2 ? 1 : 0));
      }),
    );
  });

  it('refuses specs that cannot run, naming the field', () => {
    expect(rolloutSpecProblem(spec())).toBeNull();
    expect(rolloutSpecProblem(spec({ waves: [] }))).toMatch(/^waves/);
    expect(
      rolloutSpecProblem(
        spec({
          waves: [
            { name: 'x', percent: 50 },
            { name: 'y', percent: 20 },
          ],
        }),
      ),
    ).toMatch(/waves\.1\.percent: the shares grow/);
    expect(rolloutSpecProblem(spec({ waves: [{ name: 'x', percent: 50, sites: ['a'] }] }))).toMatch(/either sites or percent/);
    expect(rolloutSpecProblem(spec({ errorThreshold: 1.5 }))).toMatch(/^errorThreshold/);
    expect(rolloutSpecProblem(spec({ excludedHours: [{ from: '25:00', to: '06:00' }] }))).toMatch(/^excludedHours\.0/);
  });
});

describe('stepRollout', () => {
  const t = sites(200);
  const s = spec();
  const w = planWaves(s, t);

  it('starts the canary only; the next wave waits for its success threshold', () => {
    const step = stepRollout(s, w, running, fleet(t), NOON);
    expect(step).toMatchObject({ status: 'running', wave: 0 });
    expect(step.start.sort()).toEqual(['lc-0001', 'lc-0002', 'lc-0003']);
    const two = stepRollout(
      s,
      w,
      running,
      fleet(t, (id) => (w[0]!.slice(0, 2).includes(id) ? 'updated' : w[0]!.includes(id) ? 'installing' : 'waiting')),
      NOON,
    );
    expect(two).toMatchObject({ wave: 0, start: [] });
    const all = stepRollout(
      s,
      w,
      running,
      fleet(t, (id) => (w[0]!.includes(id) ? 'updated' : 'waiting')),
      NOON,
    );
    // The reason is a code with its names, never a sentence: the console words it.
    expect(all).toMatchObject({ wave: 1, reason: { code: 'success_threshold', params: { wave: 'canary', next: '5 %' } } });
    expect(all.start.sort()).toEqual([...w[1]!].sort());
  });

  it('a wave past its error threshold, after enough finished, stops the rollout: paused, or aborted', () => {
    const failedTwo = (id: string): SiteRolloutState =>
      w[0]!.includes(id) ? 'updated' : w[1]![0] === id || w[1]![1] === id ? 'failed' : w[1]!.slice(2, 5).includes(id) ? 'updated' : 'waiting';
    const p: RolloutProgress = { status: 'running', wave: 1 };
    expect(stepRollout(s, w, p, fleet(t, failedTwo), NOON)).toMatchObject({
      status: 'paused',
      wave: 1,
      start: [],
      reason: { code: 'error_threshold', params: { wave: '5 %', failed: 2, finished: 5, thresholdPct: 5 } },
    });
    // A threshold whose percentage a float cannot write (0.07 × 100) is sent rounded to one decimal.
    expect(stepRollout(spec({ errorThreshold: 0.07 }), w, p, fleet(t, failedTwo), NOON).reason).toEqual({
      code: 'error_threshold',
      params: { wave: '5 %', failed: 2, finished: 5, thresholdPct: 7 },
    });
    expect(stepRollout(spec({ onError: 'abort' }), w, p, fleet(t, failedTwo), NOON)).toMatchObject({ status: 'aborted' });
    // Below minFinished the first failure stops nothing.
    const oneFailed = (id: string): SiteRolloutState => (w[0]!.includes(id) ? 'updated' : w[1]![0] === id ? 'failed' : 'waiting');
    expect(stepRollout(s, w, p, fleet(t, oneFailed), NOON)).toMatchObject({ status: 'running' });
    // A paused rollout starts nothing until it is resumed.
    expect(stepRollout(s, w, { status: 'paused', wave: 1 }, fleet(t), NOON)).toMatchObject({ status: 'paused', start: [] });
  });

  it('holds a site that plays, that broadcasts soon, that is offline, in excluded hours, and over the in-flight limit', () => {
    const canary = w[0]!;
    const f = fleet(t);
    f.set(canary[0]!, { ...f.get(canary[0]!)!, playing: true });
    f.set(canary[1]!, { ...f.get(canary[1]!)!, nextBroadcastAt: NOON + 5 * 60_000 });
    f.set(canary[2]!, { ...f.get(canary[2]!)!, online: false });
    expect(stepRollout(s, w, running, f, NOON)).toMatchObject({
      start: [],
      held: [
        { siteId: canary[0], why: 'playing' },
        { siteId: canary[1], why: 'broadcast_soon' },
        { siteId: canary[2], why: 'offline' },
      ],
    });
    // The morning broadcast hours (Vietnam time) exclude every start.
    const morning = spec({ excludedHours: [{ from: '09:30', to: '10:30' }] });
    expect(stepRollout(morning, w, running, fleet(t), NOON)).toMatchObject({ start: [], held: canary.map((id) => ({ siteId: id, why: 'excluded_hours' })) });
    expect(stepRollout(spec({ excludedHours: [{ from: '22:00', to: '05:00' }] }), w, running, fleet(t), NOON).start).toHaveLength(3);
    // At most maxInFlight installing at once, counting those already installing.
    const limited = spec({ maxInFlight: 2 });
    const one = fleet(t, (id) => (id === canary[0] ? 'installing' : 'waiting'));
    expect(stepRollout(limited, w, running, one, NOON)).toMatchObject({ start: [canary[1]], held: [{ siteId: canary[2], why: 'in_flight_limit' }] });
  });

  it('completes when the last wave reached its threshold and nothing is left installing or waiting', () => {
    const last = { status: 'running', wave: 3 } as const;
    const done = fleet(t, (id) => (id === w[3]![0] ? 'failed' : 'updated'));
    expect(stepRollout(spec({ minFinished: 1000 }), w, last, done, NOON)).toMatchObject({ status: 'completed', reason: { code: 'completed', params: {} } });
    const straggler = fleet(t, (id) => (id === w[3]![0] ? 'installing' : 'updated'));
    expect(stepRollout(s, w, last, straggler, NOON)).toMatchObject({ status: 'running', start: [] });
  });

  it('200 sites with 8 % failing their update: the rollout stops at the error threshold, and no site outside the started waves was started', () => {
    const failing = new Set(t.filter((_, i) => i % 12 === 5)); // 17 sites, 8.5 %
    const state = new Map<string, SiteRolloutState>(t.map((id) => [id, 'waiting']));
    let progress: RolloutProgress = running;
    const started = new Set<string>();
    for (let round = 0; round < 20; round++) {
      const step = stepRollout(
        s,
        w,
        progress,
        fleet(t, (id) => state.get(id)!),
        NOON,
      );
      progress = { status: step.status, wave: step.wave };
      if (step.status !== 'running') break;
      // Every started site finishes before the next step: updated, or failed if it is one of the failing.
      for (const id of step.start) {
        started.add(id);
        state.set(id, failing.has(id) ? 'failed' : 'updated');
      }
    }
    expect(progress.status).toBe('paused');
    const startedWaves = w.slice(0, progress.wave + 1).flat();
    expect([...started].every((id) => startedWaves.includes(id))).toBe(true);
    expect(
      w
        .slice(progress.wave + 1)
        .flat()
        .some((id) => started.has(id)),
    ).toBe(false);
  });
});
