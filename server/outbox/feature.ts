/**
 * The outbox as a server feature: built from the configured destinations
 * (LOANET_OUTBOX_DESTINATIONS) on the server's store, its delivery loop
 * started and stopped with the server, its figures for /metrics.
 *
 * Other features reach it as `ctx.outbox` and call `enqueue` (outbox.ts,
 * whose API is described at its top); with no destination configured an
 * enqueue stores nothing and sends nothing.
 *
 * Placed right after the store in the start order, so it stops after every
 * feature that may still enqueue while it stops, and before the store closes.
 */
import type { Feature } from '../feature.ts';
import type { Logger } from '../fleet/broker.ts';
import type { Store } from '../store/database.ts';
import type { Destination } from './destination.ts';
import { Outbox } from './outbox.ts';
import { OutboxStore } from './store.ts';

export function openOutbox(store: Store, destinations: readonly Destination[], log: Logger): Outbox {
  // The real clock, not the server's `now` (which tests may freeze): a retry waits for a receiver in real time.
  return new Outbox({ store: new OutboxStore(store.db, store.dialect), destinations, log });
}

export function outboxFeature(outbox: Outbox, log: Logger): Feature {
  return {
    name: 'outbox',
    start() {
      // Names and kinds only: a destination's URL, secret or bot token is never logged.
      const d = outbox.destinations();
      if (d.length > 0) log.info({ destinations: d.map((x) => `${x.name} (${x.adapter})`) }, 'outbox: delivering to the configured destinations');
      outbox.start();
    },
    stop: () => outbox.stop(),
  };
}
