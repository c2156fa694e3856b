/**
 * Every example in docs/protocol.md fenced as ```json <name> is a message the
 * named decoder accepts: the documentation cannot drift from the contract.
 * A fence with an unknown name fails too (a typo would otherwise skip it).
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  decodeAlertControl,
  decodeAudioControl,
  decodeClockRequest,
  decodeClockResponse,
  decodeCommand,
  decodeEvent,
  decodeEventAck,
  decodePlaylist,
  decodeSiteConfig,
  decodeState,
  decodeTelemetry,
  decodeUpdateOrder,
  MAX_PLAYLIST_BYTES,
  type PayloadDecoder,
} from '../../protocol/index.ts';

const DOC = path.resolve(import.meta.dirname, '../../docs/protocol.md');

const DECODERS: Record<string, { decoder: PayloadDecoder<unknown>; maxBytes?: number }> = {
  state: { decoder: decodeState },
  telemetry: { decoder: decodeTelemetry },
  event: { decoder: decodeEvent },
  cmd: { decoder: decodeCommand },
  playlist: { decoder: decodePlaylist, maxBytes: MAX_PLAYLIST_BYTES },
  'clock-request': { decoder: decodeClockRequest },
  'clock-response': { decoder: decodeClockResponse },
  'audio-control': { decoder: decodeAudioControl },
  'alert-control': { decoder: decodeAlertControl },
  ack: { decoder: decodeEventAck },
  config: { decoder: decodeSiteConfig },
  update: { decoder: decodeUpdateOrder },
};

function examples(): Array<{ name: string; line: number; text: string }> {
  const lines = fs.readFileSync(DOC, 'utf8').split('\n');
  const out: Array<{ name: string; line: number; text: string }> = [];
  for (let i = 0; i < lines.length; i++) {
    const m = /^```json (\S+)\s*$/.exec(lines[i]!);
    if (!m) continue;
    const start = i + 1;
    let j = start;
    while (j < lines.length && !lines[j]!.startsWith('```')) j++;
    out.push({ name: m[1]!, line: start, text: lines.slice(start, j).join('\n') });
    i = j;
  }
  return out;
}

describe('docs/protocol.md examples', () => {
  const all = examples();

  it('has named examples, playlists and as_run receipts among them', () => {
    expect(all.length).toBeGreaterThan(10);
    expect(all.some((e) => e.name === 'playlist')).toBe(true);
    expect(all.some((e) => e.name === 'event' && e.text.includes('"as_run"'))).toBe(true);
  });

  it.each(all.map((e) => [`${e.name} at line ${e.line}`, e] as const))('%s is accepted by its decoder', (_label, e) => {
    const d = DECODERS[e.name];
    expect(d, `unknown example name "${e.name}" at docs/protocol.md:${e.line}; known: ${Object.keys(DECODERS).join(', ')}`).toBeDefined();
    const r = d!.decoder.decode(e.text, d!.maxBytes);
    expect(r.ok ? 'ok' : r.error.reason, `docs/protocol.md:${e.line}`).toBe('ok');
  });
});
