/**
 * What a test file started that must not outlive it. Integration files share
 * a worker process (vitest.config.ts, isolate: false), so a test server a file
 * left running — a test that failed half-way, a forgotten stop — would go on
 * beside the next files, with its timers, ports and database connections.
 * After each file a set-up file (temp-dirs-cleanup.ts) stops what is left and
 * names it. Kept apart from server.ts so the set-up file loads nothing of the
 * server.
 */

const running = new Map<object, { what: string; stop: () => Promise<unknown> }>();

/** `key` is running until `stopped(key)`; `stop` ends it should the file not. */
export function runningUntilStopped(key: object, what: string, stop: () => Promise<unknown>): void {
  running.set(key, { what, stop });
}

export function stopped(key: object): void {
  running.delete(key);
}

/** Stops what the file left running; what it was, for the warning. */
export async function stopLeftovers(): Promise<string[]> {
  const left = [...running.values()];
  running.clear();
  await Promise.all(left.map((l) => l.stop().catch(() => undefined)));
  return left.map((l) => l.what);
}
