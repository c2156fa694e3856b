/** Enrolment codes (server/enrolment/code.ts) and their guessing limits (server/enrolment/limiter.ts), pure. */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { CODE_ALPHABET, CODE_BITS, CODE_PATTERN, CODE_RANDOM_BYTES, codeFromBytes, normaliseCode } from '../../server/enrolment/code.ts';
import { EnrolLimiter, type EnrolAttempt, type EnrolRefusal } from '../../server/enrolment/limiter.ts';
import { ENROLMENT_CODE_PATTERN } from '../../api/enrolment.ts';
import { loadConfig } from '../../server/config.ts';

const MIN = 60_000;

describe('enrolment code', () => {
  it('is 8 characters of Crockford base 32 (no I, L, O, U), grouped XXXX-XXXX: 40 bits from 5 random bytes', () => {
    expect(CODE_ALPHABET).toHaveLength(32);
    expect(new Set(CODE_ALPHABET).size).toBe(32);
    for (const c of 'ILOU') expect(CODE_ALPHABET).not.toContain(c);
    expect(CODE_BITS).toBe(40);
    expect(CODE_RANDOM_BYTES).toBe(5);
    expect(codeFromBytes(new Uint8Array([0, 0, 0, 0, 0]))).toBe('0000-0000');
    expect(codeFromBytes(new Uint8Array([255, 255, 255, 255, 255]))).toBe('ZZZZ-ZZZZ');
    // 0x0842108421: every 5-bit group is 00001.
    expect(codeFromBytes(new Uint8Array([0x08, 0x42, 0x10, 0x84, 0x21]))).toBe('1111-1111');
    expect(() => codeFromBytes(new Uint8Array(4))).toThrow(/5 random bytes/);
  });

  it('maps every 40-bit value to its own code, which the API pattern accepts and normalising keeps', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 5, maxLength: 5 }), fc.uint8Array({ minLength: 5, maxLength: 5 }), (a, b) => {
        const ca = codeFromBytes(a);
        expect(ca).toMatch(CODE_PATTERN);
        expect(ca).toMatch(new RegExp(ENROLMENT_CODE_PATTERN));
        expect(normaliseCode(ca)).toBe(ca);
        if (Buffer.compare(Buffer.from(a), Buffer.from(b)) !== 0) expect(codeFromBytes(b)).not.toBe(ca);
      }),
    );
  });

  it('uses every character in every position (no bias from how bits are cut)', () => {
    const seen = Array.from({ length: 8 }, () => new Set<string>());
    for (let v = 0; v < 32; v++) {
      // The same 5-bit value v in all eight positions.
      let bits = 0n;
      for (let i = 0; i < 8; i++) bits = (bits << 5n) | BigInt(v);
      const bytes = new Uint8Array(5);
      for (let i = 4; i >= 0; i--) (bytes[i] = Number(bits & 255n)), (bits >>= 8n);
      const code = codeFromBytes(bytes).replace('-', '');
      for (let i = 0; i < 8; i++) seen[i]!.add(code[i]!);
    }
    for (const s of seen) expect(s.size).toBe(32);
  });

  it('forgives case, spaces, a missing or extra dash and look-alikes when typed back', () => {
    expect(normaliseCode('abcd-ef12')).toBe('ABCD-EF12');
    expect(normaliseCode(' abcd ef12 ')).toBe('ABCD-EF12');
    expect(normaliseCode('ABCDEF12')).toBe('ABCD-EF12');
    expect(normaliseCode('AB-CD-EF-12')).toBe('ABCD-EF12');
    expect(normaliseCode('oOiI-lL00')).toBe('0011-1100');
  });

  it('refuses what cannot be a code', () => {
    for (const bad of ['', 'ABCD-EF1', 'ABCD-EF123', 'ABCD-EFU2', 'ABCD_EF12', 'ÀBCD-EF12', 'x'.repeat(100)]) expect(normaliseCode(bad), bad).toBeNull();
  });
});

