import { describe, expect, it } from 'vitest';
import { DeviceSink, type DeviceAudioLink } from '../../edge-agent/audio/sinks/device.ts';
import { FRAME_MS, FRAME_SAMPLES } from '../../edge-agent/audio/types.ts';

/** A link that records what the sink sends and answers at once (every frame heard). */
function recordingLink() {
  const sent: Array<{ session: number; seq: number; playAt: number; frames: number }> = [];
  const flushes: Array<{ session: number; fromSeq: number }> = [];
  const link: DeviceAudioLink = {
    sendAudio: async (b) => {
      sent.push({ session: b.session, seq: b.seq, playAt: b.playAt, frames: b.levels.length });
      return { heard: b.levels.length };
    },
    flushAudio: async (session, fromSeq) => {
      flushes.push({ session, fromSeq });
      return { dropped: 0 };
    },
  };
  return { link, sent, flushes };
}

const frame = () => new Int16Array(FRAME_SAMPLES).fill(1000);

describe('device sink batching', () => {
  it('sends full batches of consecutive frames, and splits at a jump in play-at', async () => {
    const { link, sent } = recordingLink();
    const clock = { t: 0 };
    const sink = new DeviceSink(link, { batchFrames: 5, sendAheadMs: 20, now: () => clock.t });
    expect(sink.latencyMs).toBe(5 * FRAME_MS + 20);
    await sink.open();
    for (let k = 0; k < 12; k++) await sink.write(frame(), 1000 + k * FRAME_MS);
    await sink.write(frame(), 5000); // a new programme later: the 2 pending frames leave first
    await sink.close();
    expect(sent.map((b) => [b.seq, b.playAt, b.frames])).toEqual([
      [0, 1000, 5],
      [5, 1100, 5],
      [10, 1200, 2],
      [12, 5000, 1],
    ]);
    expect(new Set(sent.map((b) => b.session)).size).toBe(1);
    expect(sink.heardFrames).toBe(13);
  });

  it('on flush withdraws from the first frame not yet due, and drops what was not sent', async () => {
    const { link, sent, flushes } = recordingLink();
    const clock = { t: 0 };
    const sink = new DeviceSink(link, { batchFrames: 5, sendAheadMs: 20, now: () => clock.t });
    await sink.open();
    for (let k = 0; k < 8; k++) await sink.write(frame(), 100 + k * FRAME_MS); // 5 sent, 3 pending
    clock.t = 150; // frames 0..2 (100, 120, 140) are due; 3 and 4 were sent ahead; 5..7 never left
    await sink.flush();
    expect(flushes).toEqual([{ session: sent[0]!.session, fromSeq: 3 }]);
    expect(sink.stats().framesFlushed).toBe(2 + 3);
    await sink.close();
    expect(sent).toHaveLength(1);
  });

  it("a new open is a new session, so the device cannot mix two programmes' frames", async () => {
    const { link, sent } = recordingLink();
    const sink = new DeviceSink(link, { batchFrames: 1, now: () => 0 });
    await sink.open();
    await sink.write(frame(), 100);
    await sink.close();
    await sink.open();
    await sink.write(frame(), 200);
    await sink.close();
    expect(sent[0]!.session).not.toBe(sent[1]!.session);
    expect(sent.map((b) => b.seq)).toEqual([0, 0]);
  });

  it('counts batches the device did not answer', async () => {
    const sink = new DeviceSink(
      { sendAudio: async () => Promise.reject(new Error('device lc-1 is not connected')), flushAudio: async () => ({ dropped: 0 }) },
      { batchFrames: 1, now: () => 0 },
    );
    await sink.open();
    await sink.write(frame(), 100);
    await sink.close();
    expect(sink.failedBatches).toBe(1);
    expect(sink.error).toMatch(/not connected/);
  });
});
