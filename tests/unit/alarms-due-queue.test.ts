import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import '../helpers/fast-check-seed.ts';
import { DueQueue } from '../../server/alarms/due-queue.ts';

type Op = { op: 'set'; key: number; at: number | null } | { op: 'take'; at: number } | { op: 'peek' };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ op: fc.constant('set' as const), key: fc.nat(30), at: fc.option(fc.nat(100), { freq: 5 }) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('take' as const), at: fc.nat(100) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('peek' as const) }) },
);

describe('the due queue answers as a scan of every key would', () => {
  it('peek is the earliest time, takeDue gives every key due by then in time order and forgets them', () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 3000 }), (ops) => {
        const q = new DueQueue();
        const model = new Map<string, number>();
        for (const o of ops) {
          if (o.op === 'set') {
            q.set(`k${o.key}`, o.at);
            if (o.at === null) model.delete(`k${o.key}`);
            else model.set(`k${o.key}`, o.at);
          } else if (o.op === 'take') {
            const due = [...model].filter(([, t]) => t <= o.at);
            const taken = q.takeDue(o.at);
            expect(new Set(taken)).toEqual(new Set(due.map(([k]) => k)));
            expect(taken).toHaveLength(due.length);
            const times = taken.map((k) => model.get(k)!);
            expect(times).toEqual([...times].sort((a, b) => a - b));
            for (const k of taken) model.delete(k);
          }
          const min = model.size === 0 ? null : Math.min(...model.values());
          expect(q.peek()).toBe(min);
          expect(q.size).toBe(model.size);
          for (const [k, t] of model) expect(q.get(k)).toBe(t);
        }
      }),
      { numRuns: 60 },
    );
  });

  it('keys whose times move back and forth many times (a flapping fleet) are each taken once', () => {
    const q = new DueQueue();
    for (let round = 0; round < 50; round++) for (let k = 0; k < 100; k++) q.set(`k${k}`, round % 2 === 0 ? 10 + k : 500 + k);
    // The last round set the late times: nothing due by 499, then all 100 once.
    expect(q.takeDue(499)).toEqual([]);
    const taken = q.takeDue(10_000);
    expect(taken).toEqual(Array.from({ length: 100 }, (_, k) => `k${k}`));
    expect(q.peek()).toBeNull();
  });
});
