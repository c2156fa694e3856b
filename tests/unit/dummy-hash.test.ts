/**
 * The hash an unknown user's password is checked against must cost what a
 * real password's check costs, or the answer's time tells a guesser which
 * usernames exist: it is written out in users.ts, so it must follow
 * PASSWORD_COST when that changes.
 */
import { describe, expect, it } from 'vitest';
import { PASSWORD_COST, verifySecret } from '../../server/auth/secrets.ts';
import { DUMMY_HASH } from '../../server/auth/users.ts';

describe('DUMMY_HASH', () => {
  it("has the cost every user's password is hashed at", () => {
    const [kind, N, r, p] = DUMMY_HASH.split('$');
    expect(kind).toBe('scrypt');
    expect({ N: Number(N), r: Number(r), p: Number(p) }).toEqual(PASSWORD_COST);
  });

  it('is a well-formed hash the verifier runs scrypt on in full (of its own password, true)', async () => {
    expect(await verifySecret('loanet-dummy-password', DUMMY_HASH)).toBe(true);
    expect(await verifySecret('anything else', DUMMY_HASH)).toBe(false);
  });
});
