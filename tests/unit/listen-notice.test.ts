/** The start-up notice of what is exposed (server/listen-notice.ts). */
import { describe, expect, it } from 'vitest';
import { isLoopbackHost, listenNotice } from '../../server/listen-notice.ts';

describe('listenNotice', () => {
  it('the defaults: both on every interface, what each asks of a stranger, no TLS, how to bind to loopback', () => {
    const n = listenNotice({ httpHost: '0.0.0.0', httpPort: 8080, mqttHost: '0.0.0.0', mqttPort: 1883, externalBroker: null });
    expect(n).toBe(
      'listening: HTTP 0.0.0.0:8080 (every network interface): console and API, login required except /api/health, /docs, /livez and /readyz (/metrics: from this machine, or with LOANET_METRICS_TOKEN); ' +
        'MQTT 0.0.0.0:1883 (every network interface): each site with its own credential; ' +
        'no TLS: put a TLS proxy in front before exposing HTTP and MQTT beyond a LAN; for this machine only set LOANET_HTTP_HOST=127.0.0.1 LOANET_MQTT_HOST=127.0.0.1',
    );
  });

  it('loopback only, or an external broker', () => {
    expect(listenNotice({ httpHost: '127.0.0.1', httpPort: 8080, mqttHost: '::1', mqttPort: 1883, externalBroker: null })).toMatch(
      /this machine only\): console.*this machine only\): each site.*; reachable from this machine only$/,
    );
    const ext = listenNotice({ httpHost: '0.0.0.0', httpPort: 8080, mqttHost: '0.0.0.0', mqttPort: 1883, externalBroker: 'mqtt://10.0.0.5:1883' });
    expect(ext).toContain('MQTT: external broker mqtt://10.0.0.5:1883, nothing listened on here');
    expect(ext).toMatch(/before exposing HTTP beyond a LAN; for this machine only set LOANET_HTTP_HOST=127.0.0.1$/);
    expect([isLoopbackHost('127.0.0.2'), isLoopbackHost('localhost'), isLoopbackHost('10.0.0.1'), isLoopbackHost('0.0.0.0')]).toEqual([true, true, false, false]);
  });
});
