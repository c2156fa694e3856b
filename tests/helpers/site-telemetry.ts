/**
 * A plain heartbeat of a healthy cluster on mains, without a monitoring
 * microphone (so it is judged by its telemetry alone): what a test that acts
 * as a site over a raw MQTT client publishes on sites/{id}/telemetry.
 */
import { PROTOCOL_VERSION, type TelemetryMessage } from '../../protocol/index.ts';

export function healthyTelemetry(siteId: string, seq: number, over: Partial<TelemetryMessage> = {}): TelemetryMessage {
  return {
    v: PROTOCOL_VERSION,
    siteId,
    at: Date.now(),
    seq,
    intervalS: 30,
    uptimeS: 60 + seq,
    versions: { agent: '0.0.9', protocol: PROTOCOL_VERSION },
    link: { type: '4g', signalDbm: -70 },
    power: { source: 'mains', mainsOk: true, batteryPct: null },
    amplifier: { on: false, volume: 70, fault: 'none', temperatureC: 30 },
    lines: [],
    temperatureC: null,
    clockOffsetMs: 0,
    devices: [],
    monitorMic: false,
    canPlay: true,
    lastSoundCheck: null,
    ...over,
  };
}
