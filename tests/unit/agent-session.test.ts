/**
 * The agent's two message boundaries, without a broker: where a received
 * topic goes (one route per downlink channel and area channel; another
 * site's topics go nowhere), and the check every outgoing message passes
 * (one protocol/ schema per uplink channel; a refusal names the message and
 * the field).
 */
import { describe, expect, it } from 'vitest';
import { PROTOCOL_VERSION, areaAudioTopic, areaControlTopic, siteTopic, type ClockRequest, type SiteStateMessage } from '../../protocol/index.ts';
import { inboundRoute } from '../../edge-agent/session/inbound.ts';
import { checkUplink } from '../../edge-agent/session/uplink.ts';

const SITE = 'sim-02683-v01';

describe('inbound routes', () => {
  it("route the site's own downlink channels and any area's control and audio channels", () => {
    expect(inboundRoute(SITE, siteTopic(SITE, 'cmd'))).toBe('cmd');
    expect(inboundRoute(SITE, siteTopic(SITE, 'time'))).toBe('time');
    expect(inboundRoute(SITE, siteTopic(SITE, 'playlist'))).toBe('playlist');
    expect(inboundRoute(SITE, siteTopic(SITE, 'ack'))).toBe('ack');
    expect(inboundRoute(SITE, areaControlTopic('2025.02683'))).toBe('area-control');
    expect(inboundRoute(SITE, areaAudioTopic('2025.15'))).toBe('area-audio');
  });

  it("send nowhere another site's topics, the site's own uplink channels and foreign topics", () => {
    expect(inboundRoute(SITE, siteTopic('sim-02683-v02', 'cmd'))).toBeUndefined();
    expect(inboundRoute(SITE, siteTopic(SITE, 'state'))).toBeUndefined();
    expect(inboundRoute(SITE, siteTopic(SITE, 'telemetry'))).toBeUndefined();
    expect(inboundRoute(SITE, 'loanet/v2/sites/sim-02683-v01/cmd')).toBeUndefined();
    expect(inboundRoute(SITE, 'zigbee2mqtt/bridge/request')).toBeUndefined();
  });
});

describe('the uplink check', () => {
  it('encodes a valid message for its channel', () => {
    const state: SiteStateMessage = { v: PROTOCOL_VERSION, siteId: SITE, state: 'online', at: 1_795_000_000_000 };
    const checked = checkUplink('state', state);
    expect(checked.ok && JSON.parse(checked.payload.toString('utf8'))).toEqual(state);
  });

  it('refuses an invalid one, naming the message and the field', () => {
    const request = { v: PROTOCOL_VERSION, siteId: SITE, id: -1, t0: 1 } as ClockRequest;
    const checked = checkUplink('clock', request);
    expect(checked.ok).toBe(false);
    expect(!checked.ok && checked.problem).toMatch(/^bug: not publishing invalid clock request: .*\/id/);
  });

  it('names an event by its type', () => {
    const fault = { v: PROTOCOL_VERSION, siteId: SITE, at: 1_795_000_000_000, type: 'fault', device: 'amp', fault: '' } as const;
    const checked = checkUplink('event', { ...fault, fault: 'x'.repeat(65) });
    expect(!checked.ok && checked.problem).toMatch(/^bug: not publishing invalid fault event: /);
  });
});
