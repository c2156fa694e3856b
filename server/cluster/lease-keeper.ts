/**
 * Keeps this instance's leases: runs the rounds against the database (one
 * statement per round for all its leases), feeds their answers and the clock
 * to the policy (lease-policy.ts) and tells its listeners when a lease is
 * acquired or lost. The shell: timers, the store and the monotonic clock;
 * every decision is the policy's.
 *
 * A loss is told the moment it happens, including when the belief simply runs
 * out because the database stopped answering: a timer fires at each held
 * lease's belief end, so the work stops before any other server may start it.
 */
import type { Logger } from '../fleet/broker.ts';
import {
  afterRound,
  DEFAULT_LEASE_TIMINGS,
  expire,
  type LeaseChange,
  type LeaseName,
  type LeaseTimings,
  type LeaseView,
  nextRoundDelay,
  owns,
  release,
  roundHung,
  STANDBY,
  type Transition,
  timingsProblem,
} from './lease-policy.ts';
import type { LeaseStore, LeaseTerm } from './lease-store.ts';

/** Whether `p` settled within `ms` (its rejection is passed on); the timer never keeps the process up. */
async function settledWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
    timer.unref();
  });
  try {
    return await Promise.race([p.then(() => true as const), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

export type LeaseEvent = LeaseChange & { name: LeaseName };
/** A listener may return a promise: stop() waits for it before releasing (the work stops before another server may start it). */
export type LeaseListener = (e: LeaseEvent) => void | Promise<void>;

export interface LeaseKeeperOptions {
  store: Pick<LeaseStore, 'acquireOrRenew' | 'release' | 'holder'>;
  names: readonly LeaseName[];
  log: Logger;
  timings?: LeaseTimings;
  /** Local monotonic time in ms (performance.now by default): wall-clock steps must not stretch a belief. */
  clock?: () => number;
}

export class LeaseKeeper {
  private readonly views = new Map<LeaseName, LeaseView>();
  private readonly listeners = new Set<LeaseListener>();
  private readonly timings: LeaseTimings;
  private readonly clock: () => number;
  private running = false;
  private roundTimer: NodeJS.Timeout | undefined;
  private expiryTimer: NodeJS.Timeout | undefined;
  /** The round whose answer counts (by its number), if it is still unanswered. */
  private current: { n: number; sentAt: number } | undefined;
  private roundsStarted = 0;
  /** Rounds given up on that have not answered yet. */
  private hung = 0;
  private lastFailed = false;
  private pending: Promise<void>[] = [];

  constructor(private readonly o: LeaseKeeperOptions) {
    this.timings = o.timings ?? DEFAULT_LEASE_TIMINGS;
    const problem = timingsProblem(this.timings);
    if (problem) throw new Error(`lease timings: ${problem}`);
    this.clock = o.clock ?? (() => performance.now());
    for (const n of o.names) this.views.set(n, STANDBY);
  }

  get holder(): string {
    return this.o.store.holder;
  }

  /** Whether this instance may do `name`'s work now. */
  owns(name: LeaseName): boolean {
    const v = this.views.get(name);
    return v !== undefined && owns(v, this.clock());
  }

  /** The term held now (name and fencing token), for fenced writes; undefined when not owned. */
  term(name: LeaseName): LeaseTerm | undefined {
    const v = this.views.get(name);
    return v?.held && owns(v, this.clock()) ? { name, token: v.token } : undefined;
  }

  /** Hears every acquired and lost lease; returns its unsubscribe. */
  listen(l: LeaseListener): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.round();
  }

  /**
   * Resolves once the rounds in flight have been answered or given up on
   * (roundTimeoutMs at most). A server's start waits for its first round, so
   * a lone server holds its leases before its features start.
   */
  async roundsAnswered(): Promise<void> {
    await settledWithin(Promise.allSettled(this.pending), this.timings.roundTimeoutMs);
  }

  /** The leases this instance owns now (for metrics and logs). */
  owned(): LeaseName[] {
    return [...this.views.keys()].filter((n) => this.owns(n));
  }

  /**
   * Stops the rounds, tells the listeners every held lease is lost
   * ('released') and waits for them (their work stops), lets a round still in
   * flight land (else it could renew after the release), then releases every
   * lease this instance holds in the database so another server takes them at
   * its next try. Each wait is bounded: a database that does not answer
   * cannot hold the server's stop, and its leases then expire after the TTL.
   */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    clearTimeout(this.roundTimer);
    clearTimeout(this.expiryTimer);
    this.current = undefined;
    const waits: Array<void | Promise<void>> = [];
    for (const [name, view] of this.views) waits.push(...this.apply(name, release(view)));
    await Promise.allSettled(waits);
    const bound = this.timings.roundTimeoutMs;
    if (!(await settledWithin(Promise.allSettled(this.pending), bound))) {
      this.o.log.warn({ waitedMs: bound }, 'a lease round was still unanswered at stop: releasing anyway');
    }
    const names = [...this.views.keys()];
    try {
      if (!(await settledWithin(this.o.store.release(names), bound))) {
        this.o.log.error({ leases: names, waitedMs: bound }, 'releasing the leases got no answer: another server takes them once they expire');
      }
    } catch (err) {
      this.o.log.error({ err, leases: names }, 'releasing the leases failed: another server takes them once they expire');
    }
  }

  private round(): void {
    if (!this.running) return;
    const now = this.clock();
    if (this.current && roundHung(this.current.sentAt, now, this.timings)) {
      this.o.log.warn(
        { leases: [...this.views.keys()], waitedMs: Math.round(now - this.current.sentAt) },
        'a lease round got no answer in time: given up, its answer will be ignored',
      );
      this.current = undefined;
      this.hung++;
      this.lastFailed = true;
      for (const name of this.views.keys()) void this.apply(name, afterRound(this.views.get(name)!, { kind: 'failed' }, now, now, this.timings));
    }
    if (this.current === undefined && this.hung <= this.timings.maxHungRounds) {
      const n = ++this.roundsStarted;
      const sentAt = now;
      this.current = { n, sentAt };
      const names = [...this.views.keys()];
      const p = this.o.store.acquireOrRenew(names, this.timings.ttlMs).then(
        (granted) => this.answered(n, sentAt, names, granted),
        (err: unknown) => this.answered(n, sentAt, names, err instanceof Error ? err : new Error(String(err))),
      );
      this.pending.push(p);
      void p.finally(() => {
        this.pending = this.pending.filter((x) => x !== p);
      });
    }
    this.scheduleRound(now);
  }

  private answered(n: number, sentAt: number, names: LeaseName[], result: Map<LeaseName, number> | Error): void {
    if (this.current?.n !== n) {
      // Given up on earlier (or stopped): its answer is stale; only its connection is back.
      if (this.hung > 0) this.hung--;
      return;
    }
    this.current = undefined;
    if (!this.running) return;
    const now = this.clock();
    this.lastFailed = result instanceof Error;
    if (result instanceof Error)
      this.o.log.warn({ err: result.message }, 'a lease round failed: the leases held stay held until their belief ends, and the next round comes sooner');
    for (const name of names) {
      const outcome =
        result instanceof Error ? ({ kind: 'failed' } as const) : result.has(name) ? ({ kind: 'granted', token: result.get(name)! } as const) : ({ kind: 'refused' } as const);
      void this.apply(name, afterRound(this.views.get(name)!, outcome, sentAt, now, this.timings));
    }
    this.scheduleRound(sentAt);
  }

  /** The next round, counted from when the last one started; and a timer at the earliest belief end. */
  private scheduleRound(from: number): void {
    if (!this.running) return;
    clearTimeout(this.roundTimer);
    const holding = [...this.views.values()].some((v) => v.held);
    const due = this.current ? this.current.sentAt + this.timings.roundTimeoutMs : from + nextRoundDelay(holding, this.lastFailed, this.timings);
    this.roundTimer = setTimeout(() => this.round(), Math.max(0, due - this.clock()));
    this.roundTimer.unref();
    this.scheduleExpiry();
  }

  private scheduleExpiry(): void {
    clearTimeout(this.expiryTimer);
    let earliest = Number.POSITIVE_INFINITY;
    for (const v of this.views.values()) if (v.held) earliest = Math.min(earliest, v.validUntil);
    if (earliest === Number.POSITIVE_INFINITY) return;
    this.expiryTimer = setTimeout(
      () => {
        const now = this.clock();
        for (const [name, view] of this.views) void this.apply(name, expire(view, now));
        this.scheduleExpiry();
      },
      Math.max(0, earliest - this.clock()),
    );
    this.expiryTimer.unref();
  }

  /** Records the new view and tells the listeners; answers what they returned. */
  private apply(name: LeaseName, t: Transition): Array<void | Promise<void>> {
    this.views.set(name, t.view);
    const out: Array<void | Promise<void>> = [];
    for (const c of t.changes) {
      const e: LeaseEvent = { ...c, name };
      if (c.kind === 'lost') this.o.log.warn({ lease: name, token: c.token, reason: c.reason }, `lease ${name} lost (${c.reason}): its work stops here`);
      else this.o.log.info({ lease: name, token: c.token, holder: this.holder }, `lease ${name} acquired: its work runs here`);
      for (const l of this.listeners) {
        try {
          const r = l(e);
          if (r instanceof Promise) out.push(r.catch((err: unknown) => this.o.log.error({ err, lease: name }, `a ${name} lease listener failed`)));
        } catch (err) {
          this.o.log.error({ err, lease: name }, `a ${name} lease listener failed`);
        }
      }
    }
    if (t.changes.length > 0) this.scheduleExpiry();
    return out;
  }
}
