/**
 * The one password policy, for every password a person chooses: user creation,
 * changing one's own password, an admin's reset and LOANET_ADMIN_PASSWORD.
 * Login input is bounded by the same maximum (the route's schema) but is never
 * judged by the other rules, so an account made under an older policy can
 * still sign in.
 *
 * Rules, in the order they are checked (the first broken one is reported):
 * - too_long: more than 200 characters. Checked before anything is hashed, so
 *   a huge "password" costs nothing; login refuses the same length, so no
 *   account can be made that cannot sign in.
 * - too_short: fewer than `minLength` characters (10 by default,
 *   LOANET_PASSWORD_MIN_LENGTH). Length is what makes a guessed password
 *   expensive; NIST SP 800-63B asks for at least 8 with a blocklist, and these
 *   accounts can sound every loudspeaker of a province.
 * - contains_username: the username, once removed from the password, must
 *   leave at least `minLength` characters ("nguyenvana1" for nguyenvana is
 *   refused; "password-of-nguyenvana-2026" is not). Attackers try the username
 *   first.
 * - common: the password (or what is left of it without the username) is in
 *   the shipped list of common passwords (common-passwords.txt beside this
 *   file, with its source), compared in lower case.
 *
 * Characters are Unicode code points, as the JSON schema's maxLength counts
 * them, so a Vietnamese password with diacritics is not cut short.
 * `checkPassword` is pure; `commonPasswords()` reads the list once.
 */
import fs from 'node:fs';
import { PASSWORD_MAX_LENGTH } from '../../api/auth.ts';
import { serverDataFile } from '../files.ts';

/** The longest password: part of the HTTP contract (every password field's maxLength), so it is defined there. */
export { PASSWORD_MAX_LENGTH };
export const DEFAULT_PASSWORD_MIN_LENGTH = 10;
/** The lowest minimum the configuration accepts. */
export const PASSWORD_MIN_LENGTH_FLOOR = 8;

export type PasswordRule = 'too_long' | 'too_short' | 'contains_username' | 'common';

/** Stable error codes (the console translates them); never reused for another rule. */
export const PASSWORD_ERROR_CODES: Readonly<Record<PasswordRule, string>> = {
  too_long: 'LOANET_PASSWORD_TOO_LONG',
  too_short: 'LOANET_PASSWORD_TOO_SHORT',
  contains_username: 'LOANET_PASSWORD_HAS_USERNAME',
  common: 'LOANET_PASSWORD_COMMON',
};

export interface PasswordPolicy {
  minLength: number;
  /** Lower-case common passwords. */
  common: ReadonlySet<string>;
}

export interface PasswordViolation {
  rule: PasswordRule;
  code: string;
  /** The number the rule is about (a length), when it has one. */
  limit?: number;
  /** English, naming the rule and its number; the console shows its own words for `code`. */
  message: string;
}

/** Unicode code points, capped: counting stops once past `cap` so a huge input costs little. */
export function passwordLength(p: string, cap = Number.POSITIVE_INFINITY): number {
  let n = 0;
  for (const _ of p) {
    n++;
    if (n > cap) break;
  }
  return n;
}

function violation(rule: PasswordRule, message: string, limit?: number): PasswordViolation {
  return { rule, code: PASSWORD_ERROR_CODES[rule], message, ...(limit !== undefined ? { limit } : {}) };
}

/** The first rule `password` breaks for the account `username`, or undefined when it is acceptable. */
export function checkPassword(password: string, username: string, policy: PasswordPolicy): PasswordViolation | undefined {
  if (passwordLength(password, PASSWORD_MAX_LENGTH) > PASSWORD_MAX_LENGTH) {
    return violation('too_long', `must be at most ${PASSWORD_MAX_LENGTH} characters`, PASSWORD_MAX_LENGTH);
  }
  const min = policy.minLength;
  if (passwordLength(password) < min) return violation('too_short', `must be at least ${min} characters`, min);
  const lower = password.toLowerCase();
  const user = username.toLowerCase();
  const rest = user !== '' && lower.includes(user) ? lower.split(user).join('') : lower;
  if (rest !== lower && passwordLength(rest) < min) {
    return violation('contains_username', `must not be the username or little more: without "${username}" it must still have at least ${min} characters`, min);
  }
  if (policy.common.has(lower) || policy.common.has(lower.trim()) || policy.common.has(rest)) {
    return violation('common', 'is one of the most common passwords, which attackers try first; choose another (a few unrelated words make a strong one)');
  }
  return undefined;
}

let loaded: ReadonlySet<string> | undefined;

/** The shipped list of common passwords (read once). */
export function commonPasswords(): ReadonlySet<string> {
  loaded ??= parseCommonPasswords(fs.readFileSync(serverDataFile('auth/common-passwords.txt'), 'utf8'));
  return loaded;
}

/** One password a line, lines starting with # are comments; kept in lower case. */
export function parseCommonPasswords(text: string): ReadonlySet<string> {
  const out = new Set<string>();
  for (const line of text.split('\n')) {
    const p = line.replace(/\r$/, '');
    if (p === '' || p.startsWith('#')) continue;
    out.add(p.toLowerCase());
  }
  return out;
}

export function defaultPasswordPolicy(minLength = DEFAULT_PASSWORD_MIN_LENGTH): PasswordPolicy {
  return { minLength, common: commonPasswords() };
}
