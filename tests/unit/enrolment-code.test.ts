/** Enrolment codes (server/enrolment/code.ts) and their guessing limits (server/enrolment/limiter.ts), pure; the counts in the store: tests/integration/guess-limits.test.ts. */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { CODE_ALPHABET, CODE_BITS, CODE_PATTERN, CODE_RANDOM_BYTES, codeFromBytes, normaliseCode } from '../../server/enrolment/code.ts';
import { type EnrolAttempt, type EnrolGuessStore, EnrolLimiter, enrolRefusal } from '../../server/enrolment/limiter.ts';
import type { KeyCount } from '../../server/auth/login-limiter.ts';
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

describe('enrolment limits: the decision', () => {
  const limits = { perAddress: 3, total: 5, windowMs: 15 * MIN };
  const none: KeyCount = { n: 0, oldest: null, newest: null };

  it('refuses an address after its refused codes in the window, until the oldest leaves it', () => {
    expect(enrolRefusal({ address: { n: 3, oldest: 0, newest: 2 * MIN }, total: { n: 3, oldest: 0, newest: 2 * MIN } }, limits, 5 * MIN)).toEqual({
      ok: false,
      kind: 'address',
      limit: 3,
      retryAfterMs: 10 * MIN,
    });
    expect(enrolRefusal({ address: { n: 2, oldest: 0, newest: 0 }, total: { n: 3, oldest: 0, newest: 0 } }, limits, 5 * MIN)).toBeUndefined();
  });

  it('refuses everyone once the total is reached, whatever the addresses', () => {
    expect(enrolRefusal({ address: none, total: { n: 5, oldest: MIN, newest: MIN } }, limits, 2 * MIN)).toEqual({ ok: false, kind: 'total', limit: 5, retryAfterMs: 14 * MIN });
  });
});

describe('enrolment limiter: its bookkeeping', () => {
  it('reserves under the address key over the window, gives back on success, keeps on refusal, settles once', async () => {
    const calls: string[] = [];
    let id = 0;
    const store: EnrolGuessStore = {
      async reserveEnrol(address, now, since, decide) {
        calls.push(`reserve ${address} ${now} ${since}`);
        return decide({ address: { n: 0, oldest: null, newest: null }, total: { n: 0, oldest: null, newest: null } }) ?? { id: ++id };
      },
      async giveBack(i) {
        calls.push(`giveBack ${i}`);
      },
      async sweepEnrol(before) {
        calls.push(`sweep ${before}`);
      },
    };
    const l = new EnrolLimiter(store, { perAddress: 3, total: 5, windowMs: MIN });
    const a = (await l.attempt('::ffff:192.0.2.7', 2 * MIN)) as EnrolAttempt;
    await a.succeed();
    await a.succeed();
    const b = (await l.attempt('2001:db8:1:2::9', 3 * MIN)) as EnrolAttempt;
    await b.fail();
    await b.succeed();
    expect(calls).toEqual([`reserve 192.0.2.7 ${2 * MIN} ${MIN}`, 'giveBack 1', `reserve 2001:db8:1:2::/64 ${3 * MIN} ${2 * MIN}`]);
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
