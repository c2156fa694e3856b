/**
 * A piece of work that must run on one server at a time (a feature's
 * singleton timers: the liveness sweep, playlist distribution, alert ticks…),
 * run only while this instance holds its lease: started when the lease is
 * acquired, stopped at once when it is lost, released or cannot be renewed in
 * time. Starts and stops are serialised, so an async start never overlaps
 * the stop that follows it.
 *
 * Between a lease's loss and the work's stop() a timer may still fire: the
 * work checks `lease.owns()` before acting, and its critical writes go
 * through LeaseStore.fenced with `lease.term`, which the database refuses
 * once another server holds it.
 */
import type { Logger } from '../fleet/broker.ts';
import type { LeaseKeeper } from './lease-keeper.ts';
import type { LeaseName } from './lease-policy.ts';
import type { LeaseTerm } from './lease-store.ts';

/** What the work is given while it runs: its term, and whether it still holds it. */
export interface HeldLease {
  readonly term: LeaseTerm;
  /** True while this instance holds this very term (the same token): check before each step. */
  owns(): boolean;
}

export interface LeasedTask {
  start(lease: HeldLease): void | Promise<void>;
  stop(): void | Promise<void>;
}

export class LeasedWork {
  private unlisten: (() => void) | undefined;
  private runningToken: number | undefined;
  private chain: Promise<void> = Promise.resolve();

  constructor(
    private readonly keeper: Pick<LeaseKeeper, 'listen' | 'term' | 'owns'>,
    readonly lease: LeaseName,
    private readonly task: LeasedTask,
    private readonly log: Logger,
  ) {}

  /** Whether the work runs here now. */
  get running(): boolean {
    return this.runningToken !== undefined;
  }

  /** Follows the lease from now on; starts the work at once if the lease is already held. */
  start(): Promise<void> {
    if (this.unlisten) return this.chain;
    this.unlisten = this.keeper.listen((e) => {
      if (e.name !== this.lease) return;
      return e.kind === 'acquired' ? this.begin(e.token) : this.end(e.token);
    });
    const held = this.keeper.term(this.lease);
    return held ? this.begin(held.token) : this.chain;
  }

  /** Stops following the lease, and the work if it runs (the lease itself stays the keeper's). */
  stop(): Promise<void> {
    this.unlisten?.();
    this.unlisten = undefined;
    return this.enqueue(() => this.stopTask());
  }

  private begin(token: number): Promise<void> {
    return this.enqueue(async () => {
      if (this.runningToken === token) return;
      await this.stopTask();
      // The lease may have gone while an earlier stop was awaited.
      if (this.keeper.term(this.lease)?.token !== token) return;
      const term: LeaseTerm = { name: this.lease, token };
      const lease: HeldLease = { term, owns: () => this.keeper.term(this.lease)?.token === token };
      try {
        await this.task.start(lease);
        this.runningToken = token;
      } catch (err) {
        // The lease stays held: another server would likely fail alike, and the next acquisition tries again.
        this.log.error({ err, lease: this.lease }, `the ${this.lease} work failed to start while holding its lease`);
        await this.stopTask(true);
      }
    });
  }

  private end(token: number): Promise<void> {
    return this.enqueue(async () => {
      if (this.runningToken === token) await this.stopTask();
    });
  }

  private async stopTask(force = false): Promise<void> {
    if (this.runningToken === undefined && !force) return;
    this.runningToken = undefined;
    try {
      await this.task.stop();
    } catch (err) {
      this.log.error({ err, lease: this.lease }, `stopping the ${this.lease} work failed`);
    }
  }

  private enqueue(step: () => Promise<void>): Promise<void> {
    this.chain = this.chain.then(step, step);
    return this.chain;
  }
}
