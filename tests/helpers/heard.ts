/**
 * What a simulated amplifier's speakers heard, read in a way that holds on
 * any machine: every frame heard once, stretch after stretch in time order,
 * none overlapping another. Whether it came out as one unbroken stretch is a
 * timing property: an agent starved of CPU on a loaded machine sends a frame
 * after its time and the amplifier fills the wait with silence (heard 18 + 82
 * of 100 frames under the stress load). The timing group's files, which run
 * alone, and the playout-accuracy bench hold the continuity.
 */
import { expect } from 'vitest';
import type { AmplifierRecordSnapshot, PlayedRun } from '../../firmware-sim/amplifier-record.ts';

/**
 * Asserts that the stretches heard from `from` on (agent-clock play-at; 0:
 * all the record keeps) hold `frames` frames in all, in order and without
 * overlap. Returns those stretches.
 */
export function expectHeardOnceInOrder(played: AmplifierRecordSnapshot, frames: number, from = 0): PlayedRun[] {
  const heard = played.runs.filter((r) => r.heardFrames > 0 && r.firstHeardAt! >= from);
  const described = JSON.stringify(heard.map((r) => ({ heard: r.heardFrames, from: r.firstHeardAt, to: r.lastHeardAt, session: r.session, seq: [r.firstSeq, r.lastSeq] })));
  expect(
    heard.reduce((n, r) => n + r.heardFrames, 0),
    `frames heard in ${described}`,
  ).toBe(frames);
  for (let i = 1; i < heard.length; i++) {
    const before = heard[i - 1]!;
    const after = heard[i]!;
    // A later stretch starts after the frame that ended the one before: a frame is never heard over another.
    expect(after.firstHeardAt!, `stretch ${i} of ${described}`).toBeGreaterThanOrEqual(before.lastHeardAt! + before.frameMs);
    if (after.session === before.session) expect(after.firstSeq, `stretch ${i} of ${described}`).toBeGreaterThan(before.lastSeq);
  }
  return heard;
}
