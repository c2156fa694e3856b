/**
 * The health check's "the village can be heard" (issue 17): a tone played
 * through the amplifier and heard by the monitoring microphone at or above
 * the site's threshold; a board without a microphone plays the tone and
 * reads its speaker lines, which must all be supervised ok. The amplifier is
 * switched on for it and back off when it was off.
 */
import type { DeviceGateway } from '../devices/gateway.ts';

const TONE = { hz: 1000, durationMs: 2000 } as const;
const TONE_LEVEL = 60;

export async function updateSoundCheck(gateway: DeviceGateway, thresholdDb: number): Promise<{ ok: boolean; detail: string }> {
  const before = await gateway.status();
  const wasOn = before.amplifier?.on ?? true;
  const tone = { ...TONE, level: before.amplifier?.volume ?? TONE_LEVEL };
  if (!wasOn) await gateway.setAmplifier(true);
  try {
    if (before.monitorMic) {
      const { levelDb } = await gateway.soundCheck(tone);
      if (levelDb === null) return { ok: false, detail: 'the monitoring microphone measured nothing' };
      return levelDb >= thresholdDb
        ? { ok: true, detail: `heard at ${levelDb.toFixed(1)} dB (threshold ${thresholdDb} dB)` }
        : { ok: false, detail: `heard at ${levelDb.toFixed(1)} dB, below the threshold of ${thresholdDb} dB` };
    }
    await gateway.playTestTone(tone);
    const after = await gateway.status();
    if (after.amplifier?.fault && after.amplifier.fault !== 'none') return { ok: false, detail: `amplifier fault ${after.amplifier.fault} after the test tone` };
    if (after.lines.length === 0) return { ok: false, detail: 'no monitoring microphone and no supervised speaker line to tell that sound came out' };
    const bad = after.lines.filter((l) => l.status !== 'ok');
    return bad.length === 0
      ? { ok: true, detail: `test tone played; ${after.lines.length} speaker line(s) supervised ok` }
      : { ok: false, detail: `speaker line(s) ${bad.map((l) => `${l.id} ${l.status}`).join(', ')} after the test tone` };
  } finally {
    if (!wasOn) await gateway.setAmplifier(false).catch(() => {});
  }
}
