import { describe, expect, it } from 'vitest';
import { judgeCanary, judgeReconnect, paceDelayMs } from '../../server/fleet/retained-recovery.ts';

const ours = { epoch: 'e1', seq: 5, uncovered: false };
const canary = (epoch: string, seq: number) => ({ v: 1 as const, epoch, seq, at: 0 });

describe('judgeCanary', () => {
  it('intact when the broker holds our last acknowledged canary or a newer one', () => {
    expect(judgeCanary(ours, canary('e1', 5))).toBe('intact');
    expect(judgeCanary(ours, canary('e1', 6))).toBe('intact');
  });
  it('lost when the canary is missing, older, or from another server process', () => {
    expect(judgeCanary(ours, null)).toBe('lost');
    expect(judgeCanary(ours, canary('e1', 4))).toBe('lost');
    expect(judgeCanary(ours, canary('e0', 99))).toBe('lost');
  });
  it('lost when retained messages were acknowledged after the last acknowledged canary was sent', () => {
    expect(judgeCanary({ ...ours, uncovered: true }, canary('e1', 5))).toBe('lost');
  });
  it('unknown before any canary of ours was acknowledged', () => {
    expect(judgeCanary({ epoch: 'e1', seq: 0, uncovered: false }, null)).toBe('unknown');
  });
});

describe('judgeReconnect', () => {
  it('a new session, or retained messages no canary covers, means lost; else read the canary back', () => {
    expect(judgeReconnect(false, false)).toBe('lost');
    expect(judgeReconnect(true, true)).toBe('lost');
    expect(judgeReconnect(true, false)).toBe('check');
  });
});

describe('paceDelayMs', () => {
  it('spaces publishes at the rate from the start, catching up after a slow stretch', () => {
    expect(paceDelayMs(0, 1000, 1000, 300)).toBe(0);
    expect(paceDelayMs(300, 1000, 1000, 300)).toBe(1000);
    expect(paceDelayMs(300, 1000, 1500, 300)).toBe(500);
    expect(paceDelayMs(300, 1000, 5000, 300)).toBe(0);
    expect(paceDelayMs(10, 0, 0, 0)).toBe(0);
  });
});