describe('enrolment limiter', () => {
  const limits = { perAddress: 3, total: 5, windowMs: 15 * MIN };

  it('refuses an address after its refused codes in the window, until the oldest leaves it', () => {
    const l = new EnrolLimiter(limits);
    for (let i = 0; i < 3; i++) (l.attempt('192.0.2.1', i * MIN) as EnrolAttempt).fail();
    const r = l.attempt('192.0.2.1', 5 * MIN) as EnrolRefusal;
    expect(r).toMatchObject({ ok: false, kind: 'address', limit: 3, retryAfterMs: 10 * MIN });
    // Another address is not held back by this one.
    expect(l.attempt('192.0.2.2', 5 * MIN).ok).toBe(true);
    expect(l.attempt('192.0.2.1', 15 * MIN + 1).ok).toBe(true);
  });

  it('refuses everyone once the total is reached, whatever the addresses', () => {
    const l = new EnrolLimiter(limits);
    for (let i = 0; i < 5; i++) (l.attempt(`198.51.100.${i}`, 0) as EnrolAttempt).fail();
    expect(l.attempt('203.0.113.9', 1)).toMatchObject({ ok: false, kind: 'total', limit: 5 });
  });

  it('reserves before the check, gives back on success, keeps on refusal', () => {
    const l = new EnrolLimiter(limits);
    const pending = Array.from({ length: 10 }, () => l.attempt('192.0.2.1', 0));
    expect(pending.filter((a) => a.ok)).toHaveLength(3);
    for (const a of pending) if (a.ok) a.succeed();
    expect(l.attempt('192.0.2.1', 0).ok).toBe(true);
  });

  it('counts an IPv6 client by its /64, IPv4-mapped as IPv4', () => {
    const l = new EnrolLimiter(limits);
    for (let i = 1; i <= 3; i++) (l.attempt(`2001:db8:1:2::${i}`, 0) as EnrolAttempt).fail();
    expect(l.attempt('2001:db8:1:2:ffff::1', 0).ok).toBe(false);
    for (let i = 0; i < 2; i++) (l.attempt('::ffff:192.0.2.7', 0) as EnrolAttempt).fail();
    expect(l.attempt('192.0.2.7', 0).ok).toBe(false);
  });

  it('holds no more addresses than the total allows, however many try', () => {
    const l = new EnrolLimiter({ perAddress: 10, total: 50, windowMs: MIN });
    for (let i = 0; i < 5000; i++) {
      const a = l.attempt(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`, i * 100);
      if (a.ok) a.fail();
    }
    expect(l.addresses()).toBeLessThanOrEqual(51);
  });
});

describe('enrolment settings', () => {
  it('default to 24 h codes, 10 refusals per address and 100 overall per 15 minutes, and the broker URL from the request', () => {
    expect(loadConfig({}).enrolment).toEqual({ ttlMs: 24 * 3_600_000, limits: { perAddress: 10, total: 100, windowMs: 15 * MIN }, agentMqttUrl: null });
    const c = loadConfig({
      LOANET_ENROL_TTL_H: '2',
      LOANET_ENROL_FAILURES_ADDRESS: '3',
      LOANET_ENROL_FAILURES_TOTAL: '7',
      LOANET_ENROL_WINDOW_MIN: '60',
      LOANET_AGENT_MQTT_URL: 'mqtts://loanet.example.vn:8883',
    });
    expect(c.enrolment).toEqual({ ttlMs: 2 * 3_600_000, limits: { perAddress: 3, total: 7, windowMs: 60 * MIN }, agentMqttUrl: 'mqtts://loanet.example.vn:8883' });
  });

  it('refuses a broker URL boards could not use, and a validity out of range, naming the variable', () => {
    expect(() => loadConfig({ LOANET_AGENT_MQTT_URL: 'https://loanet.example.vn' })).toThrow(/LOANET_AGENT_MQTT_URL="https:\/\/loanet.example.vn" is not a broker URL/);
    expect(() => loadConfig({ LOANET_ENROL_TTL_H: '0' })).toThrow(/LOANET_ENROL_TTL_H=0 is out of range/);
  });
});
