/**
 * Waiting for a condition, never for a time: a test polls what it expects and
 * the deadline only bounds a hang (a busy machine may take seconds). Kept apart
 * from server.ts so unit tests can wait without loading the server.
 */

/**
 * Poll until `fn` returns a truthy value or the timeout passes; fails with the last value seen.
 * The default deadline is generous on purpose: under the stress load (two spinning processes beside three test
 * files on two cores) text to speech took over 10 s, and a condition that comes late is not a failure.
 */
export async function waitFor<T>(what: string, fn: () => T | Promise<T>, timeoutMs = 30_000, everyMs = 50): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  for (;;) {
    last = await fn();
    if (last) return last as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; last value: ${JSON.stringify(last)}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
