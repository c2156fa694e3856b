/**
 * A feature of the server (fleet, coverage, registry, media, schedule, as-run,
 * live, alerts, accounts, the console): what it serves over HTTP and what it
 * runs while the server is up, behind one start()/stop() contract.
 *
 * The composition root (server.ts) builds the features, registers their
 * routes, starts them in the order given and stops them in reverse. So a
 * feature may count on every feature before it being started, and is stopped
 * before any of them: the broker is still up while live streams say
 * stream_stop, the store is still open while the fleet writes its last
 * statuses. A start that fails stops what had started, in reverse, and fails.
 */
import type { FastifyPluginAsync } from 'fastify';
import type { Logger } from './fleet/broker.ts';
import type { ServerContext } from './context.ts';

export interface Feature {
  /** For logs and errors: "fleet", "alerts", ... */
  readonly name: string;
  /**
   * Its HTTP routes: each a fastify plugin with request and response schemas,
   * encapsulated (the hooks it adds are its own). Registered in feature order.
   */
  readonly routes?: readonly FastifyPluginAsync[];
  start?(): Promise<void> | void;
  stop?(): Promise<void> | void;
}

/**
 * Starts `features` in order. If one fails, those already started are stopped
 * in reverse (each stop's own failure logged) and the first failure is thrown.
 * Resolves to the stopper of everything started, which is safe to call twice.
 */
export async function startFeatures(features: readonly Feature[], log: Logger): Promise<() => Promise<void>> {
  const started: Feature[] = [];
  const stopAll = async () => {
    while (started.length > 0) {
      const f = started.pop()!;
      try {
        await f.stop?.();
      } catch (err) {
        // One feature that cannot stop cleanly must not keep the others (the store above all) from stopping.
        log.error({ err, feature: f.name }, `stopping ${f.name} failed`);
      }
    }
  };
  for (const f of features) {
    try {
      await f.start?.();
    } catch (e) {
      await stopAll();
      throw e;
    }
    started.push(f);
  }
  let stopping: Promise<void> | undefined;
  return () => (stopping ??= stopAll());
}

/**
 * A feature's periodic jobs. Each run is guarded: a failure is logged (and
 * shown to `onFailure`, which lets a full disk give up its reserve at once),
 * never fatal and never stops the next run. Timers do not keep the process up.
 */
export class Jobs {
  private readonly timers: NodeJS.Timeout[] = [];

  /** Jobs that log to the server's log and tell the disk of a failed write (a full disk gives up its reserve at once). */
  static of(ctx: Pick<ServerContext, 'log' | 'disk'>): Jobs {
    return new Jobs(ctx.log, (err) => ctx.disk.noteWriteFailure(err));
  }

  constructor(
    private readonly log: Logger,
    private readonly onFailure: (err: unknown) => void = () => {},
  ) {}

  /** Runs `fn` every `ms` from now until stop(); a returned promise's rejection is caught like a throw. */
  every(name: string, ms: number, fn: () => unknown): void {
    const t = setInterval(() => this.run(name, fn), ms);
    t.unref();
    this.timers.push(t);
  }

  /** `fn` wrapped like a job's run: for schedulers that set their own timers. */
  guard(name: string, fn: () => unknown): () => void {
    return () => this.run(name, fn);
  }

  stop(): void {
    for (const t of this.timers.splice(0)) clearInterval(t);
  }

  private run(name: string, fn: () => unknown): void {
    const fail = (err: unknown) => {
      this.onFailure(err);
      this.log.error({ err, job: name }, `background job ${name} failed`);
    };
    try {
      const r = fn();
      if (r instanceof Promise) r.catch(fail);
    } catch (err) {
      fail(err);
    }
  }
}
