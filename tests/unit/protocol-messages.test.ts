import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { decodeCommand, decodeEvent, decodeState, decodeTelemetry, encodeJson, parseTopic, siteTopic, areaAudioTopic, MAX_JSON_PAYLOAD_BYTES } from '../../protocol/index.ts';

const telemetry = {
  v: 1,
  siteId: 'sim-02683-v01',
  at: 1_795_000_000_000,
  seq: 7,
  intervalS: 30,
  uptimeS: 3600,
  versions: { agent: '0.1.0', protocol: 1, firmware: 'loanet-fw 1.4.0' },
  link: { type: '4g', signalDbm: -95, operator: 'Viettel' },
  power: { source: 'mains', mainsOk: true, batteryPct: 100 },
  amplifier: { on: false, volume: 70, fault: 'none', temperatureC: 31 },
  lines: [{ id: 1, status: 'ok', impedanceOhm: 16.2, nominalOhm: 16 }],
  temperatureC: 44,
  clockOffsetMs: null,
  devices: [{ id: 'controller', kind: 'controller', reachable: true }],
  monitorMic: true,
  lastSoundCheck: null,
};

describe('payload decoding at the boundary', () => {
  it('accepts a valid heartbeat', () => {
    expect(decodeTelemetry.decode(encodeJson(telemetry))).toEqual({ ok: true, value: telemetry });
  });
  it('refuses an unknown protocol version with a reason', () => {
    const d = decodeTelemetry.decode(encodeJson({ ...telemetry, v: 2 }));
    expect(d).toEqual({ ok: false, error: { code: 'unknown_version', reason: 'telemetry: unsupported protocol version 2; this side speaks 1' } });
    expect(decodeState.decode('{"state":"online"}')).toMatchObject({ ok: false, error: { code: 'unknown_version' } });
  });
  it('names the field that breaks the schema', () => {
    const d = decodeTelemetry.decode(encodeJson({ ...telemetry, power: { ...telemetry.power, batteryPct: 140 } }));
    expect(d.ok).toBe(false);
    expect(!d.ok && d.error.reason).toMatch(/\/power\/batteryPct/);
    const c = decodeCommand.decode(encodeJson({ v: 1, id: 'cmd-12345678', siteId: 'sim-02683-v01', issuedAt: 1, expiresAt: 2, type: 'set_volume', params: { level: 101 } }));
    expect(!c.ok && c.error.reason).toMatch(/\/params\/level/);
    const e = decodeEvent.decode(encodeJson({ v: 1, siteId: 'sim-02683-v01', at: 1, type: 'gossip' }));
    expect(!e.ok && e.error.reason).toMatch(/\/type: must be one of cmd_result, fault, fault_cleared, sound_check/);
  });
  it('refuses oversized payloads before parsing them', () => {
    expect(decodeTelemetry.decode(Buffer.alloc(MAX_JSON_PAYLOAD_BYTES + 1, 32))).toMatchObject({ ok: false, error: { code: 'too_large' } });
  });
  it('never throws, whatever bytes arrive', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), (bytes) => {
        for (const d of [decodeState, decodeTelemetry, decodeEvent, decodeCommand]) expect(d.decode(bytes).ok).toBe(false);
      }),
    );
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        for (const d of [decodeState, decodeTelemetry, decodeEvent, decodeCommand]) d.decode(JSON.stringify(v) ?? 'null');
      }),
    );
  });
});

describe('topics', () => {
  it('round-trip through the one builder and parser', () => {
    expect(parseTopic(siteTopic('sim-02683-v01', 'telemetry'))).toEqual({ kind: 'site', siteId: 'sim-02683-v01', channel: 'telemetry' });
    expect(parseTopic(areaAudioTopic('2025.02683-01'))).toEqual({ kind: 'area-audio', areaKey: '2025.02683-01' });
  });
  it('refuse ids that could smuggle wildcards or levels into a topic', () => {
    for (const bad of ['a/b', '+', '#', 'Upper', '', '-x', 'x'.repeat(65)]) expect(() => siteTopic(bad, 'cmd'), bad).toThrow(/invalid site id/);
    for (const t of ['loanet/v1/sites/+/state', 'loanet/v2/sites/a/state', 'loanet/v1/sites/a/state/x', 'loanet/v1/sites/a/unknown']) expect(parseTopic(t), t).toBeUndefined();
  });
});
