/**
 * Login rate limiting: at most `max` failed attempts per key (username and
 * client address separately) in a sliding window, so a password cannot be
 * guessed online. Pure: the caller passes the time.
 */
export class LoginLimiter {
  private readonly failures = new Map<string, number[]>();

  constructor(
    private readonly max = 10,
    private readonly windowMs = 15 * 60 * 1000,
  ) {}

  /** Milliseconds until the key may try again, or 0 when it may now. */
  retryAfter(key: string, now: number): number {
    const list = this.prune(key, now);
    if (list.length < this.max) return 0;
    return list[0]! + this.windowMs - now;
  }

  fail(key: string, now: number): void {
    const list = this.prune(key, now);
    list.push(now);
    this.failures.set(key, list);
  }

  succeed(key: string): void {
    this.failures.delete(key);
  }

  private prune(key: string, now: number): number[] {
    const list = (this.failures.get(key) ?? []).filter((t) => t > now - this.windowMs);
    if (list.length === 0) this.failures.delete(key);
    else this.failures.set(key, list);
    return list;
  }
}
