/**
 * Property tests draw their cases at random. Under CI every run draws the
 * same ones (a fixed seed; LOANET_FC_SEED picks another), so a CI run can be
 * repeated exactly and never fails by the luck of a draw on code nobody
 * changed. Elsewhere each run draws anew, which is how the properties keep
 * finding what a fixed seed never would: a failure prints its seed and path,
 * and the counterexample becomes a fixed case in its test.
 */
import fc from 'fast-check';

const seed = process.env.LOANET_FC_SEED ?? (process.env.CI ? '20261205' : undefined);
if (seed !== undefined) {
  if (!/^-?\d+$/.test(seed)) throw new Error(`LOANET_FC_SEED must be an integer, not "${seed}"`);
  fc.configureGlobal({ seed: Number(seed) });
}
