/** The password policy (server/auth/password-policy.ts), as a pure function, and its shipped list. */
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import {
  checkPassword,
  commonPasswords,
  defaultPasswordPolicy,
  parseCommonPasswords,
  passwordLength,
  PASSWORD_ERROR_CODES,
  PASSWORD_MAX_LENGTH,
  type PasswordPolicy,
} from '../../server/auth/password-policy.ts';

const policy = defaultPasswordPolicy(10);
const rule = (password: string, username = 'nguyenvana', p: PasswordPolicy = policy) => checkPassword(password, username, p)?.rule;

describe('password policy', () => {
  it('accepts a long password unrelated to the username and to the list', () => {
    expect(checkPassword('mưa-to-trên-núi-Fansipan', 'nguyenvana', policy)).toBeUndefined();
    expect(checkPassword('correct horse battery staple', 'admin', policy)).toBeUndefined();
  });

  it('refuses too short, naming the minimum', () => {
    const v = checkPassword('abc-12345', 'nguyenvana', policy)!;
    expect(v).toMatchObject({ rule: 'too_short', code: 'LOANET_PASSWORD_TOO_SHORT', limit: 10 });
    expect(v.message).toBe('must be at least 10 characters');
    expect(rule('abc-123456')).toBeUndefined();
  });

  it('counts characters as code points: Vietnamese diacritics and emoji are one character each', () => {
    expect(passwordLength('mật khẩu')).toBe(8);
    expect(passwordLength('🔔🔔')).toBe(2);
    expect(rule('🔔🔔🔔🔔🔔🔔🔔🔔🔔')).toBe('too_short');
    expect(rule('đ'.repeat(PASSWORD_MAX_LENGTH))).toBeUndefined();
    expect(rule('đ'.repeat(PASSWORD_MAX_LENGTH + 1))).toBe('too_long');
  });

  it('refuses more than 200 characters first, whatever else is wrong, without reading a huge input whole', () => {
    const v = checkPassword('x'.repeat(900_000), 'nguyenvana', policy)!;
    expect(v).toMatchObject({ rule: 'too_long', code: 'LOANET_PASSWORD_TOO_LONG', limit: 200 });
    expect(passwordLength('x'.repeat(900_000), 200)).toBe(201);
  });

  it('refuses the username, and the username with little around it, in any case', () => {
    expect(rule('nguyenvana')).toBe('contains_username');
    expect(rule('nguyen', 'nguyen')).toBe('too_short');
    expect(rule('nguyenvana', 'nguyenvana', { ...policy, minLength: 8 })).toBe('contains_username');
    expect(rule('NguyenVanA2026!')).toBe('contains_username');
    expect(rule('26-nguyenvana-26')).toBe('contains_username');
    expect(checkPassword('nguyenvana-1', 'nguyenvana', policy)).toMatchObject({ code: 'LOANET_PASSWORD_HAS_USERNAME', limit: 10 });
    // Enough besides the username is fine: it adds nothing, but takes nothing away.
    expect(rule('password-of-nguyenvana')).toBeUndefined();
  });

  it('refuses common passwords in any case, also with the username around them', () => {
    expect(checkPassword('qwertyuiop', 'nguyenvana', policy)).toMatchObject({ rule: 'common', code: 'LOANET_PASSWORD_COMMON' });
    expect(rule('QwertyUiop')).toBe('common');
    expect(rule('1234567890')).toBe('common');
    expect(rule('password123')).toBe('common');
    expect(rule('anhyeuem123')).toBe('common');
    expect(rule('matkhau2025')).toBe('common');
    expect(rule('admin123456', 'operator1')).toBe('common');
    expect(rule('nguyenvanapassword123')).toBe('common');
  });

  it('ships a list with its source, lower case, and none longer than the maximum', () => {
    const list = commonPasswords();
    expect(list.size).toBeGreaterThan(2000);
    for (const p of list) {
      expect(p).toBe(p.toLowerCase());
      expect(passwordLength(p)).toBeLessThanOrEqual(PASSWORD_MAX_LENGTH);
      expect(p.startsWith('#')).toBe(false);
    }
    expect(parseCommonPasswords('# comment\nAbc\r\n\n#x\nqwerty\n')).toEqual(new Set(['abc', 'qwerty']));
  });

  it('has one stable code per rule', () => {
    expect(new Set(Object.values(PASSWORD_ERROR_CODES)).size).toBe(4);
  });

  it('property: a refusal always names a rule that holds, an acceptance satisfies every rule', () => {
    const small: PasswordPolicy = { minLength: 10, common: new Set(['qwertyuiop', 'password123']) };
    const username = fc.stringMatching(/^[a-z0-9._-]{3,12}$/);
    const pw = fc.oneof(
      fc.string({ unit: 'grapheme', maxLength: 40 }),
      fc.string({ maxLength: 260 }),
      fc.tuple(fc.string({ maxLength: 6 }), username, fc.string({ maxLength: 12 })).map(([a, u, b]) => `${a}${u}${b}`),
      fc.constantFrom('qwertyuiop', 'QWERTYUIOP', 'password123'),
    );
    fc.assert(
      fc.property(pw, username, (password, user) => {
        const v = checkPassword(password, user, small);
        const len = passwordLength(password);
        const lower = password.toLowerCase();
        const rest = lower.split(user).join('');
        if (!v) {
          expect(len).toBeGreaterThanOrEqual(10);
          expect(len).toBeLessThanOrEqual(PASSWORD_MAX_LENGTH);
          expect(passwordLength(rest)).toBeGreaterThanOrEqual(10);
          expect(small.common.has(lower)).toBe(false);
          return;
        }
        expect(v.code).toBe(PASSWORD_ERROR_CODES[v.rule]);
        expect(v.message.length).toBeGreaterThan(0);
        if (v.rule === 'too_long') expect(len).toBeGreaterThan(PASSWORD_MAX_LENGTH);
        if (v.rule === 'too_short') expect(len).toBeLessThan(10);
        if (v.rule === 'contains_username') expect(lower.includes(user) && passwordLength(rest) < 10).toBe(true);
        if (v.rule === 'common') expect(small.common.has(lower) || small.common.has(lower.trim()) || small.common.has(rest)).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });
});
