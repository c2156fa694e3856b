/**
 * The live delay budget (server/live/delay-budget.ts) and how the server's
 * configuration derives a stream's default delay from it.
 */
import { describe, expect, it } from 'vitest';
import { jitterMarginMs, liveDelayMs, DEFAULT_LIVE_JITTER_MS, DEFAULT_LIVE_OUTPUT_MS, DEFAULT_LIVE_PACKETS, LIVE_PACING_MS } from '../../server/live/delay-budget.ts';
import { loadConfig } from '../../server/config.ts';
import { DEFAULT_OUTPUT_BUFFER_MS } from '../../edge-agent/audio/types.ts';
import { DeviceSink } from '../../edge-agent/audio/sinks/device.ts';
import { AlsaSink } from '../../edge-agent/audio/sinks/alsa.ts';

const base = { packetsPerMessage: DEFAULT_LIVE_PACKETS, frameMs: 20, pacingMs: LIVE_PACING_MS, outputMs: DEFAULT_LIVE_OUTPUT_MS };
/** The engine writes `sink latency + 40 ms` ahead (edge-agent/playout/timeline.ts batchMs). */
const ENGINE_BATCH_MS = 40;

describe('live delay budget', () => {
  it('is the sum of grouping, pacing, jitter target and output write-ahead: 500 ms by default, 5 packets a message and a 210 ms jitter target', () => {
    expect(DEFAULT_LIVE_PACKETS).toBe(5);
    expect(DEFAULT_LIVE_JITTER_MS).toBe(210);
    expect(liveDelayMs({ ...base, jitterMs: DEFAULT_LIVE_JITTER_MS })).toBe(100 + 10 + 210 + 180);
    expect(liveDelayMs({ ...base, jitterMs: 100, packetsPerMessage: 1 })).toBe(20 + 10 + 100 + 180);
    expect(() => liveDelayMs({ ...base, jitterMs: -1 })).toThrow(/jitterMs/);
  });

  it('leaves every default agent output at least the 210 ms jitter target', () => {
    const delay = liveDelayMs({ ...base, jitterMs: DEFAULT_LIVE_JITTER_MS });
    const device = new DeviceSink({ sendAudio: async () => ({ heard: 0 }), flushAudio: async () => ({ dropped: 0 }) }, { batchFrames: DEFAULT_OUTPUT_BUFFER_MS / 20 });
    const alsa = new AlsaSink({ device: 'null' });
    // The simulated amplifier is the slowest default output: the allowance is sized for it.
    expect(device.latencyMs + ENGINE_BATCH_MS).toBe(DEFAULT_LIVE_OUTPUT_MS);
    for (const sink of [device, alsa]) {
      expect(jitterMarginMs(delay, { ...base, outputMs: sink.latencyMs + ENGINE_BATCH_MS })).toBeGreaterThanOrEqual(DEFAULT_LIVE_JITTER_MS);
    }
    // The old 200 ms buffer would have left less than the target.
    expect(jitterMarginMs(delay, { ...base, outputMs: 200 + 60 + ENGINE_BATCH_MS })).toBeLessThan(DEFAULT_LIVE_JITTER_MS);
  });

  it('server configuration: derived by default, each part and the whole overridable, bad values named', () => {
    expect(loadConfig({}).live).toMatchObject({ delayMs: 500, jitterMs: 210, outputMs: 180, packetsPerMessage: 5 });
    expect(loadConfig({ LOANET_LIVE_JITTER_MS: '120' }).live.delayMs).toBe(410);
    expect(loadConfig({ LOANET_LIVE_OUTPUT_MS: '140', LOANET_LIVE_PACKETS: '2' }).live.delayMs).toBe(40 + 10 + 210 + 140);
    expect(loadConfig({ LOANET_LIVE_DELAY_MS: '300' }).live.delayMs).toBe(300);
    expect(() => loadConfig({ LOANET_LIVE_JITTER_MS: 'fast' })).toThrow(/LOANET_LIVE_JITTER_MS/);
    // The adaptive delay's ceiling: 3 s by default, 0 fixes every stream's delay.
    expect(loadConfig({}).live.maxDelayMs).toBe(3000);
    expect(loadConfig({ LOANET_LIVE_MAX_DELAY_MS: '0' }).live.maxDelayMs).toBe(0);
    expect(() => loadConfig({ LOANET_LIVE_MAX_DELAY_MS: '20000' })).toThrow(/LOANET_LIVE_MAX_DELAY_MS/);
  });
});
