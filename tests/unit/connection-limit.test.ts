import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ConnectionAdmission, DEFAULT_CONNECTION_LIMITS, addressKey } from '../../server/fleet/connection-limit.ts';
import { loadConfig } from '../../server/config.ts';

describe('addressKey', () => {
  it('keeps IPv4, unwraps IPv4-mapped IPv6, and counts IPv6 per /64', () => {
    expect(addressKey('203.0.113.7')).toBe('203.0.113.7');
    expect(addressKey('::ffff:203.0.113.7')).toBe('203.0.113.7');
    expect(addressKey('2001:db8:1:2:aaaa::1')).toBe('2001:db8:1:2::/64');
    expect(addressKey('2001:db8:1:2:bbbb:cccc:dddd:eeee')).toBe('2001:db8:1:2::/64');
    expect(addressKey('2001:0db8:0001:0002::9')).toBe('2001:db8:1:2::/64');
    expect(addressKey('::1')).toBe('0:0:0:0::/64');
    expect(addressKey('fe80::1%eth0')).toBe('fe80:0:0:0::/64');
    expect(addressKey('64:ff9b::192.0.2.1')).toBe('64:ff9b:0:0::/64');
    expect(addressKey(undefined)).toBe('unknown');
  });
});

describe('ConnectionAdmission', () => {
  it('defaults let 1,000 sites share one carrier address and 500 of them reconnect at once', () => {
    expect(DEFAULT_CONNECTION_LIMITS).toEqual({ maxPerAddress: 1000, connectBurst: 500, connectRatePerS: 50 });
    let t = 0;
    const a = new ConnectionAdmission(DEFAULT_CONNECTION_LIMITS, () => t);
    for (let i = 0; i < 500; i++) expect(a.admit('198.51.100.1').ok).toBe(true);
    expect(a.admit('198.51.100.1')).toMatchObject({ ok: false, reason: 'rate' });
    // The rest of a 1,000-site NAT comes back at 50 per second: all in within 10 s more.
    let admitted = 500;
    for (t = 0; t <= 10_000 && admitted < 1000; t += 100) while (a.admit('198.51.100.1').ok) admitted++;
    expect(admitted).toBe(1000);
    t += 60_000;
    expect(a.admit('198.51.100.1')).toMatchObject({ ok: false, reason: 'per_address' });
    expect(a.admit('198.51.100.2').ok).toBe(true);
  });

  it('refuses the connection over the cap and admits again once one closes; the message names the limit and its variable', () => {
    const t = 0;
    const a = new ConnectionAdmission({ maxPerAddress: 3, connectBurst: 100, connectRatePerS: 10 }, () => t);
    const keys = [1, 2, 3].map(() => a.admit('127.0.0.1'));
    expect(keys.every((k) => k.ok)).toBe(true);
    const refused = a.admit('127.0.0.1');
    expect(refused).toEqual({
      ok: false,
      key: '127.0.0.1',
      reason: 'per_address',
      message: '127.0.0.1 already has 3 open connections (limit 3, LOANET_MQTT_MAX_CONNECTIONS_PER_ADDRESS)',
    });
    a.release('127.0.0.1');
    expect(a.admit('127.0.0.1').ok).toBe(true);
    expect(a.openFor('127.0.0.1')).toBe(3);
  });

  it('forgets an address once nothing is open and its bucket is full again', () => {
    let t = 0;
    const a = new ConnectionAdmission({ maxPerAddress: 10, connectBurst: 5, connectRatePerS: 5 }, () => t);
    for (let i = 0; i < 2000; i++) {
      const r = a.admit(`10.0.${i >> 8}.${i & 255}`);
      if (r.ok) a.release(r.key);
      t += 1000;
    }
    expect(a.tracked).toBeLessThan(1100);
  });

  it('property: never more open than the cap, never more admitted in a window than burst + rate × window', () => {
    fc.assert(
      fc.property(
        fc.record({ maxPerAddress: fc.integer({ min: 1, max: 20 }), connectBurst: fc.integer({ min: 1, max: 20 }), connectRatePerS: fc.integer({ min: 1, max: 50 }) }),
        fc.array(fc.record({ dt: fc.integer({ min: 0, max: 300 }), addr: fc.constantFrom('192.0.2.1', '192.0.2.2', '2001:db8::1', '2001:db8::2'), close: fc.boolean() }), {
          maxLength: 300,
        }),
        (limits, steps) => {
          let t = 0;
          const a = new ConnectionAdmission(limits, () => t);
          const open = new Map<string, number>();
          const admittedAt = new Map<string, number[]>();
          for (const s of steps) {
            t += s.dt;
            const key = addressKey(s.addr);
            if (s.close && (open.get(key) ?? 0) > 0) {
              a.release(key);
              open.set(key, open.get(key)! - 1);
              continue;
            }
            const r = a.admit(s.addr);
            if (!r.ok) continue;
            open.set(key, (open.get(key) ?? 0) + 1);
            expect(open.get(key)).toBeLessThanOrEqual(limits.maxPerAddress);
            const times = admittedAt.get(key) ?? [];
            times.push(t);
            admittedAt.set(key, times);
            // Every window ending now: admitted within it ≤ burst + rate × its length.
            for (const start of times) {
              const n = times.filter((x) => x >= start).length;
              expect(n).toBeLessThanOrEqual(limits.connectBurst + Math.floor(((t - start) / 1000) * limits.connectRatePerS) + 1e-9);
            }
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe('configuration', () => {
  it('defaults, and each variable read as a whole number or start-up stops naming it', () => {
    expect(loadConfig({}).mqttConnections).toEqual(DEFAULT_CONNECTION_LIMITS);
    expect(loadConfig({ LOANET_MQTT_MAX_CONNECTIONS_PER_ADDRESS: '5000', LOANET_MQTT_CONNECT_BURST: '2000', LOANET_MQTT_CONNECT_RATE: '200' }).mqttConnections).toEqual({
      maxPerAddress: 5000,
      connectBurst: 2000,
      connectRatePerS: 200,
    });
    expect(() => loadConfig({ LOANET_MQTT_CONNECT_RATE: '0' })).toThrow(/LOANET_MQTT_CONNECT_RATE=0 is out of range; set LOANET_MQTT_CONNECT_RATE to a number from 1 to 1000000/);
    expect(() => loadConfig({ LOANET_MQTT_CONNECT_BURST: 'lots' })).toThrow(/LOANET_MQTT_CONNECT_BURST="lots" is not a whole number/);
    expect(() => loadConfig({ LOANET_MQTT_MAX_CONNECTIONS_PER_ADDRESS: '-1' })).toThrow(/LOANET_MQTT_MAX_CONNECTIONS_PER_ADDRESS=-1 is out of range/);
  });
});
