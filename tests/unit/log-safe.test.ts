import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { LOG_SAFE_MAX, logSafe } from '../../server/log-safe.ts';

// What must never reach a log line raw: C0, DEL, C1, line/paragraph separators, bidi and invisible formatting, lone surrogates.
const CONTROL =
  /[\u0000-\u001f\u007f-\u009f\u00ad\u061c\u180e\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff\ufff9-\ufffb]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

describe('logSafe', () => {
  it('leaves a short ordinary value as it is (Vietnamese included)', () => {
    expect(logSafe('sim-02683-v01')).toBe('sim-02683-v01');
    expect(logSafe('Cụm loa thôn Nghệ 🔊')).toBe('Cụm loa thôn Nghệ 🔊');
  });

  it('cuts a 60 KB username to the cap and says how long it was', () => {
    const out = logSafe('a'.repeat(61_440));
    expect(out).toBe(`${'a'.repeat(LOG_SAFE_MAX)}…(61440 chars)`);
  });

  it('escapes line breaks, terminal escapes, bidi overrides and lone surrogates', () => {
    expect(logSafe('a\nb\r\tc')).toBe('a\\nb\\r\\tc');
    expect(logSafe('\u001b[31mred')).toBe('\\x1b[31mred');
    expect(logSafe('evil\u202etxt.exe')).toBe('evil\\u202etxt.exe');
    expect(logSafe('x\ud800y')).toBe('x\\ud800y');
    expect(logSafe('\u0085\u2028')).toBe('\\x85\\u2028');
  });

  it('never cuts an escape or a surrogate pair in half', () => {
    expect(logSafe(`${'a'.repeat(8)}\n${'b'.repeat(20)}`, 9)).toBe(`${'a'.repeat(8)}…(29 chars)`);
    expect(logSafe(`${'a'.repeat(9)}🔊bbb`, 10)).toBe(`${'a'.repeat(9)}…(14 chars)`);
  });

  it('takes any value without throwing', () => {
    expect(logSafe(undefined)).toBe('undefined');
    expect(logSafe(Buffer.from('hé\n'))).toBe('hé\\n');
    expect(
      logSafe({
        toString: () => {
          throw new Error('no');
        },
      }),
    ).toBe('[unprintable]');
  });

  it('property: bounded length, no control character, and an unchanged prefix of what was sent', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 2000 }), fc.integer({ min: 0, max: 300 }), (s, max) => {
        const out = logSafe(s, max);
        expect(out.length).toBeLessThanOrEqual(max + 24);
        expect(CONTROL.test(out)).toBe(false);
        if (!CONTROL.test(s) && s.length <= max) expect(out).toBe(s);
        if (s.length > max) expect(out.endsWith(`…(${s.length} chars)`)).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });
});
