/**
 * Enrolment codes: what a technician types on a phone or a board's console.
 * Pure: making one takes the random bytes from the caller.
 *
 * Eight characters of Crockford's base 32 (0-9 and A-Z without I, L, O, U),
 * shown as XXXX-XXXX. Reading one back forgives what people do when they
 * copy a code by hand: lower case, spaces or no dash, O for 0, I or L for 1
 * (Crockford's decoding rules). Each character carries 5 bits, so a code is
 * 40 bits: 2^40 ≈ 1.1 × 10^12 codes, every one equally likely
 * (docs/operations.md, "Enrolment", works out what that means against the
 * rate limits).
 */

export const CODE_ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
export const CODE_LENGTH = 8;
export const CODE_BITS = CODE_LENGTH * 5;
/** Random bytes a code takes: 5 bits per character, drawn from whole bytes. */
export const CODE_RANDOM_BYTES = (CODE_BITS + 7) >> 3;
/** A code as written for people: two groups of four. */
export const CODE_PATTERN = /^[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$/;

/** The code whose 40 bits are the first five bytes given (each byte uniformly random makes every code equally likely). */
export function codeFromBytes(bytes: Uint8Array): string {
  if (bytes.length < CODE_RANDOM_BYTES) throw new RangeError(`an enrolment code needs ${CODE_RANDOM_BYTES} random bytes, got ${bytes.length}`);
  let bits = 0n;
  for (let i = 0; i < CODE_RANDOM_BYTES; i++) bits = (bits << 8n) | BigInt(bytes[i]!);
  let out = '';
  for (let i = CODE_LENGTH - 1; i >= 0; i--) out += CODE_ALPHABET[Number((bits >> BigInt(i * 5)) & 31n)];
  return `${out.slice(0, 4)}-${out.slice(4)}`;
}

const LOOK_ALIKES: Record<string, string> = { O: '0', I: '1', L: '1' };

/**
 * A code as typed, in its one written form (XXXX-XXXX), or null when it
 * cannot be one: after case, spaces, dashes and look-alikes are forgiven,
 * exactly eight characters of the alphabet must remain.
 */
export function normaliseCode(typed: string): string | null {
  if (typed.length > 64) return null;
  const bare = typed.toUpperCase().replace(/[\s-]/g, '');
  if (bare.length !== CODE_LENGTH) return null;
  let out = '';
  for (const ch of bare) {
    const c = LOOK_ALIKES[ch] ?? ch;
    if (!CODE_ALPHABET.includes(c)) return null;
    out += c;
  }
  return `${out.slice(0, 4)}-${out.slice(4)}`;
}
