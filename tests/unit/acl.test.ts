import { describe, expect, it } from 'vitest';
import { areaSubscriptions, authorize, SITE_TOPIC_PATTERNS, type Actor } from '../../server/fleet/acl.ts';
import { areaAudioTopic, siteTopic } from '../../protocol/index.ts';

const site: Actor = { kind: 'site', siteId: 'sim-02683-v01', areaKeys: ['2025.02683-01', '2025.02683', '2025.15'] };
const server: Actor = { kind: 'server' };

describe('ACL: what a site may publish', () => {
  it('its own state, telemetry, events and clock requests', () => {
    for (const ch of ['state', 'telemetry', 'event', 'clock'] as const) expect(authorize(site, 'publish', siteTopic('sim-02683-v01', ch))).toEqual({ allow: true });
  });
  it('not its own command topic: only the server commands a site', () => {
    const d = authorize(site, 'publish', siteTopic('sim-02683-v01', 'cmd'));
    expect(d).toEqual({ allow: false, reason: 'site sim-02683-v01 may not publish on its cmd topic' });
  });
  it('not its own time topic: only the server answers clock requests', () => {
    expect(authorize(site, 'publish', siteTopic('sim-02683-v01', 'time'))).toEqual({ allow: false, reason: 'site sim-02683-v01 may not publish on its time topic' });
    // Its own acks come from the server only: a site cannot tell itself that something was stored.
    expect(authorize(site, 'publish', siteTopic('sim-02683-v01', 'ack'))).toEqual({ allow: false, reason: 'site sim-02683-v01 may not publish on its ack topic' });
  });
  it("not another site's topics", () => {
    const d = authorize(site, 'publish', siteTopic('sim-02683-v02', 'telemetry'));
    expect(d.allow).toBe(false);
    expect(!d.allow && d.reason).toMatch(/site sim-02683-v02's topics/);
  });
  it('not audio channels, foreign roots, wildcards or extra levels', () => {
    for (const topic of [
      areaAudioTopic('2025.02683'),
      'other/v1/sites/sim-02683-v01/state',
      'loanet/v1/sites/+/state',
      'loanet/v1/sites/sim-02683-v01/state/extra',
      'loanet/v2/sites/sim-02683-v01/state',
      '',
    ]) {
      expect(authorize(site, 'publish', topic).allow, topic).toBe(false);
    }
  });
});

describe('ACL: what a site may subscribe to', () => {
  it('its own command, time, playlist, ack, config and update topics and the audio and control channels of its area and every ancestor', () => {
    // What a broker substituting the username (the site id) for %u makes of the patterns.
    const own = (patterns: readonly string[]) => patterns.map((p) => p.replace('%u', 'sim-02683-v01'));
    expect(own(SITE_TOPIC_PATTERNS.subscribe)).toEqual([
      siteTopic('sim-02683-v01', 'cmd'),
      siteTopic('sim-02683-v01', 'time'),
      siteTopic('sim-02683-v01', 'playlist'),
      siteTopic('sim-02683-v01', 'ack'),
      siteTopic('sim-02683-v01', 'config'),
      siteTopic('sim-02683-v01', 'update'),
    ]);
    expect(areaSubscriptions(['2025.02683'])).toEqual(['la/2025.02683', 'loanet/v1/areas/2025.02683/control']);
    for (const t of [...own(SITE_TOPIC_PATTERNS.subscribe), ...areaSubscriptions(site.kind === 'site' ? site.areaKeys : [])]) {
      expect(authorize(site, 'subscribe', t), t).toEqual({ allow: true });
    }
    for (const t of own(SITE_TOPIC_PATTERNS.publish)) expect(authorize(site, 'publish', t), t).toEqual({ allow: true });
  });
  it("not another site's commands, another area's audio, or any wildcard", () => {
    for (const filter of [
      siteTopic('sim-02683-v02', 'cmd'),
      areaAudioTopic('2025.02671'),
      'loanet/v1/sites/+/cmd',
      'la/+',
      'loanet/v1/areas/2025.02671/control',
      'loanet/v1/areas/+/control',
      siteTopic('sim-02683-v02', 'playlist'),
      'loanet/v1/#',
      '#',
      siteTopic('sim-02683-v01', 'telemetry'),
      siteTopic('sim-02683-v01', 'clock'),
      siteTopic('sim-02683-v02', 'time'),
      'loanet/v1/sites/+/time',
      siteTopic('sim-02683-v02', 'ack'),
      'loanet/v1/sites/+/ack',
      siteTopic('sim-02683-v02', 'config'),
      'loanet/v1/sites/+/config',
    ]) {
      expect(authorize(site, 'subscribe', filter).allow, filter).toBe(false);
    }
  });
});

describe('ACL: the server', () => {
  it('may use anything under loanet/v1/ and nothing outside it', () => {
    expect(authorize(server, 'subscribe', 'loanet/v1/sites/+/telemetry').allow).toBe(true);
    expect(authorize(server, 'publish', siteTopic('sim-02683-v01', 'cmd')).allow).toBe(true);
    expect(authorize(server, 'publish', '$SYS/broker').allow).toBe(false);
  });
});
